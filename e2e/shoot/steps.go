package shoot

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	machinev1alpha1 "github.com/gardener/machine-controller-manager/pkg/apis/machine/v1alpha1"
	metalv1alpha1 "github.com/ironcore-dev/metal-operator/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/clientcmd"
	ipamv1 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/e2e/framework"
	"github.com/metalkube/metalkube/shared/fleet"
)

type clientObject = client.Object

const interval = 250 * time.Millisecond

// succeeded waits until an extension object's last operation succeeded.
func (f *Flow) succeeded(ctx context.Context, obj extensionsv1alpha1.Object, timeout time.Duration) error {
	what := fmt.Sprintf("%T %s to succeed", obj, obj.GetName())
	return framework.Eventually(ctx, what, timeout, interval, func(ctx context.Context) (bool, error) {
		if err := f.Env.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return false, err
		}
		st := obj.GetExtensionStatus()
		if op := st.GetLastOperation(); op != nil {
			if op.State == gardencorev1beta1.LastOperationStateSucceeded && st.GetObservedGeneration() == obj.GetGeneration() {
				return true, nil
			}
			return false, fmt.Errorf("last operation %s %s: %s", op.Type, op.State, op.Description)
		}
		return false, nil
	})
}

func (f *Flow) waitInfrastructureAndOSC(ctx context.Context) error {
	infra := &extensionsv1alpha1.Infrastructure{ObjectMeta: metav1.ObjectMeta{Name: "dev", Namespace: f.ns}}
	if err := f.succeeded(ctx, infra, 2*time.Minute); err != nil {
		return err
	}
	f.detail("Infrastructure succeeded")
	o := f.osc()
	if err := f.succeeded(ctx, o, 2*time.Minute); err != nil {
		return err
	}
	if o.Status.CloudConfig == nil {
		return fmt.Errorf("OperatingSystemConfig %s succeeded without status.cloudConfig", o.Name)
	}
	s := &corev1.Secret{}
	if err := f.Env.Client.Get(ctx, client.ObjectKey{Namespace: o.Status.CloudConfig.SecretRef.Namespace, Name: o.Status.CloudConfig.SecretRef.Name}, s); err != nil {
		return err
	}
	f.detail("OperatingSystemConfig rendered: Secret %s (%d bytes of user data)", s.Name, len(s.Data[extensionsv1alpha1.OperatingSystemConfigSecretDataKey]))
	f.secrets = append(f.secrets, framework.Secret{Name: "user data", Value: s.Data[extensionsv1alpha1.OperatingSystemConfigSecretDataKey]})
	return nil
}

func (f *Flow) createWorkerAndControlPlane(ctx context.Context) error {
	c := f.Env.Client
	infra := &extensionsv1alpha1.Infrastructure{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "dev"}, infra); err != nil {
		return err
	}
	o := f.osc()
	if err := c.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil {
		return err
	}
	secretRef := corev1.SecretReference{Name: "cloudprovider", Namespace: f.ns}
	worker := &extensionsv1alpha1.Worker{
		ObjectMeta: metav1.ObjectMeta{Name: "dev", Namespace: f.ns},
		Spec: extensionsv1alpha1.WorkerSpec{
			DefaultSpec: extensionsv1alpha1.DefaultSpec{Type: ProviderType},
			Region:      Region, SecretRef: secretRef,
			InfrastructureProviderStatus: infra.Status.ProviderStatus,
			Pools: []extensionsv1alpha1.WorkerPool{{
				Name: Pool, Minimum: int32(f.Workers), Maximum: int32(f.Workers),
				MaxSurge: intstr.FromInt32(1), MaxUnavailable: intstr.FromInt32(0),
				MachineType:  "c1-large",
				MachineImage: extensionsv1alpha1.MachineImage{Name: "gardenlinux", Version: "1877.0.0"},
				Architecture: ptr("amd64"),
				Zones:        f.zones(),
				UserDataSecretRef: corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: o.Status.CloudConfig.SecretRef.Name},
					Key: extensionsv1alpha1.OperatingSystemConfigSecretDataKey},
				NodeAgentSecretName: ptr("gardener-node-agent-" + Pool),
				Labels:              map[string]string{"worker.gardener.cloud/pool": Pool},
			}},
		},
	}
	cp := &extensionsv1alpha1.ControlPlane{
		ObjectMeta: metav1.ObjectMeta{Name: "dev", Namespace: f.ns},
		Spec: extensionsv1alpha1.ControlPlaneSpec{
			DefaultSpec: extensionsv1alpha1.DefaultSpec{Type: ProviderType, ProviderConfig: rawJSON(map[string]any{
				"apiVersion": "provider.metalkube.io/v1alpha1", "kind": "ControlPlaneConfig",
				"loadBalancer": map[string]any{"mode": "metallb", "defaultExternalNetwork": LBNetwork}})},
			Region: Region, SecretRef: secretRef, InfrastructureProviderStatus: infra.Status.ProviderStatus,
		},
	}
	for _, obj := range []client.Object{worker, cp} {
		if err := c.Create(ctx, obj); err != nil {
			return fmt.Errorf("create %T: %w", obj, err)
		}
	}
	f.detail("Worker (pool %s, %d machines of c1-large over %v) and ControlPlane (metallb)", Pool, f.Workers, f.zones())
	return nil
}

