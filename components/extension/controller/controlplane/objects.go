package controlplane

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	gardenerutils "github.com/gardener/gardener/pkg/utils/gardener"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/metalkube/metalkube/components/extension/apis/metal/v1alpha1"
	"github.com/metalkube/metalkube/components/extension/cloudprovider"
	"github.com/metalkube/metalkube/components/extension/provider"
	"github.com/metalkube/metalkube/shared/providerid"
)

// Paths and ports inside the CCM pod.
const (
	CloudConfigMount = "/etc/metalkube/cloud-config"
	CloudConfigKey   = "cloud-config.yaml"
	CCMPort          = 10258
	// CCMLivenessPath is `metalkube ccm`'s /healthz without its backend
	// check (ccm app.LivenessPath; the backend's health is readiness).
	CCMLivenessPath = "/healthz?exclude=metalkube-backend-health"
)

// Values are the inputs of the control plane objects.
type Values struct {
	// Namespace is the shoot's seed namespace.
	Namespace string
	// Cluster is the backend cluster name (technical ID).
	Cluster string
	// Image runs `metalkube ccm`.
	Image string
	// Replicas of the CCM: 0 while hibernated.
	Replicas int32
	// KubernetesVersion of the shoot.
	KubernetesVersion string
	// PodCIDR of the shoot (--cluster-cidr).
	PodCIDR string
	// Region and Partition the cluster runs in.
	Region, Partition string
	// Backend are the flags reaching the backend, rendered from the
	// cloudprovider Secret (package cloudprovider).
	Backend *cloudprovider.Flags
	// Network is the node network; ExternalNetworks may carry LB IPs.
	Network          string
	ExternalNetworks []string
	// CloudProviderSecret is the Shoot's credentials Secret in Namespace.
	CloudProviderSecret string
	// GenericKubeconfig is the name of the generic token kubeconfig Secret.
	GenericKubeconfig string
	// Config is the defaulted ControlPlaneConfig.
	Config *v1alpha1.ControlPlaneConfig
}

// CloudProviderName is the name `metalkube ccm` registers its cloud provider
// under (the provider ID scheme).
const CloudProviderName = providerid.Scheme

// CloudConfig is the CCM's --cloud-config file. `metalkube ccm` reads a YAML
// map whose keys are its own flag names (flags on the command line win), so
// the keys here are those flags; unknown keys make it refuse to start.
type CloudConfig struct {
	// Cluster is --metal-cluster: the owner of the cluster's machines and IPs.
	Cluster string `json:"metal-cluster"`
	// Announce is --announce: metallb or cilium.
	Announce string `json:"announce,omitempty"`
	// LBNetwork is --lb-network: where LoadBalancer IPs come from.
	LBNetwork string `json:"lb-network,omitempty"`
	// LBAdditionalNetworks is --lb-additional-network: networks a Service
	// may choose instead.
	LBAdditionalNetworks []string `json:"lb-additional-network,omitempty"`
	// IPPools is --ip-pool: the IPAM pool of each network (ironcore).
	IPPools []string `json:"ip-pool,omitempty"`
}

func ccmLabels() map[string]string {
	return map[string]string{"app": "kubernetes", "role": "cloud-controller-manager"}
}

