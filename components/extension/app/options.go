package app

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/metalkube/metalkube/shared/component"
)

// Flag names of `metalkube extension` and `metalkube admission`. Webhook
// registration flags (webhook-config-mode, -url, -namespace, -service-port,
// -owner-namespace) and the webhook switch (disable-webhooks)
// are gardener's (extensions/pkg/webhook/cmd).
const (
	FlagWebhookHost               = "webhook-config-server-host"
	FlagWebhookPort               = "webhook-config-server-port"
	FlagWebhookCertDir            = "webhook-config-cert-dir"
	FlagMaxConcurrentReconciles   = "max-concurrent-reconciles"
	FlagIgnoreOperationAnnotation = "ignore-operation-annotation"
	FlagControllers               = "controllers"
	FlagDisableControllers        = "disable-controllers"
	FlagCCMImage                  = "ccm-image"
	FlagMCMImage                  = "mcm-image"
	FlagHealthCheckSyncPeriod     = "health-check-sync-period"
	FlagHeartbeatNamespace        = "heartbeat-namespace"
	FlagHeartbeatRenewInterval    = "heartbeat-renew-interval"
)

// ServerOptions are the runtime flags of shared/component (kubeconfig,
// leader election, metrics, probes) and the webhook server's.
type ServerOptions struct {
	Runtime        *component.Options
	WebhookHost    string
	WebhookPort    int
	WebhookCertDir string
}

// NewServerOptions returns the defaults of the component named name (its
// logger's name) with the lease <lease>-leader-election, as Gardener's
// extensions name theirs.
func NewServerOptions(name, lease string) *ServerOptions {
	rt := component.NewOptions(name)
	rt.Manager.LeaderElectionID = lease + "-leader-election"
	rt.REST.QPS, rt.REST.Burst = 100, 130
	return &ServerOptions{Runtime: rt, WebhookPort: 10250}
}

// AddFlags binds the runtime and webhook server flags.
func (o *ServerOptions) AddFlags(fs *pflag.FlagSet) {
	o.Runtime.AddFlags(fs)
	fs.StringVar(&o.WebhookHost, FlagWebhookHost, o.WebhookHost, "address the webhook server binds to")
	fs.IntVar(&o.WebhookPort, FlagWebhookPort, o.WebhookPort, "port of the webhook server (TLS)")
	fs.StringVar(&o.WebhookCertDir, FlagWebhookCertDir, o.WebhookCertDir, "directory of the webhook server's tls.crt/tls.key; empty: generated")
}

// Validate checks the flags.
func (o *ServerOptions) Validate() error {
	if o.WebhookPort <= 0 || o.WebhookPort > 65535 {
		return fmt.Errorf("--%s=%d: not a port", FlagWebhookPort, o.WebhookPort)
	}
	return o.Runtime.Validate()
}

// Complete validates the flags and loads the REST config.
func (o *ServerOptions) Complete() (*component.Config, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return o.Runtime.Complete()
}

// WebhookServer sets the webhook server the flags describe on a manager's
// options.
func (o *ServerOptions) WebhookServer(mo *manager.Options) {
	mo.WebhookServer = webhook.NewServer(webhook.Options{Host: o.WebhookHost, Port: o.WebhookPort, CertDir: o.WebhookCertDir})
}

// ControllerOptions configure the extension's controllers.
type ControllerOptions struct {
	MaxConcurrentReconciles   int
	IgnoreOperationAnnotation bool
	CCMImage                  string
	MCMImage                  string
	HealthCheckSyncPeriod     time.Duration
	HeartbeatNamespace        string
	HeartbeatRenewInterval    time.Duration
}

// AddFlags binds the controller flags.
func (o *ControllerOptions) AddFlags(fs *pflag.FlagSet, defaultImage string) {
	fs.IntVar(&o.MaxConcurrentReconciles, FlagMaxConcurrentReconciles, 5, "concurrent reconciles per controller")
	fs.BoolVar(&o.IgnoreOperationAnnotation, FlagIgnoreOperationAnnotation, false, "reconcile on every change instead of waiting for gardenlet's operation annotation")
	fs.StringVar(&o.CCMImage, FlagCCMImage, defaultImage, "image running metalkube ccm in shoot control planes")
	fs.StringVar(&o.MCMImage, FlagMCMImage, defaultImage, "image running the metalkube mcm sidecar of machine-controller-manager")
	fs.DurationVar(&o.HealthCheckSyncPeriod, FlagHealthCheckSyncPeriod, 30*time.Second, "how often health checks run")
	fs.StringVar(&o.HeartbeatNamespace, FlagHeartbeatNamespace, "", "namespace of the heartbeat lease; empty: the leader election namespace")
	fs.DurationVar(&o.HeartbeatRenewInterval, FlagHeartbeatRenewInterval, 30*time.Second, "how often the heartbeat lease is renewed")
}

// Validate checks the controller flags.
func (o *ControllerOptions) Validate() error {
	if o.MaxConcurrentReconciles < 1 {
		return fmt.Errorf("--%s=%d: must be at least 1", FlagMaxConcurrentReconciles, o.MaxConcurrentReconciles)
	}
	if o.CCMImage == "" || o.MCMImage == "" {
		return fmt.Errorf("--%s and --%s must name images", FlagCCMImage, FlagMCMImage)
	}
	if o.HealthCheckSyncPeriod <= 0 || o.HeartbeatRenewInterval < time.Second {
		return fmt.Errorf("--%s and --%s must be positive (heartbeat at least 1s)", FlagHealthCheckSyncPeriod, FlagHeartbeatRenewInterval)
	}
	return nil
}
