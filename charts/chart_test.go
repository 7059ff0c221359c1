package charts

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/metalkube/metalkube/shared/testenv"
	"github.com/metalkube/metalkube/shared/testkit"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(testenv.Main(m, testenv.Options{
		// The chart's own CRDs, as the chart ships them: the dry run checks
		// objects against them and the test below checks they are current.
		CRDPaths: []string{filepath.Join(chartDir, "charts", "firewall", "crds"), filepath.Join(chartDir, "charts", "capi", "crds")},
	}, &env))
}

// components are the subcharts, each switchable with <name>.enabled.
var components = []string{"ccm", "lb", "mcm", "os", "firewall", "extension", "admission", "csi", "capi"}

// workloadsOf is how many Deployments and DaemonSets a component renders:
// one, but csi's controller Deployment and node DaemonSet.
func workloadsOf(c string) int {
	if c == "csi" {
		return 2
	}
	return 1
}

// testCA is the webhook CA bundle the cases put into the chart's values: a
// fixed self-signed CA, so that the golden files are stable
// (testdata/webhook-ca.pem; any CA certificate will do).
var testCA = func() string {
	b, err := os.ReadFile(filepath.Join("testdata", "webhook-ca.pem"))
	if err != nil {
		panic(err)
	}
	if blk, _ := pem.Decode(b); blk == nil || blk.Type != "CERTIFICATE" {
		panic("testdata/webhook-ca.pem: no certificate")
	}
	return string(b)
}()

// requiredValues are what the chart refuses to install without, for every
// component: the cluster's name in the backend (ccm, lb), the firewall's
// interfaces and node network, and the webhooks' CA bundle (their
// failurePolicy is Fail).
//
// No component is on by default; these values enable five (ccm, mcm, os,
// extension, admission), so that one rendering covers components of several
// roles and the backend settings they share.
func requiredValues() map[string]any {
	return map[string]any{
		"ccm":       map[string]any{"enabled": true, "cluster": "shoot-a"},
		"lb":        map[string]any{"cluster": "shoot-a"},
		"mcm":       map[string]any{"enabled": true},
		"os":        map[string]any{"enabled": true},
		"firewall":  map[string]any{"externalInterfaces": []any{"eth0"}, "internalInterfaces": []any{"eth1"}, "nodeCIDRs": []any{"10.0.0.0/16"}},
		"extension": map[string]any{"enabled": true, "webhook": map[string]any{"caBundle": testCA}},
		"admission": map[string]any{"enabled": true, "webhook": map[string]any{"caBundle": testCA}},
		"csi":       map[string]any{"devices": []any{"/dev/nvme*n1"}},
		"capi":      map[string]any{"webhook": map[string]any{"caBundle": testCA}},
	}
}

// merge merges src into dst, maps deeply, src winning.
func merge(dst, src map[string]any) map[string]any {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

// withRequired returns values (YAML) with requiredValues under extra (YAML).
func withRequired(extra string) string {
	vals := map[string]any{}
	if err := yaml.Unmarshal([]byte(extra), &vals); err != nil {
		panic(err)
	}
	out, err := yaml.Marshal(merge(requiredValues(), vals))
	if err != nil {
		panic(err)
	}
	return string(out)
}

// only returns values (YAML) with one component enabled and the others
// off, merged with requiredValues and extra (YAML).
func only(c string, extra string) string {
	vals := map[string]any{}
	if err := yaml.Unmarshal([]byte(extra), &vals); err != nil {
		panic(err)
	}
	vals = merge(requiredValues(), vals)
	for _, x := range components {
		sub, _ := vals[x].(map[string]any)
		if sub == nil {
			sub = map[string]any{}
		}
		sub["enabled"] = x == c
		vals[x] = sub
	}
	out, err := yaml.Marshal(vals)
	if err != nil {
		panic(err)
	}
	return string(out)
}

// testWebhookURL is the webhook base URL of the url-mode case.
const testWebhookURL = "https://10.0.0.1:9443"

type chartCase struct {
	name   string
	values string
}

// cases: five components of several roles (requiredValues), each component alone with what it needs, and the
// backend variants (metalstack credentials, ironcore kubeconfig, cilium).
var cases = []chartCase{
	{name: "five-components", values: ""},
	{name: "ccm", values: only("ccm", "ccm:\n  cluster: shoot-a\n  podCIDR:\n    nodeNetworks: [10.0.0.0/16]\n    clusterCIDRs: [100.64.0.0/12]\n    maskSizeIPv4: 24\n  loadBalancer:\n    network: internet\n    bgpPeerASN: 4200000001\n    l2Advertisement: false\n")},
	{name: "lb", values: only("lb", "lb:\n  cluster: shoot-a\n  loadBalancerClass: metalkube.io/lb\n  network: internet\n  networkIPv6: internet-v6\n")},
	{name: "lb-cilium", values: only("lb", "lb:\n  cluster: shoot-a\n  announce: cilium\n")},
	{name: "mcm", values: only("mcm", "mcm:\n  namespace: shoot--a--b\n  machineCreationTimeout: 30m\n  csiDrivers: [lvm.csi.metal-stack.io]\n")},
	{name: "mcm-target", values: only("mcm", "mcm:\n  targetKubeconfigSecret:\n    name: shoot-kubeconfig\n    key: kubeconfig\n")},
	{name: "os", values: only("os", "os:\n  formats:\n    flatcar: ignition\n  defaultFormat: cloud-init\n  ignoreOperationAnnotation: true\n")},
	{name: "firewall", values: only("firewall", "firewall:\n  externalInterfaces: [eth0]\n  internalInterfaces: [eth1]\n  nodeCIDRs: [10.0.0.0/16, fd00::/64]\n  snat: [eth0]\n  rateLimits: [eth0=1000]\n  logGroup: 100\n  metalStackPolicies: true\n  dnsProxyAddress: 10.0.0.1:53\n  suricataSocket: /run/suricata-command.socket\n")},
	{name: "extension", values: only("extension", "extension:\n  webhook:\n    caBundle: |\n"+indent(testCA, 6))},
	{name: "capi", values: only("capi", "capi:\n  machineConcurrency: 20\n  pollInterval: 10s\n  retryInterval: 1m\n  webhook:\n    caBundle: |\n"+indent(testCA, 6))},
	{name: "capi-no-webhooks", values: only("capi", "capi:\n  webhook:\n    enabled: false\n")},
	{name: "extension-url", values: only("extension", "extension:\n  webhook:\n    url: "+testWebhookURL+"\n    caBundle: |\n"+indent(testCA, 6))},
	{name: "admission", values: only("admission", "admission:\n  disableWebhooks: [mutator]\n  webhook:\n    caBundle: |\n"+indent(testCA, 6))},
	{name: "csi", values: only("csi", "csi:\n  devices: [/dev/nvme*n1, \"/dev/sd[b-z]\"]\n  activation: dm\n  defaultStorageClass: csi-lvm\n  fsType: xfs\n  storageClasses: [{name: csi-lvm, type: linear}, {name: csi-lvm-striped, type: striped, fsType: ext4}]\n")},
	{name: "metalstack", values: `global:
  backend:
    name: metalstack
    metalstack:
      url: https://api.metal-stack.example
      hmacSecret: {name: metal-api-credentials, key: hmac}
      hmacAuthType: Metal-Edit
      project: 6f3c2d1e
      partition: fra-1
      networks: [internet]
      dnsServers: [1.1.1.1, 8.8.8.8]
ccm:
  cluster: shoot-a
lb:
  enabled: true
  cluster: shoot-a
  loadBalancerClass: metalkube.io/lb
`},
	{name: "webhooks-cert-manager", values: `extension:
  webhook:
    caBundle: ""
    certManager: {enabled: true}
admission:
  webhook:
    caBundle: ""
    certManager:
      enabled: true
      issuerRef: {name: garden-ca, kind: ClusterIssuer, group: cert-manager.io}
`},
	{name: "operations", values: operationsValues()},
	{name: "ironcore-remote", values: `global:
  backend:
    namespace: metal
    kubeconfigSecret: {name: metal-operator-kubeconfig, key: kubeconfig}
    ipPools: [internet=GlobalInClusterIPPool/internet]
    timeout: 45s
ccm:
  cluster: shoot-a
`},
	{name: "ironcore-in-cluster", values: `global:
  backend:
    namespace: metal
  logging: {format: console, level: debug}
  image: {repository: registry.example/metalkube, tag: v1.2.3, pullPolicy: Always}
  imagePullSecrets: [{name: registry}]
`},
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n"+pad) + "\n"
}

func TestRender(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, withRequired(tc.values))
			if len(workloads(t, r.objs)) == 0 {
				t.Fatal("no Deployment or DaemonSet rendered")
			}
			testkit.Golden(t, filepath.Join("testdata", tc.name+".yaml"), []byte(r.text))
			checkRBAC(t, r.objs)
			checkPods(t, r.objs)
			checkServices(t, r.objs)
			checkWebhooks(t, r.objs)
		})
	}
}