// SeedObjects are the objects in the seed namespace.
func SeedObjects(v Values) ([]client.Object, error) {
	conf := CloudConfig{Cluster: v.Cluster, Announce: v1alpha1.DefaultLoadBalancerMode}
	if c := v.Config.LoadBalancer; c != nil {
		if c.Mode != "" {
			conf.Announce = c.Mode
		}
		conf.LBNetwork = c.DefaultExternalNetwork
		conf.LBAdditionalNetworks = c.AdditionalNetworks
	}
	if v.Backend == nil {
		return nil, fmt.Errorf("no backend flags for the ccm of %s", v.Namespace)
	}
	conf.IPPools = v.Backend.IPPools
	if conf.LBNetwork == "" && len(v.ExternalNetworks) > 0 {
		conf.LBNetwork = v.ExternalNetworks[0]
	}
	cc, err := yaml.Marshal(conf)
	if err != nil {
		return nil, err
	}
	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: provider.CloudProviderConfigName, Namespace: v.Namespace},
		Data:       map[string]string{CloudConfigKey: string(cc)},
	}

	args := []string{
		"ccm",
		"--cloud-provider=" + CloudProviderName,
		"--cloud-config=" + CloudConfigMount + "/" + CloudConfigKey,
		"--cluster-name=" + v.Cluster,
		"--kubeconfig=" + genericKubeconfigPath,
		"--authentication-kubeconfig=" + genericKubeconfigPath,
		"--authorization-kubeconfig=" + genericKubeconfigPath,
		"--leader-elect=true",
		fmt.Sprintf("--secure-port=%d", CCMPort),
		"--log-level=2",
	}
	args = append(args, v.Backend.Args...)
	if v.PodCIDR != "" {
		args = append(args, "--cluster-cidr="+v.PodCIDR, "--allocate-node-cidrs=false")
	}
	if c := v.Config.CloudControllerManager; c != nil && len(c.FeatureGates) > 0 {
		var gates []string
		for _, k := range slices.Sorted(maps.Keys(c.FeatureGates)) {
			gates = append(gates, fmt.Sprintf("%s=%t", k, c.FeatureGates[k]))
		}
		args = append(args, "--feature-gates="+strings.Join(gates, ","))
	}

	podLabels := ccmLabels()
	// Network policies of the seed: DNS, the shoot's API server, and the
	// backend (public networks).
	podLabels["networking.gardener.cloud/to-dns"] = "allowed"
	podLabels["networking.gardener.cloud/to-public-networks"] = "allowed"
	podLabels["networking.gardener.cloud/to-private-networks"] = "allowed"
	podLabels["networking.resources.gardener.cloud/to-kube-apiserver-tcp-443"] = "allowed"

	deploy := &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{
			Name: provider.CloudControllerManagerName, Namespace: v.Namespace, Labels: ccmLabels(),
			Annotations: map[string]string{"metalkube.io/kubernetes-version": v.KubernetesVersion},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas:             ptr.To(v.Replicas),
			RevisionHistoryLimit: ptr.To[int32](2),
			Selector:             &metav1.LabelSelector{MatchLabels: ccmLabels()},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken: ptr.To(false),
					PriorityClassName:            "gardener-system-300",
					Containers: []corev1.Container{{
						Name:            provider.CloudControllerManagerName,
						Image:           v.Image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Args:            args,
						Ports:           []corev1.ContainerPort{{Name: "metrics", ContainerPort: CCMPort, Protocol: corev1.ProtocolTCP}},
						// Backend health is readiness only: an outage must not
						// restart the ccm.
						LivenessProbe: &corev1.Probe{
							ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
								Path: CCMLivenessPath, Scheme: corev1.URISchemeHTTPS, Port: intstr.FromInt32(CCMPort),
							}},
							InitialDelaySeconds: 15, PeriodSeconds: 10, FailureThreshold: 3,
						},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
								Path: "/healthz", Scheme: corev1.URISchemeHTTPS, Port: intstr.FromInt32(CCMPort),
							}},
							PeriodSeconds: 10,
						},
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
						}},
						SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532)},
						VolumeMounts: []corev1.VolumeMount{
							{Name: "cloud-provider-config", MountPath: CloudConfigMount, ReadOnly: true},
							cloudprovider.Mount(),
						},
					}},
					Volumes: []corev1.Volume{
						{Name: "cloud-provider-config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
							LocalObjectReference: corev1.LocalObjectReference{Name: provider.CloudProviderConfigName}}}},
						cloudprovider.Volume(v.CloudProviderSecret),
					},
				},
			},
		},
	}
	if err := injectKubeconfig(deploy, v.GenericKubeconfig); err != nil {
		return nil, err
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: provider.CloudControllerManagerName, Namespace: v.Namespace, Labels: ccmLabels()},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: ccmLabels(),
			Ports:    []corev1.ServicePort{{Name: "metrics", Port: CCMPort, TargetPort: intstr.FromInt32(CCMPort), Protocol: corev1.ProtocolTCP}},
		},
	}
	return []client.Object{cm, deploy, svc}, nil
}

// CCMUser is the shoot user the CCM authenticates as (the service account of
// its shoot access Secret).
const CCMUser = "system:serviceaccount:kube-system:" + provider.CloudControllerManagerName

// ShootObjects are the objects in the shoot.
func ShootObjects() []client.Object {
	name := "system:controller:metalkube:" + provider.CloudControllerManagerName
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: provider.CloudControllerManagerName, Namespace: metav1.NamespaceSystem}}
	return []client.Object{
		&rbacv1.ClusterRole{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch", "update"}},
				{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch", "update", "patch", "delete"}},
				{APIGroups: []string{""}, Resources: []string{"nodes/status"}, Verbs: []string{"patch", "update"}},
				{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get", "list", "watch", "update", "patch"}},
				{APIGroups: []string{""}, Resources: []string{"services/status"}, Verbs: []string{"patch", "update"}},
				{APIGroups: []string{""}, Resources: []string{"serviceaccounts", "configmaps", "secrets"}, Verbs: []string{"get", "list", "watch", "create", "update"}},
				{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch", "create", "update"}},
				{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}},
				// Load balancer announcements (components/lb): MetalLB and Cilium BGP.
				{APIGroups: []string{"metallb.io"}, Resources: []string{"ipaddresspools", "bgppeers", "bgpadvertisements", "l2advertisements"}, Verbs: []string{"*"}},
				{APIGroups: []string{"cilium.io"}, Resources: []string{"ciliumloadbalancerippools", "ciliumbgpclusterconfigs", "ciliumbgppeerconfigs", "ciliumbgpadvertisements"}, Verbs: []string{"*"}},
			},
		},
		&rbacv1.ClusterRoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
			Subjects:   subjects,
		},
		// The ccm authorizes requests to its /metrics through the shoot's
		// API server (--authorization-kubeconfig): it creates TokenReviews
		// and SubjectAccessReviews there. Without this the endpoint answers
		// 500 to everyone, Prometheus included.
		&rbacv1.ClusterRoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: name + ":auth-delegator"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:auth-delegator"},
			Subjects:   subjects,
		},
		&rbacv1.RoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: "metalkube:cloud-controller-manager:authentication-reader", Namespace: metav1.NamespaceSystem},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "extension-apiserver-authentication-reader"},
			Subjects:   subjects,
		},
	}
}

func injectKubeconfig(d *appsv1.Deployment, genericKubeconfig string) error {
	return gardenerutils.InjectGenericKubeconfig(d, genericKubeconfig, ShootAccessSecretName)
}