func (f *Flow) waitNodes(ctx context.Context) error {
	c := f.Env.Client
	seen := map[string]string{}
	err := framework.Eventually(ctx, fmt.Sprintf("%d initialized nodes", f.Workers), 4*time.Minute, interval, func(ctx context.Context) (bool, error) {
		machines := &machinev1alpha1.MachineList{}
		if err := c.List(ctx, machines, client.InNamespace(f.ns)); err != nil {
			return false, err
		}
		for _, m := range machines.Items {
			phase := string(m.Status.CurrentStatus.Phase)
			if seen["machine/"+m.Name] != phase && phase != "" {
				seen["machine/"+m.Name] = phase
				f.detail("machine %s: %s (%s)", m.Name, phase, m.Spec.ProviderID)
			}
		}
		nodes := &corev1.NodeList{}
		if err := c.List(ctx, nodes); err != nil {
			return false, err
		}
		ready := 0
		for _, n := range nodes.Items {
			if !strings.HasPrefix(n.Name, f.ns+"-") {
				continue // another flow's
			}
			initialized := n.Spec.ProviderID != "" && !slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == fleet.TaintUninitialized })
			state := "registered"
			if initialized {
				state = fmt.Sprintf("initialized by ccm: %s, zone %s, instance type %s", n.Spec.ProviderID, n.Labels[corev1.LabelTopologyZone], n.Labels[corev1.LabelInstanceTypeStable])
				ready++
			}
			if seen["node/"+n.Name] != state {
				seen["node/"+n.Name] = state
				f.detail("node %s %s", n.Name, state)
			}
		}
		return ready == f.Workers, nil
	})
	if err != nil {
		return err
	}
	worker := &extensionsv1alpha1.Worker{ObjectMeta: metav1.ObjectMeta{Name: "dev", Namespace: f.ns}}
	if err := f.succeeded(ctx, worker, 3*time.Minute); err != nil {
		return err
	}
	f.detail("Worker succeeded")
	cp := &extensionsv1alpha1.ControlPlane{ObjectMeta: metav1.ObjectMeta{Name: "dev", Namespace: f.ns}}
	if err := f.succeeded(ctx, cp, 2*time.Minute); err != nil {
		return err
	}
	f.detail("ControlPlane succeeded")
	if f.Backend == BackendMetalStack {
		return f.checkMetalStackProject()
	}
	return nil
}

func (f *Flow) loadBalancer(ctx context.Context) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}},
	}
	if err := f.Env.Client.Create(ctx, svc); err != nil {
		return err
	}
	err := framework.Eventually(ctx, "the LoadBalancer IP of default/web", 2*time.Minute, interval, func(ctx context.Context) (bool, error) {
		if err := f.Env.Client.Get(ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
			return false, err
		}
		return len(svc.Status.LoadBalancer.Ingress) > 0 && svc.Status.LoadBalancer.Ingress[0].IP != "", nil
	})
	if err != nil {
		return err
	}
	f.lbIP = svc.Status.LoadBalancer.Ingress[0].IP
	f.detail("Service default/web: LoadBalancer IP %s", f.lbIP)
	// The ccm announces it the way the ControlPlane configured: MetalLB.
	return framework.Eventually(ctx, "a MetalLB IPAddressPool holding "+f.lbIP, time.Minute, interval, func(ctx context.Context) (bool, error) {
		pools := &unstructured.UnstructuredList{}
		pools.SetAPIVersion("metallb.io/v1beta1")
		pools.SetKind("IPAddressPoolList")
		if err := f.Env.Client.List(ctx, pools); err != nil {
			return false, err
		}
		for _, p := range pools.Items {
			addrs, _, _ := unstructured.NestedStringSlice(p.Object, "spec", "addresses")
			for _, a := range addrs {
				if strings.HasPrefix(a, f.lbIP+"/") || a == f.lbIP {
					f.detail("MetalLB IPAddressPool %s/%s announces %s", p.GetNamespace(), p.GetName(), a)
					return true, nil
				}
			}
		}
		return false, nil
	})
}