// TestEachComponentAlone: a component's switch renders exactly its objects.
func TestEachComponentAlone(t *testing.T) {
	for _, c := range components {
		t.Run(c, func(t *testing.T) {
			r := render(t, only(c, ""))
			if w := workloads(t, r.objs); len(w) != workloadsOf(c) {
				t.Fatalf("%d workloads rendered, want %d", len(w), workloadsOf(c))
			}
			for _, o := range r.objs {
				if got := o.GetLabels()["app.kubernetes.io/component"]; got != c {
					t.Errorf("%s: component label %q, want %q", key(o), got, c)
				}
			}
		})
	}
}

// TestBackendRBACPerComponent: on the in-cluster ironcore backend each
// component may touch only the backend objects it calls: the ccm reads
// ServerClaims and writes none, the extension and lb never see them, only
// the mcm driver creates them with their ignition Secrets.
// TestCCMProbes: backend health is the ccm's readiness, never its liveness,
// so a backend outage does not restart it.
func TestCCMProbes(t *testing.T) {
	ws := workloads(t, render(t, only("ccm", "")).objs)
	if len(ws) != 1 {
		t.Fatalf("ccm alone renders %d workloads", len(ws))
	}
	c := ws[0].pod.Containers[0]
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz?exclude=metalkube-backend-health" {
		t.Errorf("ccm liveness probe %+v, want /healthz without metalkube-backend-health", p)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		t.Errorf("ccm readiness probe %+v, want /healthz", p)
	}
}

// rbacRules returns the rules of a Role or ClusterRole, none for other kinds.
func rbacRules(t *testing.T, o *unstructured.Unstructured) []rbacv1.PolicyRule {
	switch o.GetKind() {
	case "Role":
		return convert[rbacv1.Role](t, o).Rules
	case "ClusterRole":
		return convert[rbacv1.ClusterRole](t, o).Rules
	}
	return nil
}

// TestSecretsNotCached: os and the extension read Secrets one by one and
// never cache them, so neither may watch Secrets (and os may not list them).
func TestSecretsNotCached(t *testing.T) {
	for c, forbidden := range map[string][]string{"os": {"list", "watch"}, "extension": {"watch"}, "capi": {"list", "watch"}} {
		t.Run(c, func(t *testing.T) {
			for _, o := range render(t, only(c, "")).objs {
				for _, r := range rbacRules(t, o) {
					if !slices.Contains(r.Resources, "secrets") {
						continue
					}
					for _, v := range forbidden {
						if slices.Contains(r.Verbs, v) || slices.Contains(r.Verbs, "*") {
							t.Errorf("%s %s may %s Secrets: %v", o.GetKind(), o.GetName(), v, r.Verbs)
						}
					}
				}
			}
		})
	}
}

func TestBackendRBACPerComponent(t *testing.T) {
	type want struct{ claimWrites, claimReads, secretWrites bool }
	for c, w := range map[string]want{
		"ccm":       {claimReads: true},
		"lb":        {},
		"extension": {secretWrites: true}, // its own Secrets in shoot namespaces
		"mcm":       {claimWrites: true, claimReads: true, secretWrites: true},
		"capi":      {claimWrites: true, claimReads: true, secretWrites: true},
	} {
		t.Run(c, func(t *testing.T) {
			r := render(t, only(c, "global:\n  backend:\n    namespace: metal\n"))
			var got want
			for _, o := range r.objs {
				for _, rule := range rbacRules(t, o) {
					writes := slices.ContainsFunc(rule.Verbs, func(v string) bool { return v == "create" || v == "update" || v == "patch" || v == "delete" })
					if slices.Contains(rule.Resources, "serverclaims") {
						got.claimReads = got.claimReads || slices.Contains(rule.Verbs, "get")
						got.claimWrites = got.claimWrites || writes
					}
					if slices.Contains(rule.Resources, "secrets") && writes {
						got.secretWrites = true
					}
				}
			}
			if got != w {
				t.Errorf("%s: ServerClaim reads %v writes %v, Secret writes %v; want %+v", c, got.claimReads, got.claimWrites, got.secretWrites, w)
			}
		})
	}
}

func convert[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	var out T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, &out, true); err != nil {
		t.Fatalf("%s: %v", key(u), err)
	}
	return &out
}

// deleteCollectionAllowed: the extension's Worker deletion is Gardener's
// generic worker actuator, which deletes a namespace's MachineDeployments,
// MachineClasses and MachineClass Secrets each as a collection (the e2e
// showed it refused without); no other role may delete collections.
func deleteCollectionAllowed(o *unstructured.Unstructured, r rbacv1.PolicyRule) bool {
	if o.GetKind() != "ClusterRole" || o.GetLabels()["app.kubernetes.io/component"] != "extension" {
		return false
	}
	for _, res := range r.Resources {
		if !slices.Contains([]string{"machinedeployments", "machineclasses", "secrets"}, res) {
			return false
		}
	}
	return true
}

// checkRBAC: no wildcards anywhere in a rule, and none of the verbs that
// hand out more rights than the role holds.
func checkRBAC(t *testing.T, objs []*unstructured.Unstructured) {
	for _, o := range objs {
		if k := o.GetKind(); k != "Role" && k != "ClusterRole" {
			continue
		}
		rules := rbacRules(t, o)
		if len(rules) == 0 {
			t.Errorf("%s: no rules", key(o))
		}
		for i, r := range rules {
			for _, list := range [][]string{r.Verbs, r.APIGroups, r.Resources, r.ResourceNames, r.NonResourceURLs} {
				for _, s := range list {
					if strings.Contains(s, "*") {
						t.Errorf("%s rule %d: wildcard %q", key(o), i, s)
					}
				}
			}
			for _, v := range r.Verbs {
				if v == "deletecollection" && deleteCollectionAllowed(o, r) {
					continue
				}
				if slices.Contains([]string{"escalate", "bind", "impersonate", "deletecollection"}, v) {
					t.Errorf("%s rule %d: verb %q", key(o), i, v)
				}
			}
			if len(r.Verbs) == 0 || (len(r.Resources) == 0 && len(r.NonResourceURLs) == 0) {
				t.Errorf("%s rule %d: empty", key(o), i)
			}
		}
	}
}

// workload is a Deployment or DaemonSet, reduced to what the checks need.
type workload struct {
	key      string
	replicas int32
	daemon   bool
	labels   map[string]string
	pod      corev1.PodSpec
	// annotations of the pod template.
	annotations map[string]string
}

func workloads(t *testing.T, objs []*unstructured.Unstructured) []workload {
	var out []workload
	for _, o := range objs {
		switch o.GetKind() {
		case "Deployment":
			d := convert[appsv1.Deployment](t, o)
			out = append(out, workload{key: key(o), replicas: *d.Spec.Replicas, labels: d.Spec.Template.Labels, pod: d.Spec.Template.Spec, annotations: d.Spec.Template.Annotations})
		case "DaemonSet":
			d := convert[appsv1.DaemonSet](t, o)
			out = append(out, workload{key: key(o), daemon: true, labels: d.Spec.Template.Labels, pod: d.Spec.Template.Spec, annotations: d.Spec.Template.Annotations})
		}
	}
	return out
}

func (w workload) component() string { return w.labels["app.kubernetes.io/component"] }

// rootPod: the two DaemonSets allowed to run as root, the firewall agent
// and the csi node plugin; every other pod runs as uid 65532.
func (w workload) rootPod() bool {
	return w.daemon && (w.component() == "firewall" || w.component() == "csi")
}

// containerRole is which rules a container is held to.
type containerRole int

const (
	// roleMetalkube: a metalkube subcommand, non-root uid 65532,
	// unprivileged, no added capabilities, HTTP probes, a metrics port.
	roleMetalkube containerRole = iota
	// roleFirewall: the firewall agent, root with NET_ADMIN (and NET_RAW,
	// NET_BIND_SERVICE) only.
	roleFirewall
	// roleCSINodePlugin: `metalkube csi --role=node` in the csi DaemonSet,
	// root and privileged (devices, loop/dm ioctls, Bidirectional mounts).
	roleCSINodePlugin
	// roleCSISidecar: an upstream CSI sidecar of the csi component, its
	// pinned image: unprivileged, every capability dropped, uid 65532 in the
	// controller and 0 in the node pod; not a metalkube subcommand.
	roleCSISidecar
)

// csiSidecarImages are the only containers that run another image than
// metalkube's: container name -> image repository (registry.k8s.io).
var csiSidecarImages = map[string]string{
	"csi-provisioner":       "registry.k8s.io/sig-storage/csi-provisioner",
	"csi-resizer":           "registry.k8s.io/sig-storage/csi-resizer",
	"node-driver-registrar": "registry.k8s.io/sig-storage/csi-node-driver-registrar",
	"livenessprobe":         "registry.k8s.io/sig-storage/livenessprobe",
}

