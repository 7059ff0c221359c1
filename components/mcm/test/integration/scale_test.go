package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	mcmv1alpha1 "github.com/gardener/machine-controller-manager/pkg/apis/machine/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/shared/testenv"
	"github.com/metalkube/metalkube/shared/testkit"
)

// startMCM runs the real machine-controller-manager core controller (built by
// hack/mcm-binary.sh) for the namespace, or skips the test when it is missing.
func startMCM(t testing.TB, ns string) {
	t.Helper()
	dir, err := testenv.BinDir()
	if err != nil {
		t.Skip(err)
	}
	bin := filepath.Join(dir, "machine-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("%s missing: run components/mcm/hack/mcm-binary.sh (builds it from the Go module proxy)", bin)
	}
	logFile, err := os.Create(filepath.Join(t.TempDir(), "mcm.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--control-kubeconfig="+env.Kubeconfig, "--target-kubeconfig="+env.Kubeconfig,
		"--namespace="+ns, "--leader-elect=false", "--port="+strconv.Itoa(int(freePort(t))), "--address=127.0.0.1",
		"--kube-api-qps=200", "--kube-api-burst=400", "--v=1")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			out, _ := os.ReadFile(logFile.Name())
			if len(out) > 4000 {
				out = out[len(out)-4000:]
			}
			t.Logf("machine-controller-manager log (tail):\n%s", out)
		}
	})
}

func newDeployment(ns string, replicas int32) *mcmv1alpha1.MachineDeployment {
	one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
	labels := map[string]string{"pool": "workers"}
	return &mcmv1alpha1.MachineDeployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "workers"},
		Spec: mcmv1alpha1.MachineDeploymentSpec{
			Replicas: replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: mcmv1alpha1.MachineDeploymentStrategy{Type: mcmv1alpha1.RollingUpdateMachineDeploymentStrategyType,
				RollingUpdate: &mcmv1alpha1.RollingUpdateMachineDeployment{UpdateConfiguration: mcmv1alpha1.UpdateConfiguration{MaxSurge: &one, MaxUnavailable: &zero}}},
			Template: mcmv1alpha1.MachineTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       mcmv1alpha1.MachineSpec{Class: mcmv1alpha1.ClassSpec{Kind: "MachineClass", Name: "class"}},
			},
		},
	}
}

func scale(t testing.TB, ns string, replicas int32) {
	t.Helper()
	md := &mcmv1alpha1.MachineDeployment{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "workers"}, md); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(md.DeepCopy())
	md.Spec.Replicas = replicas
	if err := env.Client.Patch(context.Background(), md, patch); err != nil {
		t.Fatal(err)
	}
}

// settled checks that the namespace has want Running Machines, each with one
// claim bound to one server, one IP claim each (or none) and nothing else.
func settled(t testing.TB, ns string, want int, withIP bool) func() error {
	return func() error {
		if err := machinesRunning(ns, want)(); err != nil {
			return err
		}
		w := observe(t, ns)
		wantIPs := 0
		if withIP {
			wantIPs = want
		}
		// A server metal-operator reserved beside a claim's own is freed
		// with the claim: none may be left once every Machine is gone.
		if len(w.claims) != want || len(w.servers) != want || len(w.ipClaims) != wantIPs || (want == 0 && len(w.strays) > 0) {
			return fmt.Errorf("%d claims, %d claimed servers, %d IP claims; want %d, %d, %d (servers: %s)", len(w.claims), len(w.servers), len(w.ipClaims), want, want, wantIPs, w.describeServers(t))
		}
		return nil
	}
}

// TestScaleMachineDeployment: the real machine-controller-manager scales a
// MachineDeployment 0 -> 10 -> 3 -> 0 through metalkube's provider; no claim
// or IP is left behind.
func TestScaleMachineDeployment(t *testing.T) {
	t.Parallel()
	f := newFleet(t, "scale", 12)
	startMCM(t, f.ns)
	f.createClass(t, true)
	p := startProvider(t, f, providerOpts{})
	defer p.stop(t)
	if err := env.Client.Create(context.Background(), newDeployment(f.ns, 0)); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{10, 3, 0} {
		start := time.Now()
		scale(t, f.ns, int32(n))
		testkit.EventuallyWithin(t, 2*time.Minute, fmt.Sprintf("scaled to %d", n), settled(t, f.ns, n, true))
		checkOneServerPerMachine(t, observe(t, f.ns))
		t.Logf("scaled to %d in %s", n, time.Since(start).Round(time.Millisecond))
	}
	checkEmpty(t, f.ns)
}
