package operatingsystemconfig

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"

	v1beta1helper "github.com/gardener/gardener/pkg/api/core/v1beta1/helper"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/components/os/apis/v1alpha1"
	"github.com/metalkube/metalkube/components/os/render"
)

// Result is what an OperatingSystemConfig translates to.
type Result struct {
	// Format of UserData.
	Format v1alpha1.Format
	// UserData is set for the provision purpose: the OSC's files and units
	// plus metalkube's extras, rendered in Format.
	UserData []byte
	// ExtensionUnits and ExtensionFiles are set for the reconcile purpose:
	// what metalkube adds to the OSC, for gardener-node-agent to apply.
	ExtensionUnits []extensionsv1alpha1.Unit
	ExtensionFiles []extensionsv1alpha1.File
}

// Translator translates OperatingSystemConfigs; it is the actuator's pure
// part, reading only the Secrets that files refer to.
type Translator struct {
	// Secrets reads the Secrets referenced by files (in the OSC's namespace).
	Secrets client.Reader
	// Formats maps an OSC type (spec.type) to its output format.
	Formats map[string]v1alpha1.Format
	// DefaultFormat is used for types missing from Formats.
	DefaultFormat v1alpha1.Format
}

// Translate validates the OSC and translates it. Errors name the file or unit
// they are about; on error nothing is returned.
func (t *Translator) Translate(ctx context.Context, osc *extensionsv1alpha1.OperatingSystemConfig) (*Result, error) {
	var raw []byte
	if osc.Spec.ProviderConfig != nil {
		raw = osc.Spec.ProviderConfig.Raw
	}
	pc, err := v1alpha1.Decode(raw)
	if err != nil {
		return nil, configurationProblem(err)
	}
	format := pc.Format
	if format == "" {
		format = t.Formats[osc.Spec.Type]
	}
	if format == "" {
		format = t.DefaultFormat
	}
	if err := validateSpec(&osc.Spec); err != nil {
		return nil, configurationProblem(fmt.Errorf("invalid OperatingSystemConfig: %w", err))
	}
	units, files, err := extras(osc, pc)
	if err != nil {
		return nil, configurationProblem(err)
	}

	switch osc.Spec.Purpose {
	case extensionsv1alpha1.OperatingSystemConfigPurposeReconcile:
		// The OSC's own files win over extras of the same path.
		files = slices.DeleteFunc(files, func(f extensionsv1alpha1.File) bool {
			return slices.ContainsFunc(osc.Spec.Files, func(o extensionsv1alpha1.File) bool { return o.Path == f.Path && o.HostName == nil })
		})
		return &Result{Format: format, ExtensionUnits: units, ExtensionFiles: files}, nil
	case extensionsv1alpha1.OperatingSystemConfigPurposeProvision:
	default:
		return nil, configurationProblem(fmt.Errorf("unknown purpose %q (want %q or %q)", osc.Spec.Purpose,
			extensionsv1alpha1.OperatingSystemConfigPurposeProvision, extensionsv1alpha1.OperatingSystemConfigPurposeReconcile))
	}

	plan, err := t.plan(ctx, osc, units, files, format)
	if err != nil {
		return nil, err
	}
	var userData []byte
	switch format {
	case v1alpha1.FormatIgnition:
		userData, err = render.Ignition(plan)
	case v1alpha1.FormatCloudInit:
		userData, err = render.CloudInit(plan)
	default:
		err = configurationProblem(fmt.Errorf("unknown format %q for OperatingSystemConfig type %q", format, osc.Spec.Type))
	}
	if err != nil {
		return nil, err
	}
	return &Result{Format: format, UserData: userData}, nil
}