// roleOf says which rules hold for container c of w. The exceptions are
// matched narrowly, by component, workload kind, container name, and image
// or arguments, so that nothing else falls under them.
func roleOf(w workload, c corev1.Container) containerRole {
	switch {
	case w.component() == "firewall" && w.daemon && c.Name == "firewall":
		return roleFirewall
	case w.component() == "csi" && w.daemon && c.Name == "csi" && len(c.Args) > 0 && c.Args[0] == "csi" && slices.Contains(c.Args, "--role=node"):
		return roleCSINodePlugin
	case w.component() == "csi":
		if repo, ok := csiSidecarImages[c.Name]; ok && strings.HasPrefix(c.Image, repo+":") {
			return roleCSISidecar
		}
	}
	return roleMetalkube
}

func checkPods(t *testing.T, objs []*unstructured.Unstructured) {
	var pdbs []*policyv1.PodDisruptionBudget
	for _, o := range objs {
		if o.GetKind() == "PodDisruptionBudget" {
			pdbs = append(pdbs, convert[policyv1.PodDisruptionBudget](t, o))
		}
	}
	for _, w := range workloads(t, objs) {
		ps := w.pod.SecurityContext
		if ps == nil || ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: pod seccomp profile is not RuntimeDefault", w.key)
		}
		if !w.rootPod() && (ps == nil || !deref(ps.RunAsNonRoot) || ps.RunAsUser == nil || *ps.RunAsUser != 65532) {
			t.Errorf("%s: pod not runAsNonRoot with uid 65532", w.key)
		}
		if w.daemon && w.component() != "firewall" && w.component() != "csi" {
			t.Errorf("%s: only the firewall and the csi node plugin run as DaemonSets", w.key)
		}
		if !w.daemon {
			if w.replicas < 2 {
				t.Errorf("%s: %d replicas, want at least 2 (leader election)", w.key, w.replicas)
			}
		}
		if len(w.pod.InitContainers) > 0 {
			t.Errorf("%s: init containers are not expected", w.key)
		}
		for _, c := range w.pod.Containers {
			ck := w.key + " container " + c.Name
			role := roleOf(w, c)
			checkContainer(t, ck, c, role, w.daemon)
			checkArgs(t, ck, c, w.pod.Volumes)
			switch {
			case w.daemon:
			case role == roleCSISidecar && c.Name == "livenessprobe":
				// It answers the kubelet's probes only.
			case role == roleCSISidecar:
				if !slices.Contains(c.Args, "--leader-election=true") {
					t.Errorf("%s: leader election is not on: %v", ck, c.Args)
				}
			case w.component() == "csi" && slices.Contains(c.Args, "--role=controller"):
				// The driver's cluster-wide half holds no state: it answers
				// the resizer's capability calls, every replica alike.
			case !slices.Contains(c.Args, "--leader-elect=true"):
				t.Errorf("%s: leader election is not on: %v", ck, c.Args)
			}
		}
		n := 0
		for _, p := range pdbs {
			sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
			if err != nil {
				t.Fatal(err)
			}
			if p.Namespace == releaseNamespace && sel.Matches(labels.Set(w.labels)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: %d PodDisruptionBudgets select its pods, want 1", w.key, n)
		}
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// checkContainer checks c against the rules of its role; daemon: it runs in
// a DaemonSet's pod.
func checkContainer(t *testing.T, ck string, c corev1.Container, role containerRole, daemon bool) {
	if role != roleCSISidecar && (c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil) {
		t.Errorf("%s: liveness and readiness probes must be HTTP checks of the health endpoint", ck)
	}
	if c.Command != nil {
		t.Errorf("%s: the image's entrypoint must run (no command override)", ck)
	}
	if role != roleCSISidecar && (len(c.Args) == 0 || c.Args[0] != strings.SplitN(c.Name, "-", 2)[0]) {
		t.Errorf("%s: args must start with the subcommand, got %v", ck, c.Args)
	}
	if c.Resources.Requests == nil {
		t.Errorf("%s: no resource requests", ck)
	}
	sc := c.SecurityContext
	if sc == nil {
		t.Fatalf("%s: no security context", ck)
	}
	if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: seccomp profile is not RuntimeDefault", ck)
	}
	if role == roleCSINodePlugin {
		if !deref(sc.Privileged) || sc.RunAsUser == nil || *sc.RunAsUser != 0 || !deref(sc.ReadOnlyRootFilesystem) {
			t.Errorf("%s: the csi node plugin runs privileged as root with a read-only root", ck)
		}
		if sc.Capabilities != nil && len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: capabilities added to a privileged container: %v", ck, sc.Capabilities.Add)
		}
		return
	}
	if !deref(sc.ReadOnlyRootFilesystem) || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || deref(sc.Privileged) {
		t.Errorf("%s: want readOnlyRootFilesystem, no privilege escalation, not privileged", ck)
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("%s: capabilities must drop ALL", ck)
	}
	var added []corev1.Capability
	if sc.Capabilities != nil {
		added = sc.Capabilities.Add
	}
	switch role {
	case roleCSISidecar:
		// In the node pod as root: its socket and the kubelet's plugin
		// registry are root's.
		uid, nonRoot := int64(65532), true
		if daemon {
			uid, nonRoot = 0, false
		}
		if deref(sc.RunAsNonRoot) != nonRoot || sc.RunAsUser == nil || *sc.RunAsUser != uid || len(added) > 0 {
			t.Errorf("%s: want uid %d and no added capabilities", ck, uid)
		}
		return
	case roleMetalkube:
		if !deref(sc.RunAsNonRoot) || sc.RunAsUser == nil || *sc.RunAsUser != 65532 || len(added) > 0 {
			t.Errorf("%s: want non-root uid 65532 and no added capabilities", ck)
		}
		return
	}
	if !slices.Contains(added, "NET_ADMIN") {
		t.Errorf("%s: the firewall needs NET_ADMIN", ck)
	}
	for _, a := range added {
		if !slices.Contains([]corev1.Capability{"NET_ADMIN", "NET_RAW", "NET_BIND_SERVICE"}, a) {
			t.Errorf("%s: capability %s is not needed by the firewall", ck, a)
		}
	}
}

// credentialFlags name files holding credentials; they must point into a
// mounted Secret.
var credentialFlags = []string{"metal-kubeconfig", "metal-api-hmac-file", "metal-api-token-file", "target-kubeconfig", "kubeconfig", "webhook-config-cert-dir"}

// checkArgs: no credential on the command line; credential flags name files
// on Secret volumes; no literal env values that look like credentials.
func checkArgs(t *testing.T, ck string, c corev1.Container, vols []corev1.Volume) {
	secretMounts := map[string]bool{}
	for _, m := range c.VolumeMounts {
		for _, v := range vols {
			if v.Name == m.Name && v.Secret != nil {
				if !m.ReadOnly {
					t.Errorf("%s: Secret volume %s is mounted writable", ck, m.Name)
				}
				secretMounts[m.MountPath] = true
			}
		}
	}
	for _, a := range c.Args[1:] {
		name, val, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") || !ok {
			t.Errorf("%s: arg %q is not --flag=value", ck, a)
			continue
		}
		lower := strings.ToLower(name)
		for _, word := range []string{"hmac", "token", "password", "secret", "credential"} {
			if strings.Contains(lower, word) && !strings.HasSuffix(lower, "-file") && lower != "metal-api-hmac-auth-type" {
				t.Errorf("%s: flag --%s passes a credential on the command line", ck, name)
			}
		}
		if !slices.Contains(credentialFlags, name) || val == "inClusterConfig" {
			continue
		}
		onSecret := false
		for dir := range secretMounts {
			if val == dir || strings.HasPrefix(val, dir+"/") {
				onSecret = true
			}
		}
		if !onSecret {
			t.Errorf("%s: --%s=%s is not on a mounted Secret", ck, name, val)
		}
	}
	for _, e := range c.Env {
		if e.Value != "" {
			t.Errorf("%s: env %s has a literal value; credentials come from files", ck, e.Name)
		}
	}
}

