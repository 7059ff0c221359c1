package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	gardencorev1 "github.com/gardener/gardener/pkg/apis/core/v1"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	securityv1alpha1 "github.com/gardener/gardener/pkg/apis/security/v1alpha1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/components/extension/apis/metal/v1alpha1"
	"github.com/metalkube/metalkube/e2e/framework"
	"github.com/metalkube/metalkube/e2e/gardenlet"
)

// The paths `metalkube admission` serves its webhooks on.
const (
	pathValidate        = "/webhooks/validate"
	pathValidateSecrets = "/webhooks/validate/secrets"
	pathMutate          = "/webhooks/mutate"
)

// Labels Gardener sets: gardener-apiserver's ExtensionLabels plugin on
// Shoots and CloudProfiles of a provider type (what the Shoot and
// CloudProfile webhooks select on).
const labelProvider = "provider.extensions.gardener.cloud/metalkube"

// The garden objects of the test.
const (
	projectNamespace = "garden-dev"
	cloudProfileName = "metalkube"
	bindingName      = "metal"
	region, zone     = "fra", "fra-1"
	machineType      = "c1-large"
	imageName        = "gardenlinux"
	imageVersion     = "1592.1.0"
	kubernetesVer    = "1.36.4"
)

// registration is one registered webhook.
type registration struct {
	Name, Path    string
	CABundle      []byte
	Selector      bool
	FailurePolicy *admissionregistrationv1.FailurePolicyType
}

