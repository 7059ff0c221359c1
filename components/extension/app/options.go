package app

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
)

// Flag names of `metalkube extension` and `metalkube admission`. Webhook
// registration flags (webhook-config-mode, -url, -namespace, -service-port,
// -owner-namespace) and the webhook switch (disable-webhooks)
// are gardener's (extensions/pkg/webhook/cmd).
const (
	FlagKubeconfig                = "kubeconfig"
	FlagLeaderElect               = "leader-elect"
	FlagLeaderElectionID          = "leader-election-id"
	FlagLeaderElectionNamespace   = "leader-election-namespace"
	FlagMetricsBindAddress        = "metrics-bind-address"
	FlagHealthBindAddress         = "health-bind-address"
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

// ManagerOptions configure the controller-runtime manager.
type ManagerOptions struct {
	Kubeconfig              string
	LeaderElect             bool
	LeaderElectionID        string
	LeaderElectionNamespace string
	MetricsBindAddress      string
	HealthBindAddress       string
	WebhookHost             string
	WebhookPort             int
	WebhookCertDir          string
}

// AddFlags binds the manager flags; id is the default leader election ID.
func (o *ManagerOptions) AddFlags(fs *pflag.FlagSet, id string, webhookPort int) {
	fs.StringVar(&o.Kubeconfig, FlagKubeconfig, "", "kubeconfig of the cluster to reconcile; empty: in-cluster or $KUBECONFIG")
	fs.BoolVar(&o.LeaderElect, FlagLeaderElect, true, "elect a leader so that replicas can run")
	fs.StringVar(&o.LeaderElectionID, FlagLeaderElectionID, id, "name of the leader election lease")
	fs.StringVar(&o.LeaderElectionNamespace, FlagLeaderElectionNamespace, "", "namespace of the leader election lease; empty: the pod's")
	fs.StringVar(&o.MetricsBindAddress, FlagMetricsBindAddress, ":8080", "address of the metrics endpoint; 0 disables it")
	fs.StringVar(&o.HealthBindAddress, FlagHealthBindAddress, ":8081", "address of the healthz/readyz endpoints")
	fs.StringVar(&o.WebhookHost, FlagWebhookHost, "", "address the webhook server binds to")
	fs.IntVar(&o.WebhookPort, FlagWebhookPort, webhookPort, "port of the webhook server (TLS)")
	fs.StringVar(&o.WebhookCertDir, FlagWebhookCertDir, "", "directory of the webhook server's tls.crt/tls.key; empty: generated")
}

// Validate checks the manager flags.
func (o *ManagerOptions) Validate() error {
	if o.WebhookPort <= 0 || o.WebhookPort > 65535 {
		return fmt.Errorf("--%s=%d: not a port", FlagWebhookPort, o.WebhookPort)
	}
	if o.LeaderElect && o.LeaderElectionID == "" {
		return fmt.Errorf("--%s is empty", FlagLeaderElectionID)
	}
	return nil
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
	fs.StringVar(&o.CCMImage, FlagCCMImage, defaultImage, "image running `metalkube ccm` in shoot control planes")
	fs.StringVar(&o.MCMImage, FlagMCMImage, defaultImage, "image running the `metalkube mcm` sidecar of machine-controller-manager")
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