// checkServices: every workload has a metrics Service whose port reaches a
// container port named metrics.
func checkServices(t *testing.T, objs []*unstructured.Unstructured) {
	var svcs []*corev1.Service
	for _, o := range objs {
		if o.GetKind() == "Service" {
			svcs = append(svcs, convert[corev1.Service](t, o))
		}
	}
	for _, w := range workloads(t, objs) {
		found := false
		for _, s := range svcs {
			if !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(w.labels)) {
				continue
			}
			for _, p := range s.Spec.Ports {
				if p.Name == "metrics" && p.TargetPort.StrVal == "metrics" {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s: no metrics Service", w.key)
		}
		hasMetrics := func(c corev1.Container) bool {
			return slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" })
		}
		if w.component() == "csi" {
			// The driver serves no metrics; of its sidecars the
			// provisioner (node) or the resizer (controller) does.
			if n := len(slices.DeleteFunc(slices.Clone(w.pod.Containers), func(c corev1.Container) bool { return !hasMetrics(c) })); n != 1 {
				t.Errorf("%s: %d containers with a port named metrics, want 1", w.key, n)
			}
			continue
		}
		for _, c := range w.pod.Containers {
			if !hasMetrics(c) {
				t.Errorf("%s container %s: no port named metrics", w.key, c.Name)
			}
		}
	}
}

// checkWebhooks: webhook configurations call a rendered Service and carry
// the CA bundle from the values (wantCA: the values set one).
func checkWebhooks(t *testing.T, objs []*unstructured.Unstructured) {
	services, certificates := map[string]bool{}, map[string]bool{}
	for _, o := range objs {
		switch o.GetKind() {
		case "Service":
			services[o.GetNamespace()+"/"+o.GetName()] = true
		case "Certificate":
			certificates[o.GetNamespace()+"/"+o.GetName()] = true
		}
	}
	for _, o := range objs {
		if o.GetKind() != "MutatingWebhookConfiguration" && o.GetKind() != "ValidatingWebhookConfiguration" {
			continue
		}
		hooks, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
		if len(hooks) == 0 {
			t.Errorf("%s: no webhooks", key(o))
		}
		for _, h := range hooks {
			hm := h.(map[string]any)
			ns, _, _ := unstructured.NestedString(hm, "clientConfig", "service", "namespace")
			name, _, _ := unstructured.NestedString(hm, "clientConfig", "service", "name")
			if url, ok, _ := unstructured.NestedString(hm, "clientConfig", "url"); ok {
				// url mode: the configured base URL plus the webhook's path.
				if !strings.HasPrefix(url, testWebhookURL+"/") || name != "" {
					t.Errorf("%s webhook %s: url %q (service %q), want %s/<path> and no Service", key(o), hm["name"], url, name, testWebhookURL)
				}
			} else if !services[ns+"/"+name] {
				t.Errorf("%s webhook %s: Service %s/%s is not rendered", key(o), hm["name"], ns, name)
			}
			ca, _, _ := unstructured.NestedString(hm, "clientConfig", "caBundle")
			if from := o.GetAnnotations()[injectCAFrom]; from != "" {
				// cert-manager's CA injector fills it from this Certificate.
				if ca != "" {
					t.Errorf("%s webhook %s: caBundle set although cert-manager injects it", key(o), hm["name"])
				}
				ns, cert, _ := strings.Cut(from, "/")
				if !certificates[ns+"/"+cert] {
					t.Errorf("%s: %s names Certificate %s, which is not rendered", key(o), injectCAFrom, from)
				}
				continue
			}
			raw, err := base64.StdEncoding.DecodeString(ca)
			if err != nil || !bytes.Equal(bytes.TrimSpace(raw), bytes.TrimSpace([]byte(testCA))) {
				t.Errorf("%s webhook %s: caBundle is not the one from the values", key(o), hm["name"])
			}
		}
	}
}

// notServed lists the kinds the chart may render whose CRDs the test API
// server does not have, with the reason; the dry run skips them (the chart's
// own CRDs are installed from the chart's crds/ directories).
var notServed = map[string]string{
	"Certificate.cert-manager.io":          "cert-manager's CRDs are not installed in the test API server",
	"Issuer.cert-manager.io":               "cert-manager's CRDs are not installed in the test API server",
	"ServiceMonitor.monitoring.coreos.com": "the Prometheus Operator's CRDs are not installed in the test API server",
}

// injectCAFrom is cert-manager's annotation naming the Certificate whose CA
// its injector puts into a webhook configuration.
const injectCAFrom = "cert-manager.io/inject-ca-from"

// TestDryRun creates every rendered object with a server-side dry run on the
// real kube-apiserver: schema, defaulting and validation must all accept it.
func TestDryRun(t *testing.T) {
	ctx := context.Background()
	for _, ns := range []string{releaseNamespace, "metallb-system", "firewall", "metal", "shoot--a--b"} {
		obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		if err := env.Client.Create(ctx, obj); client.IgnoreAlreadyExists(err) != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, o := range render(t, withRequired(tc.values)).objs {
				gk := o.GroupVersionKind().GroupKind().String()
				err := env.Client.Create(ctx, o.DeepCopy(), client.DryRunAll)
				if _, skip := notServed[gk]; skip {
					if !meta.IsNoMatchError(err) {
						t.Errorf("%s: listed as not served, but the server answered %v", key(o), err)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s: %v", key(o), err)
				}
			}
		})
	}
}

// TestCRDsInSync: the chart's CRDs are byte-for-byte the generated ones
// (charts/hack/sync-crds.sh copies them).
func TestCRDsInSync(t *testing.T) {
	sources := map[string]string{
		"firewall": filepath.Join("..", "components", "firewall", "config", "crd"),
		"capi":     filepath.Join("..", "components", "capi", "config", "crd"),
	}
	for sub, dir := range sources {
		src, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil || len(src) == 0 {
			t.Fatalf("no CRDs in %s: %v", dir, err)
		}
		dst, _ := filepath.Glob(filepath.Join(chartDir, "charts", sub, "crds", "*.yaml"))
		if len(dst) != len(src) {
			t.Errorf("%s: chart has %d CRD files, %s has %d: run charts/hack/sync-crds.sh", sub, len(dst), dir, len(src))
		}
		for _, s := range src {
			want, _ := os.ReadFile(s)
			got, err := os.ReadFile(filepath.Join(chartDir, "charts", sub, "crds", filepath.Base(s)))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s differs from its source %s: run charts/hack/sync-crds.sh", filepath.Base(s), s)
			}
		}
	}
	if len(chartCRDs(t)) == 0 {
		t.Error("the chart ships no CRDs")
	}
}

