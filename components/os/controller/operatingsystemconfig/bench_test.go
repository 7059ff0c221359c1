package operatingsystemconfig_test

import (
	"context"
	"testing"

	gardenerosc "github.com/gardener/gardener/extensions/pkg/controller/operatingsystemconfig"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/components/os/apis/os/v1alpha1"
	"github.com/metalkube/metalkube/components/os/controller/operatingsystemconfig"
	"github.com/metalkube/metalkube/components/os/internal/testosc"
)

// BenchmarkTranslate measures translations per second of a large provision
// OSC (50 units with two drop-ins each, 200 files of ~3 KiB: plain, base64
// and from a Secret) into each format, Secrets served from memory. The reference is what Gardener's
// extensions library offers OS extensions for the same job (os-ubuntu and
// os-gardenlinux build their user data with it): a bash script writing the
// files and units, rendered in the same run from the same OSC and Secret.
func BenchmarkTranslate(b *testing.B) {
	osc, secret := testosc.Large(50, 200)
	osc.Spec.ProviderConfig = nil
	ctx := context.Background()
	for _, format := range v1alpha1.Formats() {
		b.Run(string(format), func(b *testing.B) {
			tr := &operatingsystemconfig.Translator{Secrets: secretReader{secret}, DefaultFormat: format}
			b.ReportAllocs()
			var size int
			for b.Loop() {
				res, err := tr.Translate(ctx, osc)
				if err != nil {
					b.Fatal(err)
				}
				size = len(res.UserData)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "translations/s")
			b.ReportMetric(float64(size), "userdata-bytes")
		})
	}
	b.Run("reference-gardener-bash-script", func(b *testing.B) {
		reader := secretReader{secret}
		b.ReportAllocs()
		var size int
		for b.Loop() {
			files, err := gardenerosc.FilesToDiskScript(ctx, reader, osc.Namespace, osc.Spec.Files)
			if err != nil {
				b.Fatal(err)
			}
			script := gardenerosc.WrapProvisionOSCIntoOneshotScript(files + gardenerosc.UnitsToDiskScript(osc.Spec.Units))
			size = len(script)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "translations/s")
		b.ReportMetric(float64(size), "userdata-bytes")
	})
}

// secretReader serves Secrets from memory, so that the benchmark measures
// translation rather than a fake client's serialization round trips.
type secretReader []*corev1.Secret

func (r secretReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	for _, s := range r {
		if s.Namespace == key.Namespace && s.Name == key.Name {
			s.DeepCopyInto(obj.(*corev1.Secret))
			return nil
		}
	}
	return apierrors.NewNotFound(corev1.Resource("secrets"), key.Name)
}

func (r secretReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return nil
}