// webhooks lists every registered admission webhook that is called by URL
// (the admission runs outside a cluster), by the URL's path.
func webhooks(ctx context.Context) ([]registration, error) {
	var out []registration
	add := func(name string, cc admissionregistrationv1.WebhookClientConfig, obj, ns *metav1.LabelSelector, fp *admissionregistrationv1.FailurePolicyType) error {
		if cc.URL == nil {
			return nil
		}
		u, err := url.Parse(*cc.URL)
		if err != nil {
			return fmt.Errorf("webhook %s: url %q: %w", name, *cc.URL, err)
		}
		out = append(out, registration{Name: name, Path: u.Path, CABundle: cc.CABundle, Selector: obj != nil || ns != nil, FailurePolicy: fp})
		return nil
	}
	vs := &admissionregistrationv1.ValidatingWebhookConfigurationList{}
	if err := env.Client.List(ctx, vs); err != nil {
		return nil, err
	}
	for _, c := range vs.Items {
		for _, w := range c.Webhooks {
			if err := add(w.Name, w.ClientConfig, w.ObjectSelector, w.NamespaceSelector, w.FailurePolicy); err != nil {
				return nil, err
			}
		}
	}
	ms := &admissionregistrationv1.MutatingWebhookConfigurationList{}
	if err := env.Client.List(ctx, ms); err != nil {
		return nil, err
	}
	for _, c := range ms.Items {
		for _, w := range c.Webhooks {
			if err := add(w.Name, w.ClientConfig, w.ObjectSelector, w.NamespaceSelector, w.FailurePolicy); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// gardenClient is a client of the environment that knows Gardener's types,
// served by gardener-apiserver through the kube-apiserver.
func gardenClient() (client.Client, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, gardencorev1beta1.AddToScheme, gardencorev1.AddToScheme, securityv1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return client.New(env.Config, client.Options{Scheme: s})
}

// raw encodes a provider document.
func raw(t *testing.T, doc map[string]any) *runtime.RawExtension {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &runtime.RawExtension{Raw: b}
}

// providerDoc is a provider document of kind with fields.
func providerDoc(kind string, fields map[string]any) map[string]any {
	doc := map[string]any{"apiVersion": v1alpha1.SchemeGroupVersion.String(), "kind": kind}
	for k, v := range fields {
		doc[k] = v
	}
	return doc
}

// refusedByWebhook checks that err is an admission webhook's refusal that
// names every one of want.
func refusedByWebhook(err error, want ...string) error {
	if err == nil {
		return errors.New("admitted")
	}
	msg := err.Error()
	if !strings.Contains(msg, "denied the request") {
		return fmt.Errorf("refused, but not by an admission webhook: %w", err)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			return fmt.Errorf("the refusal does not name %q: %w", w, err)
		}
	}
	return nil
}

// admitGardenObjects creates what a garden has for a Shoot of type
// metalkube, through the kube-apiserver and the real gardener-apiserver
// behind it, which runs Gardener's admission plugins and then calls the
// admission's webhooks over TLS with the CA the admission generated:
//   - a CloudProfile without its provider document is refused by the
//     validator, naming the field; a complete one is admitted (and labelled
//     by Gardener with the label the webhooks select on);
//   - a Shoot with an unsupported load balancer mode is refused, naming the
//     field and the value;
//   - a valid Shoot is admitted, its provider documents defaulted by the
//     mutator (load balancer mode, egress IP count), and an update that
//     breaks its InfrastructureConfig is refused.
//
// The ControllerRegistrations declare the extensions Gardener's
// ExtensionValidator requires for such a Shoot: metalkube's as shipped
// (charts/gardener, with its ControllerDeployment) and a networking
// extension's; nothing reconciles the Shoot here.
func admitGardenObjects(ctx context.Context, t *testing.T) error {
	gc, err := gardenClient()
	if err != nil {
		return err
	}
	root, err := framework.RepoRoot()
	if err != nil {
		return err
	}
	shipped, err := gardenlet.Load(root)
	if err != nil {
		return err
	}
	if err := gc.Create(ctx, shipped.Deployment); err != nil {
		return fmt.Errorf("create the shipped ControllerDeployment %s: %w", shipped.Deployment.Name, err)
	}
	for _, reg := range []*gardencorev1beta1.ControllerRegistration{
		shipped.Registration,
		{ObjectMeta: metav1.ObjectMeta{Name: "networking-calico"}, Spec: gardencorev1beta1.ControllerRegistrationSpec{Resources: []gardencorev1beta1.ControllerResource{
			{Kind: "Network", Type: "calico"},
		}}},
	} {
		if err := gc.Create(ctx, reg); err != nil {
			return fmt.Errorf("create ControllerRegistration %s: %w", reg.Name, err)
		}
	}

	// CloudProfiles. gardener-apiserver learns of the webhook
	// configurations through its informers: until it has them a bad
	// CloudProfile passes, so ask (dry run) until the validator answers.
	cp := cloudProfile(t)
	noConfig := cp.DeepCopy()
	noConfig.Spec.ProviderConfig = nil
	var refused error
	err = framework.Eventually(ctx, "gardener-apiserver calling the validator for a CloudProfile without its provider document", 2*time.Minute, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		refused = gc.Create(ctx, noConfig.DeepCopy(), client.DryRunAll)
		return refused != nil && strings.Contains(refused.Error(), "denied the request"), nil
	})
	if err != nil {
		return fmt.Errorf("%w (last: %v)", err, refused)
	}
	if err := refusedByWebhook(refused, "spec.providerConfig", "CloudProfileConfig"); err != nil {
		return fmt.Errorf("a CloudProfile without providerConfig: %w", err)
	}
	t.Logf("a CloudProfile without providerConfig: %v", refused)
	if err := gc.Create(ctx, cp); err != nil {
		return fmt.Errorf("a valid CloudProfile was refused: %w", err)
	}
	if cp.Labels[labelProvider] != "true" {
		return fmt.Errorf("CloudProfile labels %v: gardener-apiserver did not set %s, which the webhooks select on", cp.Labels, labelProvider)
	}

	// A project with its cloudprovider Secret (through the Secret
	// validator) and the CredentialsBinding Shoots name.
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: projectNamespace}}); err != nil {
		return err
	}
	project := &gardencorev1beta1.Project{ObjectMeta: metav1.ObjectMeta{Name: "dev"}, Spec: gardencorev1beta1.ProjectSpec{Namespace: new(projectNamespace)}}
	if err := gc.Create(ctx, project); err != nil {
		return fmt.Errorf("create Project: %w", err)
	}
	creds := secret("metal-credentials", true, map[string]string{"metalAPIURL": "https://api.metal-stack.example", "metalAPIHMac": "x"})
	creds.Namespace = projectNamespace
	if err := gc.Create(ctx, creds); err != nil {
		return fmt.Errorf("create the cloudprovider Secret: %w", err)
	}
	binding := &securityv1alpha1.CredentialsBinding{
		ObjectMeta:     metav1.ObjectMeta{Name: bindingName, Namespace: projectNamespace},
		Provider:       securityv1alpha1.CredentialsBindingProvider{Type: "metalkube"},
		CredentialsRef: corev1.ObjectReference{APIVersion: "v1", Kind: "Secret", Name: creds.Name, Namespace: projectNamespace},
	}
	if err := gc.Create(ctx, binding); err != nil {
		return fmt.Errorf("create CredentialsBinding: %w", err)
	}

	// A bad Shoot: refused, naming the field and the value.
	bad := shoot(t, "bad-lb-mode", map[string]any{"loadBalancer": map[string]any{"mode": "bgp"}})
	refused = gc.Create(ctx, bad)
	if err := refusedByWebhook(refused, "spec.provider.controlPlaneConfig.loadBalancer.mode", `"bgp"`); err != nil {
		return fmt.Errorf("a Shoot with loadBalancer.mode bgp: %w", err)
	}
	t.Logf("a Shoot with loadBalancer.mode bgp: %v", refused)

	// A valid Shoot: admitted and defaulted by the mutator.
	good := shoot(t, "demo", map[string]any{"loadBalancer": map[string]any{"defaultExternalNetwork": "internet"}})
	if err := gc.Create(ctx, good); err != nil {
		return fmt.Errorf("a valid Shoot was refused: %w", err)
	}
	stored := &gardencorev1beta1.Shoot{}
	if err := gc.Get(ctx, client.ObjectKeyFromObject(good), stored); err != nil {
		return err
	}
	if stored.Labels[labelProvider] != "true" {
		return fmt.Errorf("Shoot labels %v: gardener-apiserver did not set %s", stored.Labels, labelProvider)
	}
	var cpc v1alpha1.ControlPlaneConfig
	if err := json.Unmarshal(stored.Spec.Provider.ControlPlaneConfig.Raw, &cpc); err != nil {
		return fmt.Errorf("the stored controlPlaneConfig: %w", err)
	}
	if cpc.LoadBalancer == nil || cpc.LoadBalancer.Mode != v1alpha1.DefaultLoadBalancerMode || cpc.LoadBalancer.DefaultExternalNetwork != "internet" {
		return fmt.Errorf("stored controlPlaneConfig %s: want loadBalancer.mode defaulted to %q by the mutator and defaultExternalNetwork kept", stored.Spec.Provider.ControlPlaneConfig.Raw, v1alpha1.DefaultLoadBalancerMode)
	}
	var ic v1alpha1.InfrastructureConfig
	if err := json.Unmarshal(stored.Spec.Provider.InfrastructureConfig.Raw, &ic); err != nil {
		return fmt.Errorf("the stored infrastructureConfig: %w", err)
	}
	if len(ic.EgressIPs) != 1 || ic.EgressIPs[0].Count == nil || *ic.EgressIPs[0].Count != v1alpha1.DefaultEgressIPCount {
		return fmt.Errorf("stored infrastructureConfig %s: want egressIPs[0].count defaulted to %d by the mutator", stored.Spec.Provider.InfrastructureConfig.Raw, v1alpha1.DefaultEgressIPCount)
	}

	// An update breaking the InfrastructureConfig: refused, naming the
	// field and the value.
	update := stored.DeepCopy()
	update.Spec.Provider.InfrastructureConfig = raw(t, infrastructureConfig(40))
	refused = gc.Update(ctx, update)
	if err := refusedByWebhook(refused, "spec.provider.infrastructureConfig.networks.prefixLength", "40"); err != nil {
		return fmt.Errorf("an update of the Shoot to networks.prefixLength 40: %w", err)
	}
	t.Logf("an update of the Shoot to networks.prefixLength 40: %v", refused)
	return nil
}