// TestValuesRefused: what `helm install` must refuse, and the message that
// names the value: the values schema (types, enums, unknown keys) and the
// templates' required and fail checks for what a component cannot start
// without. Each case starts from values that install (requiredValues).
func TestValuesRefused(t *testing.T) {
	metalstack := "global:\n  backend:\n    name: metalstack\n    metalstack:\n      url: https://api.metal-stack.example\n      tokenSecret: {name: metal-api, key: token}\n"
	tests := []struct {
		name, values string
		// wantErr are substrings of the error; none: the values install.
		wantErr []string
	}{
		{name: "fail: no component enabled", values: "ccm: {enabled: false}\nmcm: {enabled: false}\nos: {enabled: false}\nextension: {enabled: false}\nadmission: {enabled: false}\n",
			wantErr: []string{"no component is enabled", "presets/garden.yaml", "<name>.enabled=true"}},
		{name: "schema: --set ccm.replicas=two", values: "ccm:\n  replicas: two\n", wantErr: []string{"ccm", "replicas", "integer"}},
		{name: "schema: unknown backend metastack", values: "global:\n  backend:\n    name: metastack\n", wantErr: []string{"name", "ironcore", "metalstack"}},
		{name: "schema: typo ccm.replicaz", values: "ccm:\n  replicaz: 3\n", wantErr: []string{"replicaz"}},
		{name: "schema: typo at the top", values: "ccmm:\n  enabled: true\n", wantErr: []string{"ccmm"}},
		{name: "schema: log format", values: "global:\n  logging:\n    format: text\n", wantErr: []string{"format", "json", "console"}},
		{name: "schema: port out of range", values: "extension:\n  probePort: 70000\n", wantErr: []string{"probePort"}},
		{name: "schema: announce", values: "lb:\n  announce: bgp\n", wantErr: []string{"announce"}},
		{name: "schema: a list where a list belongs", values: "firewall:\n  nodeCIDRs: 10.0.0.0/8\n", wantErr: []string{"nodeCIDRs", "array"}},
		{name: "required: ccm.cluster", values: "ccm:\n  cluster: \"\"\n", wantErr: []string{"ccm.cluster is required", "--metal-cluster"}},
		{name: "required: lb.cluster", values: "lb:\n  enabled: true\n  cluster: \"\"\n", wantErr: []string{"lb.cluster is required"}},
		{name: "required: firewall.externalInterfaces", values: "firewall:\n  enabled: true\n  externalInterfaces: []\n", wantErr: []string{"firewall.externalInterfaces is required"}},
		{name: "required: firewall.internalInterfaces", values: "firewall:\n  enabled: true\n  internalInterfaces: []\n", wantErr: []string{"firewall.internalInterfaces is required"}},
		{name: "required: firewall.nodeCIDRs", values: "firewall:\n  enabled: true\n  nodeCIDRs: []\n", wantErr: []string{"firewall.nodeCIDRs is required"}},
		{name: "required: metal-stack URL", values: "global:\n  backend:\n    name: metalstack\n    metalstack:\n      tokenSecret: {name: metal-api}\n", wantErr: []string{"global.backend.metalstack.url is required"}},
		{name: "required: metal-stack credentials", values: "global:\n  backend:\n    name: metalstack\n    metalstack:\n      url: https://api.metal-stack.example\n", wantErr: []string{"hmacSecret.name", "tokenSecret.name"}},
		{name: "metal-stack with a token installs", values: metalstack},
		{name: "fail: extension webhook without CA and Fail", values: "extension:\n  webhook:\n    caBundle: \"\"\n", wantErr: []string{"extension.webhook.caBundle is empty", "failurePolicy is Fail"}},
		{name: "fail: admission webhook without CA and Fail", values: "admission:\n  webhook:\n    caBundle: \"\"\n", wantErr: []string{"admission.webhook.caBundle is empty"}},
		{name: "fail: capi webhook without CA and Fail", values: "capi:\n  enabled: true\n  webhook:\n    caBundle: \"\"\n", wantErr: []string{"capi.webhook.caBundle is empty"}},
		{name: "schema: capi retry interval", values: "capi:\n  retryInterval: soon\n", wantErr: []string{"retryInterval"}},
		{name: "capi without webhooks installs", values: "capi:\n  enabled: true\n  webhook:\n    caBundle: \"\"\n    enabled: false\n"},
		{name: "schema: issuer kind", values: "admission:\n  webhook:\n    certManager:\n      issuerRef: {kind: Vault}\n", wantErr: []string{"kind", "ClusterIssuer"}},
		{name: "webhook without CA but with cert-manager installs", values: "admission:\n  webhook:\n    caBundle: \"\"\n    certManager: {enabled: true}\n"},
		{name: "fail: egress without the API server", values: "global:\n  networkPolicy:\n    enabled: true\n    egress: {enabled: true}\n", wantErr: []string{"global.networkPolicy.egress.apiServer is required"}},
		{name: "fail: egress without the metal-stack backend", values: metalstack + "  networkPolicy:\n    enabled: true\n    egress: {enabled: true, apiServer: [{ipBlock: {cidr: 10.0.0.1/32}}]}\n", wantErr: []string{"global.networkPolicy.egress.backend is required", "metalstack"}},
		{name: "schema: egress peer with a typo", values: "global:\n  networkPolicy:\n    egress: {apiServer: [{ipblock: {cidr: 10.0.0.1/32}}]}\n", wantErr: []string{"ipblock"}},
		{name: "webhook generated by the component installs without CA", values: "admission:\n  webhook:\n    caBundle: \"\"\n    generated: true\nextension:\n  webhook:\n    caBundle: \"\"\n    generated: true\n"},
		{name: "fail: webhook generated and cert-manager", values: "admission:\n  webhook:\n    generated: true\n    certManager: {enabled: true}\n", wantErr: []string{"admission.webhook.generated and admission.webhook.certManager.enabled", "choose one"}},
		{name: "schema: extraVolumeMounts without a mountPath", values: "ccm:\n  extraVolumeMounts: [{name: ca}]\n", wantErr: []string{"extraVolumeMounts", "mountPath"}},
		{name: "schema: extraVolumeMounts relative path", values: "os:\n  extraVolumeMounts: [{name: ca, mountPath: etc/ca}]\n", wantErr: []string{"extraVolumeMounts", "mountPath"}},
		{name: "schema: extraVolumes on csi (not supported)", values: "csi:\n  extraVolumes: [{name: ca}]\n", wantErr: []string{"extraVolumes"}},
		{name: "schema: extraEnv without a name", values: "ccm:\n  extraEnv: [{value: x}]\n", wantErr: []string{"extraEnv", "name"}},
		{name: "schema: topology spread", values: "ccm:\n  topologySpreadConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: Never}]\n", wantErr: []string{"whenUnsatisfiable"}},
		{name: "schema: ServiceMonitor interval", values: "global:\n  serviceMonitor: {interval: often}\n", wantErr: []string{"interval"}},
		{name: "required: csi.devices", values: "csi:\n  enabled: true\n  devices: []\n", wantErr: []string{"csi.devices is required", "--devices"}},
		{name: "schema: csi volume type", values: "csi:\n  storageClasses: [{name: fast, type: raid5}]\n", wantErr: []string{"storageClasses", "type", "linear", "striped", "mirror"}},
		{name: "schema: csi activation", values: "csi:\n  activation: device-mapper\n", wantErr: []string{"activation", "dm", "loop"}},
		{name: "fail: csi default class not rendered", values: "csi:\n  enabled: true\n  defaultStorageClass: fast\n", wantErr: []string{"csi.defaultStorageClass \"fast\"", "csi-lvm"}},
		{name: "fail: csi class twice", values: "csi:\n  enabled: true\n  storageClasses: [{name: csi-lvm, type: linear}, {name: csi-lvm, type: striped}]\n", wantErr: []string{"csi.storageClasses", "\"csi-lvm\" appears twice"}},
		{name: "webhook without CA and Ignore installs", values: "admission:\n  webhook:\n    caBundle: \"\"\n    failurePolicy: Ignore\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := renderValues(t, withRequired(tt.values))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("installed, want an error naming %q", tt.wantErr)
			}
			t.Logf("refused: %v", err)
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestDefaultValuesRefused: the chart's own defaults do not install: no
// component is on by default (they belong in different clusters), and the
// message says how to pick them.
func TestDefaultValuesRefused(t *testing.T) {
	_, err := renderValues(t, "")
	if err == nil || !strings.Contains(err.Error(), "no component is enabled") || !strings.Contains(err.Error(), "presets/") {
		t.Fatalf("defaults: %v, want the refusal naming the presets", err)
	}
}

// TestPresets: each cluster role's preset (presets/<role>.yaml) switches on
// exactly that role's components.
func TestPresets(t *testing.T) {
	tests := []struct {
		preset string
		want   []string
	}{
		{preset: "garden", want: []string{"admission"}},
		{preset: "seed", want: []string{"extension"}},
		{preset: "shoot-control-plane", want: []string{"ccm", "mcm"}},
		{preset: "firewall-host", want: []string{"firewall"}},
		{preset: "capi-management", want: []string{"capi"}},
	}
	for _, tt := range tests {
		t.Run(tt.preset, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(chartDir, "presets", tt.preset+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, w := range workloads(t, render(t, withRequired(string(b))).objs) {
				got[w.labels["app.kubernetes.io/component"]] = true
			}
			if !maps.Equal(got, setOf(tt.want)) {
				t.Errorf("components %v, want %v", slices.Sorted(maps.Keys(got)), tt.want)
			}
		})
	}
}

func setOf(s []string) map[string]bool {
	m := map[string]bool{}
	for _, x := range s {
		m[x] = true
	}
	return m
}

// operationsValues turns on, for every component, what an operator adds:
// a ServiceMonitor, topology spread, pod annotations and an extra variable.
func operationsValues() string {
	vals := map[string]any{"global": map[string]any{
		"serviceMonitor": map[string]any{"enabled": true, "interval": "30s", "labels": map[string]any{"release": "prometheus"}},
		"networkPolicy": map[string]any{"enabled": true, "metricsFrom": []any{map[string]any{
			"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "monitoring"}}}}},
	}}
	for _, c := range components {
		vals[c] = map[string]any{
			"enabled":                   true,
			"topologySpreadConstraints": []any{map[string]any{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"}},
			"podAnnotations":            map[string]any{"example.com/team": "metal"},
			// The Go runtime's soft memory limit from the container's limit.
			"extraEnv": []any{map[string]any{"name": "GOMEMLIMIT", "valueFrom": map[string]any{"resourceFieldRef": map[string]any{"resource": "limits.memory"}}}},
		}
		if c != "csi" { // csi's pods run several upstream containers: no extra volumes there
			vals[c].(map[string]any)["extraVolumes"] = []any{map[string]any{"name": "private-ca", "configMap": map[string]any{"name": "private-ca"}}}
			vals[c].(map[string]any)["extraVolumeMounts"] = []any{map[string]any{"name": "private-ca", "mountPath": "/etc/ssl/private-ca", "readOnly": true}}
		}
	}
	out, err := yaml.Marshal(vals)
	if err != nil {
		panic(err)
	}
	return string(out)
}

// TestOperations: the operator's additions reach every component's pods,
// and every metrics Service gets a ServiceMonitor that scrapes it.
func TestOperations(t *testing.T) {
	r := render(t, withRequired(operationsValues()))
	ws := workloads(t, r.objs)
	want := 0
	for _, c := range components {
		want += workloadsOf(c)
	}
	if len(ws) != want {
		t.Fatalf("%d workloads, want %d", len(ws), want)
	}
	for _, w := range ws {
		if w.annotations["example.com/team"] != "metal" {
			t.Errorf("%s: pod annotations %v", w.key, w.annotations)
		}
		tsc := w.pod.TopologySpreadConstraints
		if w.component() == "csi" && w.daemon {
			// One pod on every node with disks: spreading is the
			// controller Deployment's setting.
			if len(tsc) != 0 {
				t.Errorf("%s: topology spread %+v on the node DaemonSet", w.key, tsc)
			}
		} else if len(tsc) != 1 || tsc[0].LabelSelector == nil || !labels.SelectorFromSet(tsc[0].LabelSelector.MatchLabels).Matches(labels.Set(w.labels)) {
			t.Errorf("%s: topology spread %+v does not select its own pods", w.key, tsc)
		}
		c := w.pod.Containers[0]
		if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
			return e.Name == "GOMEMLIMIT" && e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil && e.ValueFrom.ResourceFieldRef.Resource == "limits.memory"
		}) {
			t.Errorf("%s: env %v lacks GOMEMLIMIT", w.key, c.Env)
		}
		if w.component() == "csi" {
			continue
		}
		if !slices.ContainsFunc(w.pod.Volumes, func(v corev1.Volume) bool {
			return v.Name == "private-ca" && v.ConfigMap != nil && v.ConfigMap.Name == "private-ca"
		}) {
			t.Errorf("%s: volumes %v lack extraVolumes' private-ca", w.key, w.pod.Volumes)
		}
		if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.Name == "private-ca" && m.MountPath == "/etc/ssl/private-ca" && m.ReadOnly
		}) {
			t.Errorf("%s: mounts %v lack extraVolumeMounts' private-ca", w.key, c.VolumeMounts)
		}
	}
	monitors := map[string]*unstructured.Unstructured{}
	for _, o := range r.objs {
		if o.GetKind() == "ServiceMonitor" {
			monitors[o.GetLabels()["app.kubernetes.io/component"]] = o
		}
	}
	for _, o := range r.objs {
		if o.GetKind() != "Service" || !strings.HasSuffix(o.GetName(), "-metrics") {
			continue
		}
		comp := o.GetLabels()["app.kubernetes.io/component"]
		sm := monitors[comp]
		if sm == nil {
			t.Errorf("%s: no ServiceMonitor", key(o))
			continue
		}
		sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
		svcLabels := o.GetLabels()
		if !labels.SelectorFromSet(sel).Matches(labels.Set(svcLabels)) {
			t.Errorf("%s: selector %v does not select %s", key(sm), sel, key(o))
		}
		eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		scheme := o.GetAnnotations()["prometheus.io/scheme"]
		if len(eps) != 1 || eps[0].(map[string]any)["port"] != "metrics" || eps[0].(map[string]any)["scheme"] != scheme {
			t.Errorf("%s: endpoints %v, want port metrics with scheme %s", key(sm), eps, scheme)
		}
		if sm.GetLabels()["release"] != "prometheus" {
			t.Errorf("%s: labels %v lack global.serviceMonitor.labels", key(sm), sm.GetLabels())
		}
	}
}

// measuredIdleRSS is the largest idle resident memory measured for a
// container on the real node (`make memory`: the ccm, 89 MB, of which 21 MB
// its own and the rest the binary's shared pages).
const measuredIdleRSS = "89M"

// TestMemoryRequestsCoverIdleUse: no component requests less memory than a
// component uses idle, nor more than its limit.
func TestMemoryRequestsCoverIdleUse(t *testing.T) {
	idle := resource.MustParse(measuredIdleRSS)
	for _, w := range workloads(t, render(t, withRequired(operationsValues())).objs) {
		for _, c := range w.pod.Containers {
			if roleOf(w, c) == roleCSISidecar {
				// Upstream's binaries, not metalkube's: their own requests.
				continue
			}
			req, limit := c.Resources.Requests.Memory(), c.Resources.Limits.Memory()
			if req.Cmp(idle) < 0 {
				t.Errorf("%s container %s: memory request %s below the measured idle use %s", w.key, c.Name, req, measuredIdleRSS)
			}
			if !limit.IsZero() && req.Cmp(*limit) > 0 {
				t.Errorf("%s container %s: memory request %s above its limit %s", w.key, c.Name, req, limit)
			}
		}
	}
}

// TestNetworkPolicies: with global.networkPolicy.enabled every component
// but the host-network firewall gets one policy selecting its pods that
// admits every port the pod declares (none cut off), metrics only from
// metricsFrom unless the probes are served there too.
func TestNetworkPolicies(t *testing.T) {
	r := render(t, withRequired(operationsValues()))
	var policies []networkingv1.NetworkPolicy
	for _, o := range r.objs {
		if o.GetKind() == "NetworkPolicy" {
			policies = append(policies, *convert[networkingv1.NetworkPolicy](t, o))
		}
	}
	for _, w := range workloads(t, r.objs) {
		var mine []networkingv1.NetworkPolicy
		for _, np := range policies {
			if labels.SelectorFromSet(np.Spec.PodSelector.MatchLabels).Matches(labels.Set(w.labels)) {
				mine = append(mine, np)
			}
		}
		if w.pod.HostNetwork {
			if len(mine) != 0 {
				t.Errorf("%s: host-network pod selected by %d policies", w.key, len(mine))
			}
			continue
		}
		if len(mine) != 1 {
			t.Errorf("%s: %d policies select it, want 1", w.key, len(mine))
			continue
		}
		open := map[string]bool{}
		restricted := map[string]bool{}
		for _, rule := range mine[0].Spec.Ingress {
			for _, p := range rule.Ports {
				if len(rule.From) == 0 {
					open[p.Port.String()] = true
				} else {
					restricted[p.Port.String()] = true
				}
			}
		}
		probes := map[string]bool{}
		for _, c := range w.pod.Containers {
			for _, pr := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
				if pr != nil && pr.HTTPGet != nil {
					probes[pr.HTTPGet.Port.String()] = true
				}
			}
			for _, p := range c.Ports {
				switch {
				case probes[p.Name] && !open[p.Name]:
					t.Errorf("%s: probe port %s not open to the kubelet", w.key, p.Name)
				case !open[p.Name] && !restricted[p.Name]:
					t.Errorf("%s: declared port %s cut off by the policy", w.key, p.Name)
				case p.Name == "metrics" && !probes[p.Name] && !restricted[p.Name]:
					t.Errorf("%s: metrics open to all although metricsFrom is set", w.key)
				}
			}
		}
	}
}

// TestNetworkPolicyEgress: with egress restricted, every pod a policy covers
// may reach DNS and the API server, only the components with a backend reach
// the backend, and nothing else is open.
func TestNetworkPolicyEgress(t *testing.T) {
	apiServer := "10.0.0.1/32"
	backend := "192.0.2.10/32"
	for _, tc := range []struct {
		name, values string
		wantBackend  bool
	}{
		{name: "ironcore in this cluster", values: "global:\n  networkPolicy:\n    enabled: true\n    egress:\n      enabled: true\n      apiServer: [{ipBlock: {cidr: " + apiServer + "}}]\n"},
		{name: "metal-stack", wantBackend: true, values: "global:\n  networkPolicy:\n    enabled: true\n    egress:\n      enabled: true\n      apiServer: [{ipBlock: {cidr: " + apiServer + "}}]\n      backend: [{ipBlock: {cidr: " + backend + "}}]\n" +
			"  backend:\n    name: metalstack\n    metalstack:\n      url: https://api.metal-stack.example\n      tokenSecret: {name: metal-api, key: token}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals := map[string]any{}
			if err := yaml.Unmarshal([]byte(withRequired(operationsValues())), &vals); err != nil {
				t.Fatal(err)
			}
			over := map[string]any{}
			if err := yaml.Unmarshal([]byte(tc.values), &over); err != nil {
				t.Fatal(err)
			}
			b, err := yaml.Marshal(merge(vals, over))
			if err != nil {
				t.Fatal(err)
			}
			r := render(t, string(b))
			n := 0
			for _, o := range r.objs {
				if o.GetKind() != "NetworkPolicy" {
					continue
				}
				n++
				np := convert[networkingv1.NetworkPolicy](t, o)
				comp := o.GetLabels()["app.kubernetes.io/component"]
				if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
					t.Errorf("%s: policy types %v lack Egress", key(o), np.Spec.PolicyTypes)
				}
				var dns, api, back bool
				for _, rule := range np.Spec.Egress {
					for _, p := range rule.Ports {
						if p.Port != nil && p.Port.IntValue() == 53 && len(rule.To) > 0 {
							dns = true
						}
					}
					for _, to := range rule.To {
						switch {
						case to.IPBlock != nil && to.IPBlock.CIDR == apiServer:
							api = true
						case to.IPBlock != nil && to.IPBlock.CIDR == backend:
							back = true
						case to.IPBlock != nil:
							t.Errorf("%s: egress to unexpected %s", key(o), to.IPBlock.CIDR)
						}
					}
					if len(rule.To) == 0 && len(rule.Ports) == 0 {
						t.Errorf("%s: an egress rule open to everything", key(o))
					}
				}
				usesBackend := slices.Contains([]string{"ccm", "lb", "mcm", "extension", "capi"}, comp)
				if !dns || !api || back != (tc.wantBackend && usesBackend) {
					t.Errorf("%s: egress DNS %v, API server %v, backend %v (component uses a backend: %v)", key(o), dns, api, back, usesBackend)
				}
			}
			if n == 0 {
				t.Fatal("no NetworkPolicy rendered")
			}
		})
	}
}