// gone waits until obj no longer exists.
func (f *Flow) gone(ctx context.Context, obj client.Object, timeout time.Duration) error {
	return framework.Eventually(ctx, fmt.Sprintf("%T %s to be deleted", obj, obj.GetName()), timeout, interval, func(ctx context.Context) (bool, error) {
		err := f.Env.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj)
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

func (f *Flow) deleteShoot(ctx context.Context) error {
	c := f.Env.Client
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}}
	if err := c.Delete(ctx, svc); client.IgnoreNotFound(err) != nil {
		return err
	}
	if err := f.gone(ctx, svc, time.Minute); err != nil {
		return err
	}
	f.detail("Service deleted")
	// gardenlet's order: workers first, then the control plane, the OSC and
	// the infrastructure.
	for _, obj := range []client.Object{
		&extensionsv1alpha1.Worker{ObjectMeta: metav1.ObjectMeta{Name: "dev", Namespace: f.ns}},
		&extensionsv1alpha1.ControlPlane{ObjectMeta: metav1.ObjectMeta{Name: "dev", Namespace: f.ns}},
		f.osc(),
		&extensionsv1alpha1.Infrastructure{ObjectMeta: metav1.ObjectMeta{Name: "dev", Namespace: f.ns}},
	} {
		if _, ok := obj.(*extensionsv1alpha1.ControlPlane); ok && f.Kubelet != nil {
			// The kubelet removes a pod's logs with the pod: keep the
			// ccm's and mcm's before the ControlPlane takes them away.
			if err := f.keepPodLogs(); err != nil {
				return err
			}
		}
		if err := c.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
			return err
		}
		if err := f.gone(ctx, obj, 4*time.Minute); err != nil {
			return err
		}
		f.detail("%s deleted", strings.TrimPrefix(fmt.Sprintf("%T", obj), "*v1alpha1."))
	}
	return c.Delete(ctx, &extensionsv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: f.ns}})
}

