package codec

import (
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"github.com/metalkube/metalkube/components/extension/apis/metal/v1alpha1"
)

// Codec decodes and encodes provider documents. Safe for concurrent use.
type Codec struct {
	decoder runtime.Decoder
}

// New returns a Codec.
func New() *Codec {
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err) // static registration; cannot fail
	}
	return &Codec{decoder: serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()}
}

func decode[T runtime.Object](c *Codec, raw *runtime.RawExtension, kind string, empty T, defaults func(T)) (T, error) {
	var zero T
	if raw == nil || len(raw.Raw) == 0 {
		if raw != nil && raw.Object != nil {
			if obj, ok := raw.Object.(T); ok {
				out := obj.DeepCopyObject().(T)
				defaults(out)
				return out, nil
			}
			return zero, fmt.Errorf("want %s, got %T", kind, raw.Object)
		}
		defaults(empty)
		return empty, nil
	}
	obj, gvk, err := c.decoder.Decode(raw.Raw, nil, nil)
	if err != nil {
		return zero, fmt.Errorf("decode %s: %w", kind, err)
	}
	out, ok := obj.(T)
	if !ok {
		return zero, fmt.Errorf("decode %s: got kind %s, want %s/%s", kind, gvk.Kind, v1alpha1.SchemeGroupVersion, kind)
	}
	defaults(out)
	return out, nil
}

// CloudProfileConfig decodes a CloudProfile's providerConfig.
func (c *Codec) CloudProfileConfig(raw *runtime.RawExtension) (*v1alpha1.CloudProfileConfig, error) {
	return decode(c, raw, v1alpha1.KindCloudProfileConfig, &v1alpha1.CloudProfileConfig{}, v1alpha1.DefaultCloudProfileConfig)
}

// InfrastructureConfig decodes an Infrastructure's providerConfig.
func (c *Codec) InfrastructureConfig(raw *runtime.RawExtension) (*v1alpha1.InfrastructureConfig, error) {
	return decode(c, raw, v1alpha1.KindInfrastructureConfig, &v1alpha1.InfrastructureConfig{}, v1alpha1.DefaultInfrastructureConfig)
}

// InfrastructureStatus decodes an Infrastructure's providerStatus or state.
func (c *Codec) InfrastructureStatus(raw *runtime.RawExtension) (*v1alpha1.InfrastructureStatus, error) {
	return decode(c, raw, v1alpha1.KindInfrastructureStatus, &v1alpha1.InfrastructureStatus{}, func(*v1alpha1.InfrastructureStatus) {})
}

// ControlPlaneConfig decodes a ControlPlane's providerConfig.
func (c *Codec) ControlPlaneConfig(raw *runtime.RawExtension) (*v1alpha1.ControlPlaneConfig, error) {
	return decode(c, raw, v1alpha1.KindControlPlaneConfig, &v1alpha1.ControlPlaneConfig{}, v1alpha1.DefaultControlPlaneConfig)
}

// WorkerConfig decodes a worker pool's providerConfig.
func (c *Codec) WorkerConfig(raw *runtime.RawExtension) (*v1alpha1.WorkerConfig, error) {
	return decode(c, raw, v1alpha1.KindWorkerConfig, &v1alpha1.WorkerConfig{}, v1alpha1.DefaultWorkerConfig)
}

// WorkerStatus decodes a Worker's providerStatus.
func (c *Codec) WorkerStatus(raw *runtime.RawExtension) (*v1alpha1.WorkerStatus, error) {
	return decode(c, raw, v1alpha1.KindWorkerStatus, &v1alpha1.WorkerStatus{}, func(*v1alpha1.WorkerStatus) {})
}

// Encode returns obj as a RawExtension with its apiVersion and kind set.
func Encode(obj runtime.Object, kind string) (*runtime.RawExtension, error) {
	obj.GetObjectKind().SetGroupVersionKind(v1alpha1.SchemeGroupVersion.WithKind(kind))
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", kind, err)
	}
	return &runtime.RawExtension{Raw: b}, nil
}
