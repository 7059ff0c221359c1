package admission

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// corpusCase is one file of testdata/invalid: a base object, a JSON merge
// patch that breaks it, and the error admission must answer with.
type corpusCase struct {
	Base  string          `json:"base"`
	Patch json.RawMessage `json:"patch"`
	Want  struct {
		Field  string          `json:"field"`
		Value  string          `json:"value"`
		Type   field.ErrorType `json:"type"`
		Detail string          `json:"detail"`
	} `json:"want"`
}

func loadBase(t *testing.T, name string) []byte {
	t.Helper()
	y, err := os.ReadFile(filepath.Join("testdata", "base-"+name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// validate decodes doc as the base's kind and runs the matching validator.
func validate(t *testing.T, v *Validator, base string, doc []byte) field.ErrorList {
	t.Helper()
	switch base {
	case "shoot":
		s := &gardencorev1beta1.Shoot{}
		if err := json.Unmarshal(doc, s); err != nil {
			t.Fatal(err)
		}
		return v.Shoot(s, nil)
	case "cloudprofile":
		cp := &gardencorev1beta1.CloudProfile{}
		if err := json.Unmarshal(doc, cp); err != nil {
			t.Fatal(err)
		}
		return v.CloudProfile(cp)
	case "secret":
		s := &corev1.Secret{}
		if err := json.Unmarshal(doc, s); err != nil {
			t.Fatal(err)
		}
		return v.Secret(s)
	}
	t.Fatalf("unknown base %q", base)
	return nil
}

func TestBasesAreValid(t *testing.T) {
	v := NewValidator()
	for _, base := range []string{"shoot", "cloudprofile", "secret"} {
		t.Run(base, func(t *testing.T) {
			if errs := validate(t, v, base, loadBase(t, base)); len(errs) > 0 {
				t.Fatalf("base %s rejected: %v", base, errs.ToAggregate())
			}
		})
	}
}

// TestInvalidCorpus feeds every broken document of testdata/invalid through
// admission and checks that it is rejected with the field path and value.
func TestInvalidCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	v := NewValidator()
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			y, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var c corpusCase
			if err := yaml.UnmarshalStrict(y, &c); err != nil {
				t.Fatalf("corpus file: %v", err)
			}
			doc, err := jsonpatch.MergePatch(loadBase(t, c.Base), c.Patch)
			if err != nil {
				t.Fatal(err)
			}
			errs := validate(t, v, c.Base, doc)
			if len(errs) == 0 {
				t.Fatalf("accepted; want rejection at %s", c.Want.Field)
			}
			msg := errs.ToAggregate().Error()
			if !strings.Contains(msg, c.Want.Field) {
				t.Errorf("message %q does not name field %s", msg, c.Want.Field)
			}
			for _, e := range errs {
				if e.Field != c.Want.Field {
					continue
				}
				if c.Want.Type != "" && e.Type != c.Want.Type {
					continue
				}
				if c.Want.Value != "" && fmt.Sprint(e.BadValue) != c.Want.Value {
					continue
				}
				if c.Want.Detail != "" && !strings.Contains(e.Detail, c.Want.Detail) {
					continue
				}
				if c.Want.Value != "" && !strings.Contains(msg, c.Want.Value) {
					t.Errorf("message %q does not show value %q", msg, c.Want.Value)
				}
				return
			}
			t.Errorf("no error at %s (type %q, value %q, detail %q); got:\n%v", c.Want.Field, c.Want.Type, c.Want.Value, c.Want.Detail, msg)
		})
	}
}

func TestDefaultShoot(t *testing.T) {
	s := &gardencorev1beta1.Shoot{}
	if err := json.Unmarshal(loadBase(t, "shoot"), s); err != nil {
		t.Fatal(err)
	}
	s.Spec.Provider.ControlPlaneConfig = nil
	v := NewValidator()
	if err := DefaultShoot(v.Codec, s); err != nil {
		t.Fatal(err)
	}
	cp, err := v.Codec.ControlPlaneConfig(s.Spec.Provider.ControlPlaneConfig)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(s.Spec.Provider.ControlPlaneConfig.Raw); !strings.Contains(got, `"mode":"metallb"`) || cp.LoadBalancer.Mode != "metallb" {
		t.Errorf("defaulted controlPlaneConfig = %s", got)
	}
}

// TestFirewallOnMetalStack: a metal-stack shoot (one with a project) may
// enable a firewall with every setting the extension acts on.
func TestFirewallOnMetalStack(t *testing.T) {
	patch := `{"spec":{"provider":{"infrastructureConfig":{"project":"p1","firewall":{"enabled":true,"size":"c1-small",
"image":"firewall-ubuntu-3.0","networks":["internet"],"rateLimits":[{"network":"internet","rateMbit":100}],
"egressRules":[{"network":"internet","ips":["203.0.113.9"]}]}}}}}`
	doc, err := jsonpatch.MergePatch(loadBase(t, "shoot"), []byte(patch))
	if err != nil {
		t.Fatal(err)
	}
	if errs := validate(t, NewValidator(), "shoot", doc); len(errs) > 0 {
		t.Fatalf("refused: %v", errs.ToAggregate())
	}
}