// TestOneVersion checks the one version scheme: every subchart has the
// umbrella chart's version and appVersion, and that appVersion is what the
// Makefile stamps into the binary and tags the image with.
func TestOneVersion(t *testing.T) {
	type chartMeta struct {
		Version    string `json:"version"`
		AppVersion string `json:"appVersion"`
	}
	read := func(p string) chartMeta {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var m chartMeta
		if err := yaml.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		return m
	}
	umbrella := read(filepath.Join("metalkube", "Chart.yaml"))
	if umbrella.Version != umbrella.AppVersion {
		t.Errorf("metalkube/Chart.yaml: version %q and appVersion %q differ; binary, image and chart share one version", umbrella.Version, umbrella.AppVersion)
	}
	subs, err := filepath.Glob(filepath.Join("metalkube", "charts", "*", "Chart.yaml"))
	if err != nil || len(subs) == 0 {
		t.Fatalf("no subcharts: %v", err)
	}
	for _, p := range subs {
		if m := read(p); m != umbrella {
			t.Errorf("%s: version %q appVersion %q, want the umbrella's %q/%q", p, m.Version, m.AppVersion, umbrella.Version, umbrella.AppVersion)
		}
	}
	out, err := exec.Command("make", "-s", "-C", "..", "version").CombinedOutput()
	if err != nil {
		t.Fatalf("make version: %v\n%s", err, out)
	}
	if want := "version: " + umbrella.AppVersion; !strings.HasPrefix(string(out), want) {
		t.Errorf("make version printed %q, want it to start with %q", out, want)
	}
}