// cloudProfile is a CloudProfile of type metalkube with one region, zone,
// machine type and image, its provider document mapping them to the
// backend.
func cloudProfile(t *testing.T) *gardencorev1beta1.CloudProfile {
	return &gardencorev1beta1.CloudProfile{
		ObjectMeta: metav1.ObjectMeta{Name: cloudProfileName},
		Spec: gardencorev1beta1.CloudProfileSpec{
			Type:       "metalkube",
			Kubernetes: gardencorev1beta1.KubernetesSettings{Versions: []gardencorev1beta1.ExpirableVersion{{Version: kubernetesVer}}},
			MachineImages: []gardencorev1beta1.MachineImage{{Name: imageName, Versions: []gardencorev1beta1.MachineImageVersion{
				{ExpirableVersion: gardencorev1beta1.ExpirableVersion{Version: imageVersion}},
			}}},
			MachineTypes: []gardencorev1beta1.MachineType{{
				Name: machineType, CPU: resource.MustParse("32"), GPU: resource.MustParse("0"), Memory: resource.MustParse("256Gi"), Usable: new(true),
			}},
			Regions: []gardencorev1beta1.Region{{Name: region, Zones: []gardencorev1beta1.AvailabilityZone{{Name: zone}}}},
			ProviderConfig: raw(t, providerDoc(v1alpha1.KindCloudProfileConfig, map[string]any{
				"machineImages": []any{map[string]any{"name": imageName, "versions": []any{
					map[string]any{"version": imageVersion, "image": "ghcr.io/gardenlinux/gardenlinux:1592.1"},
				}}},
				"machineTypes": []any{map[string]any{"name": machineType, "size": "c1-large-x86"}},
				"regions":      []any{map[string]any{"name": region, "zones": []any{map[string]any{"name": zone, "partition": "fra-rack-1"}}}},
			})),
		},
	}
}

