package shoot_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/metalkube/metalkube/e2e/shoot"
	"github.com/metalkube/metalkube/shared/testenv"
	"github.com/metalkube/metalkube/shared/testkit/netns"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	opts, err := shoot.EnvOptions()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctrl.SetLogger(logr.Discard()) // the fleet's logs; the components log to files
	os.Exit(testenv.Main(m, opts, &env))
}

// TestShootLifecycle runs the whole flow on ironcore (metal-operator and the
// in-cluster IPAM provider); with network namespaces it includes real traffic
// through the firewall agent.
func TestShootLifecycle(t *testing.T) {
	firewall, why := netns.Available()
	if !firewall {
		t.Logf("firewall step skipped: %s", why)
	}
	runFlow(t, shoot.Input{Servers: 4, Workers: 2, Firewall: firewall, Outage: time.Minute})
}

// TestShootLifecycleMetalStack runs the same flow on the metal-stack backend:
// the shoot's cloudprovider Secret holds metal-api's URL and an HMAC key, and
// the extension renders every component onto metal-api (here its emulator).
// With network namespaces the shoot gets a firewall that rolls twice under
// traffic, and a Bastion; two workers, two firewalls during the roll and the
// bastion need five machines.
func TestShootLifecycleMetalStack(t *testing.T) {
	roll, why := netns.Available()
	if !roll {
		t.Logf("firewall roll and Bastion steps skipped: %s", why)
	}
	runFlow(t, shoot.Input{Servers: 5, Workers: 2, Backend: shoot.BackendMetalStack, FirewallRoll: roll})
}

func runFlow(t *testing.T, in shoot.Input) {
	var out bytes.Buffer
	in.Env, in.Out, in.LogDir = env, &out, t.TempDir()
	flow := shoot.New(in)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	start := time.Now()
	err := flow.Run(ctx)
	t.Logf("flow (%s):\n%s", time.Since(start).Round(time.Second), out.String())
	if err != nil {
		t.Fatalf("%v\nlogs:%s", err, flow.Logs(3000))
	}
}
