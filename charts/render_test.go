package charts

import (
	"path/filepath"
	"sort"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	chartrender "github.com/metalkube/metalkube/charts/render"
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
	out, err := chartrender.Render(chartrender.Input{Dir: chartDir, Values: [][]byte{[]byte(values)}, Release: releaseName, Namespace: releaseNamespace})
	if err != nil {
		return rendered{}, err
	}
	return rendered{text: out.Text, objs: out.Objects}, nil
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
