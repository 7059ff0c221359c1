package shoot

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/gardener/gardener/pkg/component/nodemanagement/machinecontrollermanager"
	fakesecretsmanager "github.com/gardener/gardener/pkg/utils/secrets/manager/fake"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/e2e/framework"
)

// MCMImage is the image of machine-controller-manager's own container; the
// pod runner plays it (its command, ./machine-controller-manager) with the
// binary built from MCM's module.
const MCMImage = "machine-controller-manager:e2e"

// MCMDeployment is machine-controller-manager's Deployment in the seed
// namespace, as Gardener names it.
const MCMDeployment = "machine-controller-manager"

// MCMSidecar is the container the extension's control-plane webhook injects.
const MCMSidecar = "machine-controller-manager-provider-metalkube"

// deployMCM deploys machine-controller-manager with Gardener's own component
// (the code gardenlet runs), which the extension's control-plane webhook
// mutates on its way into the API server, and runs the mutated pod.
func (f *Flow) deployMCM(ctx context.Context) error {
	mcm := machinecontrollermanager.New(f.Env.Client, f.ns, fakesecretsmanager.New(f.Env.Client, f.ns),
		machinecontrollermanager.Values{Image: MCMImage, Replicas: 1})
	// The extension registers its webhooks as it starts: until the
	// control-plane webhook answers, Deploy fails or goes unmutated, and a
	// later Deploy (an update) passes through it again.
	var spec corev1.PodSpec
	var last error
	err := framework.Eventually(ctx, "Gardener's machine-controller-manager Deployment mutated by the control-plane webhook", 2*time.Minute, time.Second, func(ctx context.Context) (bool, error) {
		if last = mcm.Deploy(ctx); last != nil {
			return false, last
		}
		dep := &appsv1.Deployment{}
		if err := f.Env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: MCMDeployment}, dep); err != nil {
			return false, err
		}
		spec = dep.Spec.Template.Spec
		return slices.ContainsFunc(spec.Containers, func(c corev1.Container) bool { return c.Name == MCMSidecar }), nil
	})
	if err != nil {
		return fmt.Errorf("the control-plane webhook did not inject %s into Deployment %s (last deploy error: %v): %w", MCMSidecar, MCMDeployment, last, err)
	}
	f.detail("Deployment %s rendered by Gardener, %s injected by the control-plane webhook", MCMDeployment, MCMSidecar)
	if err := f.waitApplied(ctx); err != nil {
		return err
	}
	return f.startPod(ctx, podInput{name: "mcm", namespace: f.ns, spec: spec})
}

// serviceAccountKubeconfig writes a kubeconfig with a token of the pod's
// service account: what a pod's in-cluster config reads from its service
// account mount. Empty when the pod has no service account token.
func (f *Flow) serviceAccountKubeconfig(ctx context.Context, name, namespace string, spec corev1.PodSpec) (string, error) {
	if spec.ServiceAccountName == "" || (spec.AutomountServiceAccountToken != nil && !*spec.AutomountServiceAccountToken) {
		return "", nil
	}
	path := filepath.Join(f.LogDir, "pods", name, "serviceaccount.kubeconfig")
	token, err := framework.ServiceAccountKubeconfig(ctx, f.Env.Config, namespace, spec.ServiceAccountName, path)
	if err != nil {
		return "", err
	}
	f.secrets = append(f.secrets, framework.Secret{Name: "the token of service account " + namespace + "/" + spec.ServiceAccountName, Value: []byte(token)})
	return path, nil
}
