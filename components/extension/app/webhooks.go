package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	extensionscmdwebhook "github.com/gardener/gardener/extensions/pkg/webhook/cmd"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/metalkube/metalkube/shared/component"
)

// providedCertificate reports whether the webhook certificate directory already
// holds a certificate and key, as when the operator mounts a TLS Secret there
// (the Helm chart does).
func providedCertificate(dir string) bool {
	if dir == "" {
		return false
	}
	for _, f := range []string{"tls.crt", "tls.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	return true
}

// addWebhooks serves the webhooks. With a provided certificate it only
// registers their handlers: the operator's certificate is served as it is and
// the webhook configurations are the operator's (the chart renders them with
// the CA). Without one, gardener's library manages both: it generates the
// certificate (into the directory, or as Secrets in --webhook-config-namespace)
// and registers the configurations, as a ControllerRegistration deploys it.
func addWebhooks(ctx context.Context, mgr manager.Manager, opts *extensionscmdwebhook.AddToManagerOptions, certDir string) error {
	if !providedCertificate(certDir) {
		_, err := opts.Completed().AddToManager(ctx, mgr, mgr)
		return err
	}
	webhooks, err := opts.Completed().Switch.WebhooksFactory(mgr)
	if err != nil {
		return fmt.Errorf("could not create webhooks: %w", err)
	}
	for _, wh := range webhooks {
		path := wh.Path
		if path == "" {
			path = wh.Name
		}
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		mgr.GetWebhookServer().Register(path, wh.Webhook)
	}
	return nil
}

// ReadyzWebhookServer names the readiness check on the webhook server.
const ReadyzWebhookServer = "webhook-server"

// serve adds the webhooks and a readiness check (ready once the webhook
// server serves) to mgr and runs it until ctx is done.
func serve(ctx context.Context, mgr manager.Manager, opts *extensionscmdwebhook.AddToManagerOptions, certDir string) error {
	if err := addWebhooks(ctx, mgr, opts, certDir); err != nil {
		return fmt.Errorf("add webhooks: %w", err)
	}
	if err := mgr.AddReadyzCheck(ReadyzWebhookServer, mgr.GetWebhookServer().StartedChecker()); err != nil {
		return err
	}
	return component.Start(ctx, mgr)
}