// checkLeaks fails on any server claim, IP claim, user-data Secret or machine
// left behind, or a server not back to Available.
func (f *Flow) checkLeaks(ctx context.Context) error {
	if f.Backend == BackendMetalStack {
		return f.checkMetalStackLeaks(ctx)
	}
	c := f.Env.Client
	var leaks []string
	err := framework.Eventually(ctx, "every server, claim and IP to be free", 2*time.Minute, interval, func(ctx context.Context) (bool, error) {
		leaks = nil
		claims := &metalv1alpha1.ServerClaimList{}
		ipClaims := &ipamv1.IPAddressClaimList{}
		addrs := &ipamv1.IPAddressList{}
		secrets := &corev1.SecretList{}
		machines := &machinev1alpha1.MachineList{}
		servers := &metalv1alpha1.ServerList{}
		for _, l := range []client.ObjectList{claims, ipClaims, addrs, secrets} {
			if err := c.List(ctx, l, client.InNamespace(MetalNamespace)); err != nil {
				return false, err
			}
		}
		if err := c.List(ctx, machines, client.InNamespace(f.ns)); err != nil {
			return false, err
		}
		if err := c.List(ctx, servers); err != nil {
			return false, err
		}
		for _, x := range claims.Items {
			leaks = append(leaks, "ServerClaim "+x.Name)
		}
		for _, x := range ipClaims.Items {
			leaks = append(leaks, "IPAddressClaim "+x.Name)
		}
		for _, x := range addrs.Items {
			leaks = append(leaks, "IPAddress "+x.Name+" "+x.Spec.Address)
		}
		for _, x := range secrets.Items {
			leaks = append(leaks, "Secret "+x.Name)
		}
		for _, x := range machines.Items {
			leaks = append(leaks, "Machine "+x.Name)
		}
		for _, s := range servers.Items {
			if s.Status.State != metalv1alpha1.ServerStateAvailable || s.Spec.ServerClaimRef != nil {
				leaks = append(leaks, fmt.Sprintf("Server %s %s", s.Name, s.Status.State))
			}
		}
		return len(leaks) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("%w: left behind: %s", err, strings.Join(leaks, ", "))
	}
	f.detail("all %d servers Available; no ServerClaim, IP claim, Secret or Machine left", f.Servers)
	return nil
}

// scanLogs fails if any process's log holds the admin credentials, the
// shoot's cloudprovider credentials or the user data the flow used.
func (f *Flow) scanLogs(ctx context.Context) error {
	secrets := slices.Clone(f.secrets)
	kc, err := clientcmd.LoadFromFile(f.kubeconfig)
	if err != nil {
		return err
	}
	for name, a := range kc.AuthInfos {
		secrets = append(secrets, framework.Secret{Name: "client key of " + name, Value: a.ClientKeyData}, framework.Secret{Name: "token of " + name, Value: []byte(a.Token)})
	}
	cp := &corev1.Secret{}
	if err := f.Env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "cloudprovider"}, cp); err == nil {
		for k, v := range cp.Data {
			if k == "metalAPIURL" {
				continue // an address, logged like any endpoint; no credential
			}
			secrets = append(secrets, framework.Secret{Name: "cloudprovider " + k, Value: v})
		}
	}
	var files []string
	for _, p := range f.procs {
		files = append(files, p.Log)
	}
	extLogs, err := f.extensionLogs()
	if err != nil {
		return err
	}
	if f.Kubelet != nil {
		if err := f.keepPodLogs(); err != nil {
			return err
		}
		files = append(files, slices.Sorted(maps.Values(f.keptLogs))...)
	}
	if err := framework.ScanLogs(files, secrets); err != nil {
		return err
	}
	f.detail("%d logs hold none of %d secrets (credentials, user data)", len(files), len(secrets))
	return f.checkExtensionRBAC(extLogs)
}

// extensionLogs are the log files of the extension's container: its
// process's, or on a real node what the kubelet wrote.
func (f *Flow) extensionLogs() ([]string, error) {
	if f.Kubelet != nil {
		logs, err := f.Kubelet.PodLogs(f.ExtensionNamespace())
		if err == nil && len(logs) == 0 {
			err = fmt.Errorf("no pod log in namespace %s", f.ExtensionNamespace())
		}
		return logs, err
	}
	for _, p := range f.procs {
		if p.Name == Release+"-"+ExtensionContainer {
			return []string{p.Log}, nil
		}
	}
	return nil, fmt.Errorf("no %s-%s process", Release, ExtensionContainer)
}

// checkExtensionRBAC fails on any request the API server refused the
// extension: it runs as the chart's ServiceAccount, so a refusal is a gap in
// the chart's RBAC that a seed would hit too.
func (f *Flow) checkExtensionRBAC(logs []string) error {
	for _, log := range logs {
		b, err := os.ReadFile(log)
		if err != nil {
			return err
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "is forbidden") {
				return fmt.Errorf("the chart's RBAC refused the extension a request (log %s): %s", log, l)
			}
		}
	}
	f.detail("the extension, as the chart's ServiceAccount, was refused no request")
	return nil
}

// keepPodLogs copies the logs the kubelet wrote of the flow's pods (the
// shoot's and the extension's) into LogDir, where the log scan reads them
// after the pods are gone; a later copy of the same log replaces the earlier.
func (f *Flow) keepPodLogs() error {
	if f.keptLogs == nil {
		f.keptLogs = map[string]string{}
	}
	for _, ns := range []string{f.ns, f.ExtensionNamespace()} {
		logs, err := f.Kubelet.PodLogs(ns)
		if err != nil {
			return err
		}
		for _, l := range logs {
			// <namespace>_<pod>_<uid>/<container>/<n>.log
			rel, err := filepath.Rel(filepath.Dir(filepath.Dir(filepath.Dir(l))), l)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(l)
			if err != nil {
				return err
			}
			dst := filepath.Join(f.LogDir, "kubelet", rel)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(dst, b, 0o600); err != nil {
				return err
			}
			f.keptLogs[l] = dst
		}
	}
	return nil
}
