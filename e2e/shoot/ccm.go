package shoot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	resourcesv1alpha1 "github.com/gardener/gardener/pkg/apis/resources/v1alpha1"
	"github.com/gardener/gardener/pkg/utils/managedresources"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The ccm's flags that name files or ports inside its pod; the flow points
// them at this machine's files instead. Every other flag the ControlPlane
// deployed is kept as it is.
var podLocalFlags = []string{"--kubeconfig=", "--authentication-kubeconfig=", "--authorization-kubeconfig=",
	"--metal-kubeconfig=", "--cloud-config=", "--secure-port=", "--leader-elect=", "--log-level="}

// startCCM runs `metalkube ccm` as the ControlPlane deployed it: the arguments
// of the cloud-controller-manager Deployment and the cloud config ConfigMap
// from the seed ManagedResource, with the pod's file paths and ports swapped
// for this machine's.
func (f *Flow) startCCM(ctx context.Context) error {
	cp := &extensionsv1alpha1.ControlPlane{ObjectMeta: metav1.ObjectMeta{Name: "dev", Namespace: Namespace}}
	if err := f.succeeded(ctx, cp, 2*time.Minute); err != nil {
		return err
	}
	var args []string
	var cloudConfig string
	mrs := &resourcesv1alpha1.ManagedResourceList{}
	if err := f.Env.Client.List(ctx, mrs, client.InNamespace(Namespace)); err != nil {
		return err
	}
	for _, mr := range mrs.Items {
		objs, err := managedresources.GetObjects(ctx, f.Env.Client, Namespace, mr.Name)
		if err != nil {
			return fmt.Errorf("objects of ManagedResource %s: %w", mr.Name, err)
		}
		for _, o := range objs {
			switch o := o.(type) {
			case *appsv1.Deployment:
				for _, c := range o.Spec.Template.Spec.Containers {
					if len(c.Args) > 0 && c.Args[0] == "ccm" {
						args = c.Args
					}
				}
			case *corev1.ConfigMap:
				for _, v := range o.Data {
					cloudConfig = v
				}
			}
		}
	}
	if args == nil || cloudConfig == "" {
		return fmt.Errorf("the ControlPlane's ManagedResources hold no ccm Deployment with its cloud config")
	}
	path := filepath.Join(f.LogDir, "cloud-config.yaml")
	if err := os.WriteFile(path, []byte(cloudConfig), 0o600); err != nil {
		return err
	}
	run := []string{"ccm"}
	for _, a := range args[1:] {
		local := false
		for _, p := range podLocalFlags {
			local = local || strings.HasPrefix(a, p)
		}
		if !local {
			run = append(run, a)
		}
	}
	run = append(run, "--kubeconfig="+f.kubeconfig, "--metal-kubeconfig="+f.backendKubeconfig, "--cloud-config="+path,
		"--secure-port=0", "--webhook-secure-port=0", "--leader-elect=false", "--authentication-skip-lookup",
		"--node-monitor-period=1s", "--machine-cache-ttl=1s", "--ip-pool="+LBNetwork+"=GlobalInClusterIPPool/"+LBNetwork,
		"--log-format=console")
	f.detail("cloud config from the ControlPlane: %s", strings.ReplaceAll(strings.TrimSpace(cloudConfig), "\n", ", "))
	return f.startProcess("metalkube-ccm", f.metalkube, run...)
}
