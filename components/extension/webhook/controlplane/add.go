package controlplane

import (
	extensionswebhook "github.com/gardener/gardener/extensions/pkg/webhook"
	"github.com/gardener/gardener/extensions/pkg/webhook/controlplane"
	"github.com/gardener/gardener/extensions/pkg/webhook/controlplane/genericmutator"
	v1beta1constants "github.com/gardener/gardener/pkg/apis/core/v1beta1/constants"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	"github.com/gardener/gardener/pkg/component/extensions/operatingsystemconfig/original/components/kubelet"
	oscutils "github.com/gardener/gardener/pkg/component/extensions/operatingsystemconfig/utils"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	vpaautoscalingv1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/provider"
	"github.com/metalkube/metalkube/shared/version"
)

// WebhookName is the name the webhook is switched on and off by.
const WebhookName = "controlplane"

// AddOptions configure the webhook.
type AddOptions struct {
	// MCMImage runs the `metalkube mcm` sidecar; default version.Image().
	MCMImage string
}

// New returns the control plane webhook.
func New(mgr manager.Manager, opts AddOptions) (*extensionswebhook.Webhook, error) {
	if opts.MCMImage == "" {
		opts.MCMImage = version.Image()
	}
	log := mgr.GetLogger().WithName("metalkube-controlplane-webhook")
	fci := oscutils.NewFileContentInlineCodec()
	return controlplane.New(mgr, controlplane.Args{
		Kind:     controlplane.KindShoot,
		Provider: provider.Type,
		Types: []extensionswebhook.Type{
			{Obj: &appsv1.Deployment{}},
			{Obj: &vpaautoscalingv1.VerticalPodAutoscaler{}},
			{Obj: &extensionsv1alpha1.OperatingSystemConfig{}},
		},
		ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{v1beta1constants.LabelExtensionProviderMutatedByControlplaneWebhook: "true"}},
		Mutator: genericmutator.NewMutator(mgr, &Ensurer{MCMImage: opts.MCMImage, Client: mgr.GetClient(), Codec: codec.New()}, oscutils.NewUnitSerializer(),
			kubelet.NewConfigCodec(fci), fci, log),
	})
}