// infrastructureConfig is an InfrastructureConfig with networks of the
// given prefix length and one egress IP entry without a count.
func infrastructureConfig(prefixLength int) map[string]any {
	return providerDoc(v1alpha1.KindInfrastructureConfig, map[string]any{
		"partition": "fra-rack-1",
		"networks":  map[string]any{"prefixLength": prefixLength, "external": []any{"internet"}},
		"egressIPs": []any{map[string]any{"network": "internet"}},
	})
}

// shoot is a Shoot of type metalkube in the project with the given
// ControlPlaneConfig fields.
func shoot(t *testing.T, name string, controlPlane map[string]any) *gardencorev1beta1.Shoot {
	return &gardencorev1beta1.Shoot{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: projectNamespace},
		Spec: gardencorev1beta1.ShootSpec{
			CloudProfile:           &gardencorev1beta1.CloudProfileReference{Kind: "CloudProfile", Name: cloudProfileName},
			Region:                 region,
			CredentialsBindingName: new(bindingName),
			Kubernetes:             gardencorev1beta1.Kubernetes{Version: kubernetesVer},
			Networking:             &gardencorev1beta1.Networking{Type: new("calico"), Nodes: new("10.250.0.0/16")},
			Provider: gardencorev1beta1.Provider{
				Type:                 "metalkube",
				InfrastructureConfig: raw(t, infrastructureConfig(22)),
				ControlPlaneConfig:   raw(t, providerDoc(v1alpha1.KindControlPlaneConfig, controlPlane)),
				Workers: []gardencorev1beta1.Worker{{
					Name: "pool-a", Minimum: 1, Maximum: 3, Zones: []string{zone},
					Machine: gardencorev1beta1.Machine{Type: machineType, Image: &gardencorev1beta1.ShootMachineImage{Name: imageName, Version: new(imageVersion)}},
					ProviderConfig: raw(t, providerDoc(v1alpha1.KindWorkerConfig, map[string]any{
						"serverLabels": map[string]any{"metal.ironcore.dev/rack": "r1"},
					})),
				}},
			},
		},
	}
}