// TestContainerRoles: the exceptions to the container rules are matched
// narrowly: a sidecar name with another image, a sidecar in another
// component, the node plugin's name outside the DaemonSet or without
// --role=node are all held to the metalkube rules.
func TestContainerRoles(t *testing.T) {
	csiNode := workload{daemon: true, labels: map[string]string{"app.kubernetes.io/component": "csi"}}
	csiController := workload{labels: map[string]string{"app.kubernetes.io/component": "csi"}}
	ccm := workload{labels: map[string]string{"app.kubernetes.io/component": "ccm"}}
	firewall := workload{daemon: true, labels: map[string]string{"app.kubernetes.io/component": "firewall"}}
	plugin := corev1.Container{Name: "csi", Image: "ghcr.io/metalkube/metalkube-csi-node:0.1.0", Args: []string{"csi", "--role=node"}}
	provisioner := corev1.Container{Name: "csi-provisioner", Image: "registry.k8s.io/sig-storage/csi-provisioner:v6.3.0"}
	tests := []struct {
		name string
		w    workload
		c    corev1.Container
		want containerRole
	}{
		{"firewall agent", firewall, corev1.Container{Name: "firewall", Args: []string{"firewall"}}, roleFirewall},
		{"another container in the firewall pod", firewall, corev1.Container{Name: "helper"}, roleMetalkube},
		{"csi node plugin", csiNode, plugin, roleCSINodePlugin},
		{"csi plugin without --role=node", csiNode, corev1.Container{Name: "csi", Image: plugin.Image, Args: []string{"csi"}}, roleMetalkube},
		{"csi plugin in the controller Deployment", csiController, plugin, roleMetalkube},
		{"csi controller half", csiController, corev1.Container{Name: "csi", Args: []string{"csi", "--role=controller"}}, roleMetalkube},
		{"provisioner sidecar", csiNode, provisioner, roleCSISidecar},
		{"resizer sidecar", csiController, corev1.Container{Name: "csi-resizer", Image: "registry.k8s.io/sig-storage/csi-resizer:v2.2.0"}, roleCSISidecar},
		{"sidecar name, other image", csiNode, corev1.Container{Name: "csi-provisioner", Image: "docker.io/evil/csi-provisioner:v6.3.0"}, roleMetalkube},
		{"sidecar image under another name", csiNode, corev1.Container{Name: "provisioner", Image: provisioner.Image}, roleMetalkube},
		{"sidecar in another component", ccm, provisioner, roleMetalkube},
		{"image repository prefix only", csiNode, corev1.Container{Name: "livenessprobe", Image: "registry.k8s.io/sig-storage/livenessprobe-fork:v1"}, roleMetalkube},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := roleOf(tt.w, tt.c); got != tt.want {
				t.Errorf("role %d, want %d", got, tt.want)
			}
		})
	}
}

