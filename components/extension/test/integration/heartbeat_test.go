package integration

import (
	"context"
	"testing"
	"time"

	"github.com/gardener/gardener/pkg/extensions"
	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/components/extension/provider"
	"github.com/metalkube/metalkube/shared/testkit"
)

// TestHeartbeat: the extension renews gardener's heartbeat Lease, holding
// its name.
func TestHeartbeat(t *testing.T) {
	start(t)
	testkit.EventuallyWithin(t, 20*time.Second, "heartbeat lease", func() error {
		lease := &coordinationv1.Lease{}
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: extensions.HeartBeatResourceName}, lease); err != nil {
			return err
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != provider.Name || lease.Spec.RenewTime == nil {
			t.Fatalf("heartbeat lease = %+v", lease.Spec)
		}
		return nil
	})
}
