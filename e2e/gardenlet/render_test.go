package gardenlet

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	"github.com/gardener/gardener/pkg/chartrenderer"
	"github.com/gardener/gardener/pkg/features"
	"github.com/gardener/gardener/pkg/utils"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/version"
	"sigs.k8s.io/yaml"

	"github.com/metalkube/metalkube/e2e/framework"
)

// TestRegistrationMatchesChart: the ControllerDeployment installs the
// chart's version with the seed preset's values (the extension generating
// its webhook certificates), and the registration
// points at it and claims the extension's kinds.
func TestRegistrationMatchesChart(t *testing.T) {
	root, reg := load(t)
	var preset map[string]any
	readYAML(t, filepath.Join(root, "charts/metalkube/presets/seed.yaml"), &preset)
	var values map[string]any
	if err := json.Unmarshal(reg.Deployment.Helm.Values.Raw, &values); err != nil {
		t.Fatal(err)
	}
	// The seed preset, and certificates the extension makes itself.
	want := utils.MergeMaps(preset, map[string]any{"extension": map[string]any{"webhook": map[string]any{"generated": true}}})
	if !reflect.DeepEqual(values, want) {
		t.Errorf("ControllerDeployment values:\n%v\nwant presets/seed.yaml with extension.webhook.generated:\n%v", values, want)
	}
	var chart struct{ Version string }
	readYAML(t, filepath.Join(root, "charts/metalkube/Chart.yaml"), &chart)
	oci := reg.Deployment.Helm.OCIRepository
	if oci == nil || oci.Ref == nil || !strings.HasSuffix(*oci.Ref, ":"+chart.Version) {
		t.Errorf("ControllerDeployment helm.ociRepository %+v: want the ref of chart version %s", oci, chart.Version)
	}
	d := reg.Registration.Spec.Deployment
	if d == nil || len(d.DeploymentRefs) != 1 || d.DeploymentRefs[0].Name != reg.Deployment.Name {
		t.Errorf("ControllerRegistration deployment %+v: want a reference to %s", d, reg.Deployment.Name)
	}
	for _, kind := range []string{"Infrastructure", "ControlPlane", "Worker", "Bastion"} {
		if !slices.ContainsFunc(reg.Registration.Spec.Resources, func(r gardencorev1beta1.ControllerResource) bool {
			return r.Kind == kind && r.Type == "metalkube"
		}) {
			t.Errorf("ControllerRegistration: no resource %s of type metalkube", kind)
		}
	}
}

// TestGardenletRendersChart renders the chart as gardenlet does when it
// installs the registration into a seed: Gardener's chart renderer (which
// checks values.schema.json), the ControllerDeployment's values and the
// `gardener:` values gardenlet adds. A typo in the values is still refused.
func TestGardenletRendersChart(t *testing.T) {
	root, reg := load(t)
	archive := chartArchive(t, filepath.Join(root, "charts/metalkube"))
	var values map[string]any
	if err := json.Unmarshal(reg.Deployment.Helm.Values.Raw, &values); err != nil {
		t.Fatal(err)
	}
	renderer := chartrenderer.NewWithServerVersion(&version.Info{GitVersion: "v1.36.4", Major: "1", Minor: "36"})
	const namespace = "extension-provider-metalkube-x7k2p"

	rendered, err := renderer.RenderArchive(archive, reg.Registration.Name, namespace, utils.MergeMaps(values, gardenletValues(t)))
	if err != nil {
		t.Fatalf("gardenlet could not render the chart: %v", err)
	}
	var extension *appsv1.Deployment
	for _, m := range rendered.Manifests {
		if m.Head == nil || m.Head.Kind != "Deployment" {
			continue
		}
		var d appsv1.Deployment
		if err := yaml.Unmarshal([]byte(m.Content), &d); err != nil {
			t.Fatal(err)
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if len(c.Args) > 0 && c.Args[0] == "extension" {
				extension = &d
			}
		}
	}
	if extension == nil {
		t.Fatalf("no Deployment running `metalkube extension` among %d manifests", len(rendered.Manifests))
	}
	if extension.Namespace != namespace {
		t.Errorf("extension Deployment in namespace %q, want gardenlet's %q", extension.Namespace, namespace)
	}

	typo := utils.MergeMaps(utils.MergeMaps(values, gardenletValues(t)), map[string]any{"extension": map[string]any{"replicaz": 2}})
	if _, err := renderer.RenderArchive(archive, reg.Registration.Name, namespace, typo); err == nil || !strings.Contains(err.Error(), "replicaz") {
		t.Errorf("extension.replicaz rendered or refused without naming it: %v", err)
	}
}

// gardenletValues are the values gardenlet's ControllerInstallation
// reconciler adds for an extension installed into a seed.
func gardenletValues(t *testing.T) map[string]any {
	t.Helper()
	gates := map[string]bool{}
	for f := range features.DefaultFeatureGate.GetAll() {
		gates[string(f)] = features.DefaultFeatureGate.Enabled(f)
	}
	seed := gardencorev1beta1.SeedSpec{
		Provider: gardencorev1beta1.SeedProvider{Type: "metalkube", Region: "fra", Zones: []string{"fra-1"}},
		Networks: gardencorev1beta1.SeedNetworks{Nodes: ptrTo("10.0.0.0/16"), Pods: "100.64.0.0/12", Services: "100.80.0.0/13"},
	}
	// Round-trip through JSON, as gardenlet's values reach the renderer.
	b, err := json.Marshal(map[string]any{"gardener": map[string]any{
		"version":   "v1.150.0",
		"garden":    map[string]any{"clusterIdentity": "landscape-garden"},
		"gardenlet": map[string]any{"featureGates": gates},
		"seed": map[string]any{
			"name": "fra-1", "clusterIdentity": "seed-fra-1", "provider": seed.Provider.Type, "region": seed.Provider.Region,
			"labels": map[string]string{"seed.gardener.cloud/provider": "metalkube"}, "annotations": map[string]string{},
			"volumeProvider": "", "volumeProviders": nil, "protected": false, "visible": true, "taints": nil,
			"networks": seed.Networks, "blockCIDRs": nil, "spec": seed,
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func ptrTo[T any](v T) *T { return &v }

func load(t *testing.T) (string, *Registration) {
	t.Helper()
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	return root, reg
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// chartArchive packs the chart directory as `helm package` does: a gzipped
// tar with the chart's files under its name.
func chartArchive(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: filepath.Join(filepath.Base(dir), rel), Mode: 0o644, Size: int64(len(b))}); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = gz.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
