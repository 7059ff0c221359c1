package shoot

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	v1beta1constants "github.com/gardener/gardener/pkg/apis/core/v1beta1/constants"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	resourcesv1alpha1 "github.com/gardener/gardener/pkg/apis/resources/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/e2e/framework"
	"github.com/metalkube/metalkube/shared/component"
)

// Image is the image the extension renders for `metalkube ccm` and the
// `metalkube mcm` sidecar; the pod runner plays it with the built binary.
const Image = "metalkube:e2e"

// CCMDeployment is the ccm's Deployment in the seed namespace.
const CCMDeployment = "cloud-controller-manager"

// genericKubeconfigTokenPath is where gardenlet's generic token kubeconfig
// reads the shoot access token: the mount of the generic kubeconfig volume.
const genericKubeconfigTokenPath = "/var/run/secrets/gardener.cloud/shoot/generic-kubeconfig/" + resourcesv1alpha1.DataKeyToken

// createGenericKubeconfig writes the generic token kubeconfig Secret gardenlet
// keeps in every shoot namespace: the shoot's API server, authenticating
// with the token file of the pod's shoot access Secret.
func (f *Flow) createGenericKubeconfig(ctx context.Context) error {
	b, err := clientcmd.Write(f.apiServerKubeconfig(&clientcmdapi.AuthInfo{TokenFile: genericKubeconfigTokenPath}, ""))
	if err != nil {
		return err
	}
	return f.Env.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: v1beta1constants.SecretNameGenericTokenKubeconfig, Namespace: f.ns},
		Data:       map[string][]byte{"kubeconfig": b},
	})
}

// startCCM runs `metalkube ccm` as the ControlPlane deployed it: the
// cloud-controller-manager Deployment's pod, through the pod runner, with its
// cloud config, cloudprovider Secret and generic kubeconfig as files.
func (f *Flow) startCCM(ctx context.Context) error {
	cp := &extensionsv1alpha1.ControlPlane{ObjectMeta: metav1.ObjectMeta{Name: "dev", Namespace: f.ns}}
	if err := f.succeeded(ctx, cp, 2*time.Minute); err != nil {
		return err
	}
	if err := f.waitApplied(ctx); err != nil {
		return err
	}
	dep := &appsv1.Deployment{}
	if err := f.Env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: CCMDeployment}, dep); err != nil {
		return fmt.Errorf("the ControlPlane's ccm Deployment: %w", err)
	}
	cm := &corev1.ConfigMap{}
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil {
			if err := f.Env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: v.ConfigMap.Name}, cm); err != nil {
				return err
			}
			for _, c := range cm.Data {
				f.detail("cloud config from the ControlPlane: %s", strings.ReplaceAll(strings.TrimSpace(c), "\n", ", "))
			}
		}
	}
	return f.startPod(ctx, podInput{name: "ccm", namespace: f.ns, spec: dep.Spec.Template.Spec})
}

// loopbackFlags name, per container of the pods the flow runs, the flag for
// the address it serves on: on this machine they listen on loopback, as in
// a pod they listen in the pod's network namespace.
func loopbackFlags() map[string]string {
	return map[string]string{
		CCMDeployment:      "bind-address", // its container is named as the Deployment
		MCMDeployment:      "address",
		MCMSidecar:         "address",
		ExtensionContainer: "webhook-config-server-host",
	}
}

// podInput is a pod the flow runs.
type podInput struct {
	name, namespace string
	spec            corev1.PodSpec
	// hostPorts: see framework.StartPodInput.HostPorts.
	hostPorts map[int32]int
}

// startPod runs a rendered pod spec through the pod runner, as its service
// account in its namespace. It is the one place the flow turns a rendered
// pod into running processes: a test bed with a real kubelet runs the same
// pods there instead.
func (f *Flow) startPod(ctx context.Context, in podInput) error {
	sa, err := f.serviceAccountKubeconfig(ctx, in.name, in.namespace, in.spec)
	if err != nil {
		return err
	}
	pod, err := framework.StartPod(ctx, framework.StartPodInput{
		Name: in.name, Namespace: in.namespace, Spec: in.spec, Client: f.Env.Client,
		Root: filepath.Join(f.LogDir, "pods"), LogDir: f.LogDir,
		Binaries:                 map[string]string{Image: f.metalkube, "./machine-controller-manager": f.mcm},
		ServiceAccountKubeconfig: sa,
		Env:                      []string{component.EnvLogFormat + "=" + f.LogFormat},
		LoopbackFlags:            loopbackFlags(),
		HostPorts:                in.hostPorts,
	})
	if err != nil {
		return err
	}
	for _, c := range pod.Containers {
		f.procs = append(f.procs, c.Process)
		f.detail("%s started (log %s): %s", c.Process.Name, c.Process.Log, strings.Join(c.Rendered, " "))
	}
	return nil
}

// apiServerKubeconfig is a kubeconfig of the test API server (seed and shoot
// alike here) authenticating with auth.
func (f *Flow) apiServerKubeconfig(auth *clientcmdapi.AuthInfo, namespace string) clientcmdapi.Config {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["api"] = &clientcmdapi.Cluster{Server: f.Env.Config.Host, CertificateAuthorityData: f.Env.Config.CAData}
	kc.AuthInfos["user"] = auth
	kc.Contexts["api"] = &clientcmdapi.Context{Cluster: "api", AuthInfo: "user", Namespace: namespace}
	kc.CurrentContext = "api"
	return *kc
}