// TestCSI: what the csi subchart installs fits together: the CSIDriver and
// the StorageClasses metal-stack's users know, the node plugin's socket where
// the registrar tells the kubelet it is, one privileged container in all of
// the chart's renderings, and each sidecar's RBAC no wider than upstream's
// for the calls it makes in this deployment.
func TestCSI(t *testing.T) {
	r := render(t, only("csi", ""))
	byKind := map[string][]*unstructured.Unstructured{}
	for _, o := range r.objs {
		byKind[o.GetKind()] = append(byKind[o.GetKind()], o)
	}
	if d := byKind["CSIDriver"]; len(d) != 1 || d[0].GetName() != "lvm.csi.metalkube.io" {
		t.Fatalf("CSIDrivers %v, want lvm.csi.metalkube.io", d)
	}
	drv := convert[storagev1.CSIDriver](t, byKind["CSIDriver"][0])
	if deref(drv.Spec.AttachRequired) || !deref(drv.Spec.StorageCapacity) {
		t.Errorf("CSIDriver attachRequired %v storageCapacity %v, want false and true", deref(drv.Spec.AttachRequired), deref(drv.Spec.StorageCapacity))
	}
	classes := map[string]string{}
	for _, o := range byKind["StorageClass"] {
		sc := convert[storagev1.StorageClass](t, o)
		if sc.Provisioner != drv.Name || sc.VolumeBindingMode == nil || *sc.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer || !deref(sc.AllowVolumeExpansion) {
			t.Errorf("StorageClass %s: provisioner %s, binding %v, expansion %v", sc.Name, sc.Provisioner, sc.VolumeBindingMode, sc.AllowVolumeExpansion)
		}
		classes[sc.Name] = sc.Parameters["type"]
	}
	want := map[string]string{"csi-lvm": "linear", "csi-driver-lvm-linear": "linear", "csi-driver-lvm-striped": "striped", "csi-driver-lvm-mirror": "mirror"}
	if !maps.Equal(classes, want) {
		t.Errorf("StorageClasses %v, want %v", classes, want)
	}

	var node workload
	for _, w := range workloads(t, r.objs) {
		if w.daemon {
			node = w
		}
	}
	arg := func(c corev1.Container, flag string) string {
		for _, a := range c.Args {
			if v, ok := strings.CutPrefix(a, "--"+flag+"="); ok {
				return v
			}
		}
		return ""
	}
	hostDir := map[string]string{}
	for _, v := range node.pod.Volumes {
		if v.HostPath != nil {
			hostDir[v.Name] = v.HostPath.Path
		}
	}
	plugins := "/var/lib/kubelet/plugins/lvm.csi.metalkube.io"
	for _, c := range node.pod.Containers {
		for _, m := range c.VolumeMounts {
			if m.Name == "socket-dir" && hostDir[m.Name] != plugins {
				t.Errorf("%s: socket-dir is host %s, want %s", c.Name, hostDir[m.Name], plugins)
			}
		}
		switch c.Name {
		case "csi":
			if got := arg(c, "csi-endpoint"); got != "unix:///csi/csi.sock" {
				t.Errorf("node plugin --csi-endpoint=%s", got)
			}
			if got := arg(c, "node-id"); got != "$(NODE_NAME)" {
				t.Errorf("node plugin --node-id=%s, want the kubelet's node name", got)
			}
			bidi := slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
				return m.MountPath == "/var/lib/kubelet" && m.MountPropagation != nil && *m.MountPropagation == corev1.MountPropagationBidirectional
			})
			if !bidi {
				t.Error("node plugin: the kubelet directory is not mounted with Bidirectional propagation")
			}
		case "node-driver-registrar":
			if got := arg(c, "kubelet-registration-path"); got != plugins+"/csi.sock" {
				t.Errorf("registrar --kubelet-registration-path=%s, want %s/csi.sock", got, plugins)
			}
		case "csi-provisioner":
			for _, f := range []string{"node-deployment", "enable-capacity"} {
				if arg(c, f) != "true" {
					t.Errorf("provisioner: --%s is not true", f)
				}
			}
			// WaitForFirstConsumer (the default): no node claims a PVC the
			// scheduler has not placed on it.
			if got := arg(c, "node-deployment-immediate-binding"); got != "false" {
				t.Errorf("provisioner --node-deployment-immediate-binding=%s, want false with WaitForFirstConsumer", got)
			}
		}
	}

	// The provisioner and resizer images are the releases the csi tests run
	// (components/csi/hack/peers.sh builds them from the module proxy).
	peers, err := os.ReadFile(filepath.Join("..", "components", "csi", "hack", "peers.sh"))
	if err != nil {
		t.Fatal(err)
	}
	tested := map[string]string{}
	for l := range strings.SplitSeq(string(peers), "\n") {
		if f := strings.Fields(l); len(f) == 5 && f[0] == "build" {
			tested[f[1]] = f[3]
		}
	}
	for _, w := range workloads(t, r.objs) {
		for _, c := range w.pod.Containers {
			if c.Name != "csi-provisioner" && c.Name != "csi-resizer" {
				continue
			}
			if _, tag, _ := strings.Cut(c.Image, ":"); tag != tested[c.Name] {
				t.Errorf("%s runs %s, the tests run %s %s", w.key, c.Image, c.Name, tested[c.Name])
			}
		}
	}

	// One privileged container in every rendering: the csi node plugin.
	for _, tc := range append(slices.Clone(cases), chartCase{name: "operations+csi", values: operationsValues()}) {
		for _, w := range workloads(t, render(t, withRequired(tc.values)).objs) {
			for _, c := range w.pod.Containers {
				if c.SecurityContext != nil && deref(c.SecurityContext.Privileged) && roleOf(w, c) != roleCSINodePlugin {
					t.Errorf("%s: %s container %s is privileged", tc.name, w.key, c.Name)
				}
			}
		}
	}

	// RBAC per ServiceAccount: resource -> verbs.
	grants := map[string]map[string][]string{}
	for _, o := range r.objs {
		var rules []rbacv1.PolicyRule
		var subjects []rbacv1.Subject
		switch o.GetKind() {
		case "ClusterRoleBinding":
			b := convert[rbacv1.ClusterRoleBinding](t, o)
			subjects = b.Subjects
			for _, cr := range r.objs {
				if cr.GetKind() == "ClusterRole" && cr.GetName() == b.RoleRef.Name {
					rules = rbacRules(t, cr)
				}
			}
		case "RoleBinding":
			b := convert[rbacv1.RoleBinding](t, o)
			subjects = b.Subjects
			for _, ro := range r.objs {
				if ro.GetKind() == "Role" && ro.GetName() == b.RoleRef.Name && ro.GetNamespace() == b.Namespace {
					rules = rbacRules(t, ro)
				}
			}
		}
		for _, s := range subjects {
			if grants[s.Name] == nil {
				grants[s.Name] = map[string][]string{}
			}
			for _, rule := range rules {
				for _, res := range rule.Resources {
					grants[s.Name][res] = append(grants[s.Name][res], rule.Verbs...)
				}
			}
		}
	}
	wantGrants := map[string]map[string][]string{
		// external-resizer: upstream's rules, nothing more.
		"metalkube-csi": {
			"persistentvolumes": {"get", "list", "watch", "patch"}, "persistentvolumeclaims": {"get", "list", "watch"},
			"persistentvolumeclaims/status": {"patch"}, "pods": {"get", "list", "watch"}, "events": {"list", "watch", "create", "update", "patch"},
			"volumeattributesclasses": {"get", "list", "watch"}, "leases": {"create", "get", "watch", "update", "patch"},
		},
		// external-provisioner in node-deployment mode: upstream's rules
		// less snapshots, VolumeAttachments, leases and ReplicaSets.
		"metalkube-csi-node": {
			"persistentvolumes": {"get", "list", "watch", "create", "patch", "delete"}, "persistentvolumeclaims": {"get", "list", "watch", "update"},
			"storageclasses": {"get", "list", "watch"}, "events": {"list", "watch", "create", "update", "patch"},
			"csinodes": {"get", "list", "watch"}, "nodes": {"get", "list", "watch"},
			"csistoragecapacities": {"get", "list", "watch", "create", "update", "patch", "delete"}, "pods": {"get"},
		},
	}
	for sa, w := range wantGrants {
		got := grants[sa]
		for res := range got {
			slices.Sort(got[res])
		}
		for res := range w {
			slices.Sort(w[res])
		}
		if !maps.EqualFunc(got, w, slices.Equal[[]string]) {
			t.Errorf("ServiceAccount %s may:\n%v\nwant:\n%v", sa, got, w)
		}
	}
}

// TestGeneratedWebhookCertificates: with webhook.generated the component
// makes and registers its own certificate and webhook configurations: the
// chart renders none, gives the certificate an emptyDir, tells the
// component where to keep its CA and how the API server reaches it, names
// the Service as Gardener's library expects, and grants exactly that.
func TestGeneratedWebhookCertificates(t *testing.T) {
	for _, c := range []struct{ component, name string }{
		{"admission", "gardener-extension-admission-metalkube"},
		{"extension", "gardener-extension-provider-metalkube"},
	} {
		t.Run(c.component, func(t *testing.T) {
			r := render(t, only(c.component, c.component+":\n  webhook:\n    caBundle: \"\"\n    generated: true\n"))
			var svc, dep bool
			var rules []rbacv1.PolicyRule
			for _, o := range r.objs {
				switch o.GetKind() {
				case "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "Certificate", "Issuer":
					t.Errorf("%s rendered although the component makes it", key(o))
				case "Service":
					if o.GetName() == c.name {
						svc = true
					}
				case "ClusterRole", "Role":
					rules = append(rules, rbacRules(t, o)...)
				case "Deployment":
					d := convert[appsv1.Deployment](t, o)
					spec := d.Spec.Template.Spec
					args := strings.Join(spec.Containers[0].Args, " ")
					for _, want := range []string{"--webhook-config-namespace=" + releaseNamespace, "--webhook-config-mode=service", "--webhook-config-cert-dir=/etc/metalkube/webhook-tls"} {
						if !strings.Contains(args, want) {
							t.Errorf("args %s lack %s", args, want)
						}
					}
					dep = slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == "webhook-tls" && v.EmptyDir != nil })
				}
			}
			if !svc || !dep {
				t.Errorf("Service %s rendered: %v; certificate in an emptyDir: %v", c.name, svc, dep)
			}
			can := func(res, verb, name string) bool {
				for _, r := range rules {
					if slices.Contains(r.Resources, res) && slices.Contains(r.Verbs, verb) && (len(r.ResourceNames) == 0 || slices.Contains(r.ResourceNames, name)) {
						return true
					}
				}
				return false
			}
			for _, res := range []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations"} {
				if !can(res, "create", "") || !can(res, "update", c.name) || can(res, "update", "someone-elses") {
					t.Errorf("%s: create %v, update own %v, update another's %v", res, can(res, "create", ""), can(res, "update", c.name), can(res, "update", "someone-elses"))
				}
			}
			if !can("secrets", "create", "") || !can("secrets", "list", "") {
				t.Errorf("no Role for the certificate Secrets: %+v", rules)
			}
		})
	}
}

// TestExtensionHasNoBackend: the extension calls each shoot's backend with
// the shoot's cloudprovider Secret; whatever global.backend says (it is for
// ccm, lb and mcm), its Deployment gets no backend flag, mount or RBAC.
func TestExtensionHasNoBackend(t *testing.T) {
	r := render(t, only("extension", `global:
  backend:
    name: metalstack
    metalstack:
      url: https://api.metal-stack.example
      hmacSecret: {name: metal-api-credentials, key: hmac}
      project: p-1
extension:
  webhook:
    caBundle: |
`+indent(testCA, 6)))
	n := 0
	for _, w := range workloads(t, r.objs) {
		for _, c := range w.pod.Containers {
			n++
			for _, a := range append(slices.Clone(c.Command), c.Args...) {
				if strings.HasPrefix(a, "--backend") || strings.HasPrefix(a, "--metal-") || strings.HasPrefix(a, "--ip-pool") {
					t.Errorf("%s: backend flag %q", w.key, a)
				}
			}
			for _, m := range c.VolumeMounts {
				if strings.HasPrefix(m.Name, "backend-") {
					t.Errorf("%s: backend mount %s", w.key, m.Name)
				}
			}
		}
	}
	for _, o := range r.objs {
		if strings.HasSuffix(o.GetName(), "-backend") {
			t.Errorf("%s: backend RBAC rendered", key(o))
		}
	}
	if n == 0 {
		t.Fatal("no extension container rendered")
	}
}
