package realnode

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/metalkube/metalkube/e2e/framework"
	"github.com/metalkube/metalkube/e2e/framework/image"
	"github.com/metalkube/metalkube/e2e/framework/realnode"
	"github.com/metalkube/metalkube/e2e/shoot"
	"github.com/metalkube/metalkube/shared/testenv"
	"github.com/metalkube/metalkube/shared/testkit/netns"
)

// TestShootOnRealNode runs the shoot flow (ironcore) with the real node's
// API server as its control plane: the chart's extension Deployment and the
// Deployments it and Gardener render run as pods of the real kubelet from
// the image built here, the API server calls the extension's webhook through
// its Service over TLS, and the fleet (metal-operator, its BMCs, the IPAM
// provider) runs as processes against the node's API server. The flow's
// namespaces keep their pods on the node, off the fleet's Nodes.
func TestShootOnRealNode(t *testing.T) {
	// The API server accepts the shoot access tokens gardener-resource-manager
	// requests (audience gardener), as a shoot's does.
	// machine-controller-manager's image: its static binary (built from the
	// Go module proxy) FROM scratch, as Gardener's Deployment runs it.
	mcm, err := framework.BuildMCM()
	if err != nil {
		t.Fatal(err)
	}
	mcmImage := filepath.Join(t.TempDir(), "mcm-image.tar")
	if _, err := image.Write(image.Binary(mcm, "/machine-controller-manager", shoot.MCMImage), mcmImage); err != nil {
		t.Fatal(err)
	}
	_, imgs, n := startNode(t, realnode.StartInput{APIAudiences: []string{"kubernetes", "gardener"}, Images: []string{mcmImage}})
	opts, err := shoot.EnvOptions()
	if err != nil {
		t.Fatal(err)
	}
	opts.APIAudiences = nil        // the node's API server has them (StartInput)
	ctrl.SetLogger(logr.Discard()) // the fleet's logs; the components log to files
	env, err := testenv.Attach(n.Config, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop the environment: %v", err)
		}
	})
	firewall, why := netns.Available()
	if !firewall {
		t.Logf("firewall step skipped: %s", why)
	}
	var out bytes.Buffer
	flow := shoot.New(shoot.Input{
		Env: env, Out: &out, LogDir: t.TempDir(), Servers: 4, Workers: 2, Firewall: firewall,
		Kubelet: &shoot.Kubelet{
			Image: imgs.MetalkubeRef, Images: []string{shoot.MCMImage}, Host: realnode.NodeIP,
			NamespaceAnnotations: map[string]string{realnode.NodeSelectorAnnotation: realnode.NodeSelector},
			PodLogs:              n.PodLogs,
		},
	})
	ctx, cancel := context.WithTimeout(t.Context(), 12*time.Minute)
	defer cancel()
	start := time.Now()
	err = flow.Run(ctx)
	t.Logf("flow (%s):\n%s", time.Since(start).Round(time.Second), out.String())
	if err != nil {
		t.Fatalf("%v\nlogs:%s", err, flow.Logs(3000))
	}
}
