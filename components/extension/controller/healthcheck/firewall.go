package healthcheck

import (
	"context"
	"fmt"
	"time"

	"github.com/gardener/gardener/extensions/pkg/controller/healthcheck"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/controller/infrastructure"
)

// FirewallChecker checks the firewall an Infrastructure's status records
// (metal-stack): healthy while its agent reports an applied ruleset without
// error at least every infrastructure.FirewallStaleAfter; an Infrastructure
// without a firewall is healthy.
type FirewallChecker struct {
	log   logr.Logger
	seed  client.Client
	shoot client.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
}

var (
	_ healthcheck.HealthCheck  = (*FirewallChecker)(nil)
	_ healthcheck.SourceClient = (*FirewallChecker)(nil)
	_ healthcheck.TargetClient = (*FirewallChecker)(nil)
)

// InjectSourceClient implements healthcheck.SourceClient.
func (c *FirewallChecker) InjectSourceClient(cl client.Client) { c.seed = cl }

// InjectTargetClient implements healthcheck.TargetClient.
func (c *FirewallChecker) InjectTargetClient(cl client.Client) { c.shoot = cl }

// SetLoggerSuffix implements healthcheck.HealthCheck.
func (c *FirewallChecker) SetLoggerSuffix(provider, extension string) {
	c.log = log.Log.WithName("healthcheck-firewall").WithValues("provider", provider, "extension", extension)
}

// Check implements healthcheck.HealthCheck.
func (c *FirewallChecker) Check(ctx context.Context, request types.NamespacedName) (*healthcheck.SingleCheckResult, error) {
	infra := &extensionsv1alpha1.Infrastructure{}
	if err := c.seed.Get(ctx, request, infra); err != nil {
		return nil, fmt.Errorf("infrastructure %s: %w", request, err)
	}
	if infra.Status.ProviderStatus == nil {
		return &healthcheck.SingleCheckResult{Status: gardencorev1beta1.ConditionTrue}, nil
	}
	st, err := codec.New().InfrastructureStatus(infra.Status.ProviderStatus)
	if err != nil {
		return nil, fmt.Errorf("infrastructure %s: %w", request, err)
	}
	if st.Firewall == nil {
		return &healthcheck.SingleCheckResult{Status: gardencorev1beta1.ConditionTrue}, nil
	}
	agent, err := infrastructure.ReadAgentStatus(ctx, c.shoot, st.Firewall.Name)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	if ok, why := agent.Health(now()); !ok {
		c.log.Info("Firewall unhealthy", "firewall", st.Firewall.Name, "reason", why)
		return &healthcheck.SingleCheckResult{Status: gardencorev1beta1.ConditionFalse, Detail: fmt.Sprintf("firewall %s: %s", st.Firewall.Name, why)}, nil
	}
	return &healthcheck.SingleCheckResult{Status: gardencorev1beta1.ConditionTrue}, nil
}
