package gardenlet

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	gardencorev1 "github.com/gardener/gardener/pkg/apis/core/v1"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// RegistrationFile is the registration's path in the repository.
const RegistrationFile = "charts/gardener/controller-registration.yaml"

// Registration is what RegistrationFile holds.
type Registration struct {
	Registration *gardencorev1beta1.ControllerRegistration
	Deployment   *gardencorev1.ControllerDeployment
}

// Load decodes RegistrationFile under the repository root root: exactly one
// ControllerRegistration and one ControllerDeployment, strictly (an unknown
// field is an error).
func Load(root string) (*Registration, error) {
	b, err := os.ReadFile(filepath.Join(root, RegistrationFile))
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	if err := errors.Join(gardencorev1beta1.AddToScheme(scheme), gardencorev1.AddToScheme(scheme)); err != nil {
		return nil, err
	}
	dec := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	r := &Registration{}
	docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", RegistrationFile, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := dec.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", RegistrationFile, err)
		}
		switch o := obj.(type) {
		case *gardencorev1beta1.ControllerRegistration:
			if r.Registration != nil {
				return nil, fmt.Errorf("%s: a second ControllerRegistration %s", RegistrationFile, o.Name)
			}
			r.Registration = o
		case *gardencorev1.ControllerDeployment:
			if r.Deployment != nil {
				return nil, fmt.Errorf("%s: a second ControllerDeployment %s", RegistrationFile, o.Name)
			}
			r.Deployment = o
		default:
			return nil, fmt.Errorf("%s: unexpected %T", RegistrationFile, obj)
		}
	}
	if r.Registration == nil || r.Deployment == nil || r.Deployment.Helm == nil {
		return nil, fmt.Errorf("%s: want a ControllerRegistration and a helm ControllerDeployment", RegistrationFile)
	}
	return r, nil
}
