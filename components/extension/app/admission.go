package app

import (
	"context"
	"fmt"

	extensionswebhook "github.com/gardener/gardener/extensions/pkg/webhook"
	extensionscmdwebhook "github.com/gardener/gardener/extensions/pkg/webhook/cmd"
	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/metalkube/metalkube/components/extension/admission"
	"github.com/metalkube/metalkube/components/extension/provider"
	"github.com/metalkube/metalkube/components/extension/scheme"
)

// Admission webhook names (values of --disable-webhooks of
// `metalkube admission`).
const (
	WebhookValidator       = admission.ValidatorName
	WebhookSecretValidator = admission.SecretValidatorName
	WebhookMutator         = admission.MutatorName
)

// AdmissionName names the admission component (webhook configurations,
// leader election).
const AdmissionName = "admission-metalkube"

// AdmissionCommand is the admission component's command and logger name.
const AdmissionCommand = "admission"

// AdmissionSwitches returns the admission webhooks by name.
func AdmissionSwitches() *extensionscmdwebhook.SwitchOptions {
	return extensionscmdwebhook.NewSwitchOptions(
		extensionscmdwebhook.Switch(WebhookValidator, admission.NewValidatingWebhook),
		extensionscmdwebhook.Switch(WebhookSecretValidator, admission.NewSecretWebhook),
		extensionscmdwebhook.Switch(WebhookMutator, func(mgr manager.Manager) (*extensionswebhook.Webhook, error) {
			return admission.NewMutatingWebhook(mgr)
		}),
	)
}

// NewAdmissionCommand returns `metalkube admission`.
func NewAdmissionCommand(context.Context) *cobra.Command {
	var (
		server   = NewServerOptions(AdmissionCommand, AdmissionName)
		whServer = &extensionscmdwebhook.ServerOptions{}
		whOpts   = extensionscmdwebhook.NewAddToManagerOptions(AdmissionName, "", nil, nil, whServer, AdmissionSwitches())
	)
	cmd := &cobra.Command{
		Use:   AdmissionCommand,
		Short: "Gardener admission webhooks validating " + provider.Type + " Shoots, CloudProfiles and Secrets",
		Long: "Runs next to a garden: validates the provider documents of Shoots and CloudProfiles of type " + provider.Type +
			" and their cloudprovider Secrets (every error names the field path and value) and defaults Shoots' provider documents. Served over TLS.",
		Example: "  # In the garden's runtime cluster, registering its webhooks with the garden's API server:\n" +
			"  metalkube admission --kubeconfig=/etc/garden/kubeconfig --webhook-config-mode=service \\\n" +
			"    --webhook-config-namespace=garden --leader-election-namespace=garden\n\n" +
			"  # Outside a cluster, with certificates it generates and a URL the API server reaches:\n" +
			"  metalkube admission --kubeconfig=garden.kubeconfig --webhook-config-mode=url \\\n" +
			"    --webhook-config-url=admission.example.com:10250 --leader-election-namespace=garden",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rc, err := server.Complete()
			if err != nil {
				return err
			}
			if err := whOpts.Complete(); err != nil {
				return fmt.Errorf("webhooks: %w", err)
			}
			mgr, err := rc.NewManager(cmd.Context(), scheme.Garden(), server.WebhookServer, ManagerOptions)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), mgr, whOpts, server.WebhookCertDir)
		},
	}
	server.AddFlags(cmd.Flags())
	whOpts.AddFlags(cmd.Flags())
	return cmd
}
