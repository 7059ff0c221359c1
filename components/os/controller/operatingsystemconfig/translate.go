package operatingsystemconfig

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	v1beta1helper "github.com/gardener/gardener/pkg/api/core/v1beta1/helper"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/metalkube/metalkube/components/os/apis/os/v1alpha1"
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
	// MaxUserDataBytes is the most user data written; 0 means MaxSecretSize.
	MaxUserDataBytes int
}

// MaxSecretSize is the most data a Secret holds (the API server's limit), and
// so the most user data the extensions library can store in
// osc-result-<name>.
const MaxSecretSize = 1 << 20

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
		return nil, terminal(configurationProblem(fmt.Errorf("invalid OperatingSystemConfig: %w", err)))
	}
	if ipu := osc.Spec.InPlaceUpdates; ipu != nil {
		// gardener-node-agent updates the OS in place only with the command
		// an OS extension puts in status.inPlaceUpdates.osUpdate; bare-metal
		// machines get a new OS by being provisioned again.
		return nil, terminal(configurationProblem(fmt.Errorf("spec.inPlaceUpdates (operatingSystemVersion %q): metalkube has no in-place OS update command for type %q; use a worker pool whose update strategy is AutoRollingUpdate",
			ipu.OperatingSystemVersion, osc.Spec.Type)))
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
	if err := t.checkSize(plan, userData); err != nil {
		return nil, err
	}
	return &Result{Format: format, UserData: userData}, nil
}

// checkSize refuses user data over the limit before the library writes it: the
// API server would refuse the Secret with a bare "Too long", and retrying
// cannot help. The error names the largest files, the limit and the size.
func (t *Translator) checkSize(plan *render.Plan, userData []byte) error {
	limit := t.MaxUserDataBytes
	if limit <= 0 {
		limit = MaxSecretSize
	}
	if len(userData) <= limit {
		return nil
	}
	type sized struct {
		name string
		size int
	}
	var all []sized
	for _, f := range plan.Files {
		all = append(all, sized{"file " + strconv.Quote(f.Path), len(f.Data)})
	}
	for _, u := range plan.Units {
		n := 0
		if u.Content != nil {
			n = len(*u.Content)
		}
		for _, d := range u.DropIns {
			n += len(d.Content)
		}
		all = append(all, sized{"unit " + strconv.Quote(u.Name), n})
	}
	slices.SortStableFunc(all, func(a, b sized) int { return b.size - a.size })
	var largest []string
	for _, s := range all[:min(3, len(all))] {
		largest = append(largest, fmt.Sprintf("%s (%d bytes)", s.name, s.size))
	}
	return terminal(configurationProblem(fmt.Errorf("user data is %d bytes, over the limit of %d bytes; the largest contents are %s",
		len(userData), limit, strings.Join(largest, ", "))))
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

// resolve reads a file's content. Content sent unencoded
// (transmitUnencoded) stays readable in the user data, for the placeholders
// the machine-controller-manager replaces; the renderer encodes the rest as
// makes the user data smallest. Files without permissions get
// gardener-node-agent's default, 0600.
func (t *Translator) resolve(ctx context.Context, namespace string, f *extensionsv1alpha1.File,
	secrets map[string]*corev1.Secret, format v1alpha1.Format) (render.File, error) {
	rf := render.File{Path: f.Path, Mode: ptr.Deref(f.Permissions, render.DefaultMode), Plain: ptr.Deref(f.Content.TransmitUnencoded, false)}
	if format == v1alpha1.FormatIgnition && rf.Mode&0o7000 != 0 {
		return rf, configurationProblem(fmt.Errorf("file %q: permissions %04o have setuid, setgid or sticky bits, which Ignition spec %s cannot set", f.Path, rf.Mode, render.IgnitionVersion))
	}
	c := f.Content
	switch {
	case c.Inline != nil:
		switch extensionsv1alpha1.FileCodecID(c.Inline.Encoding) {
		case extensionsv1alpha1.PlainFileCodecID:
			rf.Data = []byte(c.Inline.Data)
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

// terminal marks an error that only a change of the OSC can fix: the
// controller does not retry it (the library still reports it in
// status.lastError), and the OSC's next change reconciles it again.
func terminal(err error) error { return notRetried{err} }

// notRetried is controller-runtime's terminal error without the "terminal
// error: " its message would start with in status.lastError.
type notRetried struct{ error }

func (e notRetried) Unwrap() error { return e.error }

// Is makes errors.Is(err, reconcile.TerminalError(nil)) hold, which is how
// controller-runtime decides not to requeue.
func (e notRetried) Is(target error) bool { return errors.Is(reconcile.TerminalError(nil), target) }
