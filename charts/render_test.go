package charts

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// The release the tests render.
const (
	releaseName      = "metalkube"
	releaseNamespace = "metalkube-system"
	chartDir         = "metalkube"
)

// rendered is one rendering of the chart.
type rendered struct {
	// manifests in install order, as `helm template` would print them.
	text string
	objs []*unstructured.Unstructured
}

// render renders the umbrella chart with values (YAML) the way `helm install`
// does: dependency conditions, then the templates, then install order.
func render(t *testing.T, values string) rendered {
	t.Helper()
	r, err := renderValues(t, values)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// renderValues is render that returns what `helm install` would refuse the
// values with: the values schema's verdict or a template's required/fail.
func renderValues(t *testing.T, values string) (rendered, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	vals, err := chartutil.ReadValues([]byte(values))
	if err != nil {
		t.Fatalf("values: %v", err)
	}
	if err := chartutil.ProcessDependenciesWithMerge(ch, vals); err != nil {
		t.Fatalf("dependencies: %v", err)
	}
	caps := chartutil.DefaultCapabilities.Copy()
	rv, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{
		Name: releaseName, Namespace: releaseNamespace, Revision: 1, IsInstall: true,
	}, caps)
	if err != nil {
		return rendered{}, fmt.Errorf("render values: %w", err)
	}
	files, err := engine.Engine{Strict: true}.Render(ch, rv)
	if err != nil {
		return rendered{}, fmt.Errorf("render: %w", err)
	}
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name)
		}
	}
	_, manifests, err := releaseutil.SortManifests(files, caps.APIVersions, releaseutil.InstallOrder)
	if err != nil {
		t.Fatalf("sort manifests: %v", err)
	}
	var out rendered
	var buf bytes.Buffer
	for _, m := range manifests {
		fmt.Fprintf(&buf, "---\n# Source: %s\n%s\n", m.Name, strings.TrimSpace(m.Content))
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(m.Content), &u.Object); err != nil {
			t.Fatalf("%s: %v\n%s", m.Name, err, m.Content)
		}
		if len(u.Object) == 0 {
			continue
		}
		out.objs = append(out.objs, u)
	}
	out.text = buf.String()
	return out, nil
}

// chartCRDs are the CRD files every subchart ships (its crds/ directory).
func chartCRDs(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "charts", "*", "crds", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

func key(u *unstructured.Unstructured) string {
	if u.GetNamespace() == "" {
		return u.GetKind() + " " + u.GetName()
	}
	return u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
}
