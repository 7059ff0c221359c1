package render

import (
	"bytes"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Input says what to render.
type Input struct {
	// Dir is the chart's directory; empty: ChartDir().
	Dir string
	// Values are YAML documents merged in order, later ones winning, as
	// `helm install -f a.yaml -f b.yaml` merges them.
	Values [][]byte
	// Release and Namespace are the release's name and namespace.
	Release, Namespace string
}

// Output is one rendering.
type Output struct {
	// Text is every manifest in install order, as `helm template` prints them.
	Text string
	// Objects are the manifests' objects in install order.
	Objects []*unstructured.Unstructured
}

// ChartDir is the umbrella chart's directory in this source tree.
func ChartDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "metalkube")
}

// PresetFile is a preset's values file (presets/<name>.yaml).
func PresetFile(name string) string {
	return filepath.Join(ChartDir(), "presets", name+".yaml")
}

// Render renders the chart. An error is what `helm install` would refuse:
// the values schema's verdict or a template's required/fail.
func Render(in Input) (*Output, error) {
	dir := in.Dir
	if dir == "" {
		dir = ChartDir()
	}
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	vals := chartutil.Values{}
	for i, v := range in.Values {
		m, err := chartutil.ReadValues(v)
		if err != nil {
			return nil, fmt.Errorf("values document %d: %w", i, err)
		}
		vals = chartutil.MergeTables(m, vals)
	}
	if err := chartutil.ProcessDependenciesWithMerge(ch, vals); err != nil {
		return nil, fmt.Errorf("dependencies: %w", err)
	}
	caps := chartutil.DefaultCapabilities.Copy()
	rv, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{
		Name: in.Release, Namespace: in.Namespace, Revision: 1, IsInstall: true,
	}, caps)
	if err != nil {
		return nil, fmt.Errorf("render values: %w", err)
	}
	files, err := engine.Engine{Strict: true}.Render(ch, rv)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name)
		}
	}
	_, manifests, err := releaseutil.SortManifests(files, caps.APIVersions, releaseutil.InstallOrder)
	if err != nil {
		return nil, fmt.Errorf("sort manifests: %w", err)
	}
	out := &Output{}
	var buf bytes.Buffer
	for _, m := range manifests {
		fmt.Fprintf(&buf, "---\n# Source: %s\n%s\n", m.Name, strings.TrimSpace(m.Content))
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(m.Content), &u.Object); err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		out.Objects = append(out.Objects, u)
	}
	out.Text = buf.String()
	return out, nil
}