// plan resolves the provision OSC's files and units, with the extras, into a
// render plan. Extra units come first, so that cloud-init restarts containerd
// before it starts units ordered after it; the OSC's own files and units win
// over extras of the same path or name.
func (t *Translator) plan(ctx context.Context, osc *extensionsv1alpha1.OperatingSystemConfig,
	extraUnits []extensionsv1alpha1.Unit, extraFiles []extensionsv1alpha1.File, format v1alpha1.Format) (*render.Plan, error) {
	plan := &render.Plan{
		Files: make([]render.File, 0, len(osc.Spec.Files)+len(extraFiles)),
		Units: make([]render.Unit, 0, len(osc.Spec.Units)+len(extraUnits)),
	}
	var errs []error
	secrets := map[string]*corev1.Secret{}
	ownFiles := make(map[string]bool, len(osc.Spec.Files))
	for _, f := range osc.Spec.Files {
		if f.HostName == nil {
			ownFiles[f.Path] = true
		}
	}
	for _, f := range extraFiles {
		if ownFiles[f.Path] {
			continue
		}
		rf, err := t.resolve(ctx, osc.Namespace, &f, secrets, format)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		plan.Files = append(plan.Files, rf)
	}
	for _, f := range osc.Spec.Files {
		if f.HostName != nil {
			// Host-specific files are for gardener-node-agent, which knows
			// the host; the user data is shared by every machine of a pool.
			continue
		}
		rf, err := t.resolve(ctx, osc.Namespace, &f, secrets, format)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		plan.Files = append(plan.Files, rf)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	own := make(map[string]*extensionsv1alpha1.Unit, len(osc.Spec.Units))
	for i := range osc.Spec.Units {
		own[osc.Spec.Units[i].Name] = &osc.Spec.Units[i]
	}
	merged := map[string]bool{}
	for _, u := range extraUnits {
		if o, ok := own[u.Name]; ok {
			plan.Units = append(plan.Units, renderUnit(mergeUnit(o, &u)))
			merged[u.Name] = true
			continue
		}
		plan.Units = append(plan.Units, renderUnit(&u))
	}
	for i := range osc.Spec.Units {
		if !merged[osc.Spec.Units[i].Name] {
			plan.Units = append(plan.Units, renderUnit(&osc.Spec.Units[i]))
		}
	}
	return plan, nil
}

// mergeUnit returns the OSC's unit with an extra unit's command (when it has
// none) and drop-ins (those it does not define itself).
func mergeUnit(own, extra *extensionsv1alpha1.Unit) *extensionsv1alpha1.Unit {
	u := own.DeepCopy()
	if u.Command == nil {
		u.Command = extra.Command
	}
	for _, d := range extra.DropIns {
		if !slices.ContainsFunc(u.DropIns, func(o extensionsv1alpha1.DropIn) bool { return o.Name == d.Name }) {
			u.DropIns = append(u.DropIns, d)
		}
	}
	return u
}

func renderUnit(u *extensionsv1alpha1.Unit) render.Unit {
	ru := render.Unit{
		Name:    u.Name,
		Content: u.Content,
		Enable:  ptr.Deref(u.Enable, true),
		Command: render.Command(ptr.Deref(u.Command, "")),
	}
	for _, d := range u.DropIns {
		ru.DropIns = append(ru.DropIns, render.DropIn{Name: d.Name, Content: d.Content})
	}
	return ru
}

// resolve reads a file's content. Plain inline content and content sent
// unencoded stay readable in the user data; base64 and Secret content stay
// encoded.
func (t *Translator) resolve(ctx context.Context, namespace string, f *extensionsv1alpha1.File,
	secrets map[string]*corev1.Secret, format v1alpha1.Format) (render.File, error) {
	rf := render.File{Path: f.Path, Mode: ptr.Deref(f.Permissions, 0o644), Plain: ptr.Deref(f.Content.TransmitUnencoded, false)}
	if format == v1alpha1.FormatIgnition && rf.Mode&0o7000 != 0 {
		return rf, configurationProblem(fmt.Errorf("file %q: permissions %04o have setuid, setgid or sticky bits, which Ignition spec %s cannot set", f.Path, rf.Mode, render.IgnitionVersion))
	}
	c := f.Content
	switch {
	case c.Inline != nil:
		switch extensionsv1alpha1.FileCodecID(c.Inline.Encoding) {
		case extensionsv1alpha1.PlainFileCodecID:
			rf.Data, rf.Plain = []byte(c.Inline.Data), true
		case extensionsv1alpha1.B64FileCodecID:
			data, err := base64.StdEncoding.DecodeString(c.Inline.Data)
			if err != nil {
				return rf, fmt.Errorf("file %q: inline content is not valid base64: %w", f.Path, err)
			}
			rf.Data = data
		default:
			return rf, fmt.Errorf("file %q: unknown encoding %q", f.Path, c.Inline.Encoding)
		}
	case c.SecretRef != nil:
		s, ok := secrets[c.SecretRef.Name]
		if !ok {
			s = &corev1.Secret{}
			if err := t.Secrets.Get(ctx, client.ObjectKey{Namespace: namespace, Name: c.SecretRef.Name}, s); err != nil {
				if apierrors.IsNotFound(err) {
					return rf, fmt.Errorf("file %q: secret %s/%s not found", f.Path, namespace, c.SecretRef.Name)
				}
				return rf, fmt.Errorf("file %q: read secret %s/%s: %w", f.Path, namespace, c.SecretRef.Name, err)
			}
			secrets[c.SecretRef.Name] = s
		}
		data, ok := s.Data[c.SecretRef.DataKey]
		if !ok {
			return rf, configurationProblem(fmt.Errorf("file %q: secret %s/%s has no key %q", f.Path, namespace, c.SecretRef.Name, c.SecretRef.DataKey))
		}
		rf.Data = data
	case c.ImageRef != nil:
		return rf, configurationProblem(fmt.Errorf("file %q: content from image %q can only be written by gardener-node-agent (reconcile purpose), not in user data", f.Path, c.ImageRef.Image))
	default:
		return rf, fmt.Errorf("file %q: no content", f.Path)
	}
	return rf, nil
}

// configurationProblem marks an error the OSC's author must fix, so that
// Gardener reports it with the code ERR_CONFIGURATION_PROBLEM. A missing
// Secret is not marked: it may yet be created.
func configurationProblem(err error) error {
	return v1beta1helper.NewErrorWithCodes(err, gardencorev1beta1.ErrorConfigurationProblem)
}
