package admission

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

var fuzzBases = []string{"shoot", "cloudprofile", "secret"}

// FuzzValidate feeds Shoots, CloudProfiles and Secrets, seeded with the
// bases and every broken document of testdata/invalid, through admission:
// no panic, and every refusal names a field.
func FuzzValidate(f *testing.F) {
	for i, b := range fuzzBases {
		raw, err := os.ReadFile(filepath.Join("testdata", "base-"+b+".yaml"))
		if err != nil {
			f.Fatal(err)
		}
		j, err := yaml.YAMLToJSON(raw)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), j)
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var c corpusCase
		if err := yaml.Unmarshal(raw, &c); err != nil {
			f.Fatal(err)
		}
		base, err := os.ReadFile(filepath.Join("testdata", "base-"+c.Base+".yaml"))
		if err != nil {
			f.Fatal(err)
		}
		bj, _ := yaml.YAMLToJSON(base)
		doc, err := jsonpatch.MergePatch(bj, c.Patch)
		if err != nil {
			f.Fatal(err)
		}
		for i, b := range fuzzBases {
			if b == c.Base {
				f.Add(uint8(i), doc)
			}
		}
	}
	v := NewValidator()
	f.Fuzz(func(t *testing.T, kind uint8, doc []byte) {
		var errs field.ErrorList
		switch fuzzBases[int(kind)%len(fuzzBases)] {
		case "shoot":
			s := &gardencorev1beta1.Shoot{}
			if json.Unmarshal(doc, s) != nil {
				return
			}
			errs = v.Shoot(s, nil)
		case "cloudprofile":
			cp := &gardencorev1beta1.CloudProfile{}
			if json.Unmarshal(doc, cp) != nil {
				return
			}
			errs = v.CloudProfile(cp)
		default:
			s := &corev1.Secret{}
			if json.Unmarshal(doc, s) != nil {
				return
			}
			errs = v.Secret(s)
		}
		for _, e := range errs {
			if e.Field == "" {
				t.Fatalf("refusal without a field: %v", e)
			}
		}
	})
}
