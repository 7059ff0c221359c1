package infrastructure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	extensionscontroller "github.com/gardener/gardener/extensions/pkg/controller"
	v1beta1helper "github.com/gardener/gardener/pkg/api/core/v1beta1/helper"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	v1beta1constants "github.com/gardener/gardener/pkg/apis/core/v1beta1/constants"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	reconcilerutils "github.com/gardener/gardener/pkg/controllerutils/reconciler"
	gardenerutils "github.com/gardener/gardener/pkg/utils/gardener"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdv1 "k8s.io/client-go/tools/clientcmd/api/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/components/extension/apis/metal/v1alpha1"
	"github.com/metalkube/metalkube/components/extension/provider"
	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/metalstack"
)

// Firewalls is what the firewall lifecycle needs from the backend: only the
// metal-stack backend has firewall machines.
type Firewalls = metalstack.Firewalls

// FirewallReader reads the agents' FirewallStatus objects of a shoot.
type FirewallReader interface {
	// FirewallStatus returns the status the agent of firewall name wrote in
	// the shoot of the seed namespace, or nil when there is none (yet).
	FirewallStatus(ctx context.Context, namespace, name string) (*AgentStatus, error)
}

// AgentStatus is what the extension reads of an agent's FirewallStatus
// (firewall.metalkube.io/v1alpha1; read as unstructured: the extension does
// not import the firewall component).
type AgentStatus struct {
	LastApplied  *metav1.Time `json:"lastApplied,omitempty"`
	LastReported *metav1.Time `json:"lastReported,omitempty"`
	Error        string       `json:"error,omitempty"`
}

// FirewallStaleAfter is how long after its last report an agent counts as
// gone: it reports every 30 to 40 seconds while it runs.
const FirewallStaleAfter = 2 * time.Minute

// Names of the firewall's objects.
const (
	// FirewallAccessName is the shoot access Secret (seed) and the
	// ServiceAccount (shoot kube-system) of the firewall agents.
	FirewallAccessName = "metalkube-firewall"
	// FirewallShootResource is the ManagedResource with the agents' RBAC
	// and policy namespace in the shoot.
	FirewallShootResource = "extension-firewall-metalkube-shoot"
	// FirewallPolicyNamespace is the namespace of the policies and the
	// FirewallStatus objects in the shoot (the agent's default).
	FirewallPolicyNamespace = "firewall"
	// FirewallNamePrefix starts every firewall's allocation name.
	FirewallNamePrefix = "firewall-"
	// PurposeFirewall tags firewall machines.
	PurposeFirewall = "firewall"
	// FirewallTokenExpiration is the lifetime of the token in a firewall's
	// user data: the user data is written once at allocation.
	FirewallTokenExpiration = "2160h"
)

// FirewallGVK is the agent's status object.
var FirewallGVK = struct{ Group, Version, Kind string }{"firewall.metalkube.io", "v1alpha1", "FirewallStatus"}

// ShootFirewallReader reads FirewallStatus objects through a shoot client.
type ShootFirewallReader struct {
	// Shoot returns a client of the shoot of a seed namespace.
	Shoot func(ctx context.Context, namespace string) (client.Reader, error)
}

// FirewallStatus implements FirewallReader.
func (r ShootFirewallReader) FirewallStatus(ctx context.Context, namespace, name string) (*AgentStatus, error) {
	c, err := r.Shoot(ctx, namespace)
	if err != nil {
		return nil, fmt.Errorf("client of the shoot of %s: %w", namespace, err)
	}
	return ReadAgentStatus(ctx, c, name)
}

// ReadAgentStatus reads the FirewallStatus of firewall name from a shoot
// client; nil when there is none.
func ReadAgentStatus(ctx context.Context, c client.Reader, name string) (*AgentStatus, error) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(FirewallGVK.Group + "/" + FirewallGVK.Version)
	u.SetKind(FirewallGVK.Kind)
	if err := c.Get(ctx, client.ObjectKey{Namespace: FirewallPolicyNamespace, Name: name}, u); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("FirewallStatus %s/%s in the shoot: %w", FirewallPolicyNamespace, name, err)
	}
	raw, _ := json.Marshal(u.Object["status"])
	st := &AgentStatus{}
	if err := json.Unmarshal(raw, st); err != nil {
		return nil, fmt.Errorf("FirewallStatus %s/%s: %w", FirewallPolicyNamespace, name, err)
	}
	return st, nil
}

// Health judges an agent's status at now: ready, and if not why.
func (s *AgentStatus) Health(now time.Time) (bool, string) {
	switch {
	case s == nil:
		return false, "its agent has not reported yet"
	case s.Error != "":
		return false, "its agent failed to apply the ruleset: " + s.Error
	case s.LastApplied == nil:
		return false, "its agent has applied no ruleset yet"
	case s.LastReported != nil && now.Sub(s.LastReported.Time) > FirewallStaleAfter:
		return false, fmt.Sprintf("its agent stopped reporting: last report %s ago", now.Sub(s.LastReported.Time).Round(time.Second))
	}
	return true, ""
}

// firewallPending is returned (after the status is written) while a new
// firewall is not ready and the old one keeps serving.
type firewallPending struct{ msg string }

func (e *firewallPending) Error() string { return e.msg }

// reconcileFirewall allocates the firewall of the configured spec and frees
// the others once it is ready: a changed spec rolls the firewall, new before
// old. It returns a *firewallPending while an old firewall waits for the
// new one.
func (a *Actuator) reconcileFirewall(ctx context.Context, log logr.Logger, be Backend, cfg *v1alpha1.InfrastructureConfig, infra *extensionsv1alpha1.Infrastructure,
	cluster *extensionscontroller.Cluster, name string, st *v1alpha1.InfrastructureStatus) error {
	fw := cfg.Firewall
	fws, ok := be.(Firewalls)
	if fw == nil || !fw.Enabled {
		if ok {
			return a.freeFirewalls(ctx, log, be, infra.Namespace, name, "")
		}
		return nil
	}
	if !ok {
		return v1beta1helper.NewErrorWithCodes(fmt.Errorf("infrastructureConfig.firewall.enabled=true: the %s backend has no firewall machines (only metal-stack has)", backendName(be)),
			gardencorev1beta1.ErrorConfigurationProblem)
	}
	kubeconfig, err := a.firewallKubeconfig(ctx, infra.Namespace, cluster)
	if err != nil {
		return err
	}
	if kubeconfig == nil {
		return &reconcilerutils.RequeueAfterError{RequeueAfter: 5 * time.Second,
			Cause: fmt.Errorf("waiting for the token of the firewall's shoot access secret %s", gardenerutils.SecretNamePrefixShootAccess+FirewallAccessName)}
	}
	args := AgentArgs(fw, st)
	fwName := FirewallName(fw, args, kubeconfig)
	ud, err := FirewallUserData(args, fwName, kubeconfig.raw)
	if err != nil {
		return err
	}
	existing, err := fws.FindFirewalls(ctx, name)
	if err != nil {
		return fmt.Errorf("list firewalls of cluster %s: %w", name, err)
	}
	m, err := fws.AllocateFirewall(ctx, metal.MachineSpec{
		Name: fwName, Cluster: name, Image: fw.Image, Size: fw.Size, Partition: st.Partition, Networks: slices.Clone(fw.Networks),
		Hostname: fwName, UserData: ud,
		Tags: map[string]string{provider.TagCluster: name, provider.TagPurpose: PurposeFirewall},
	})
	if err != nil {
		return fmt.Errorf("allocate firewall %s of cluster %s: %w", fwName, name, err)
	}
	fs := &v1alpha1.FirewallStatus{Name: fwName, ID: m.ID}
	agent, err := a.Firewalls.FirewallStatus(ctx, infra.Namespace, fwName)
	if err != nil {
		// The shoot may not be reachable yet: the firewall counts as not
		// ready, which keeps an old one serving.
		log.V(1).Info("Cannot read the firewall's status", "firewall", fwName, "error", err.Error())
		fs.Message = "cannot read its agent's status: " + err.Error()
	} else {
		fs.Ready, fs.Message = agent.Health(time.Now())
		if agent != nil {
			fs.LastReported = agent.LastReported
		}
	}
	for _, o := range existing {
		if o.Name != fwName {
			fs.Replacing = append(fs.Replacing, o.Name)
		}
	}
	slices.Sort(fs.Replacing)
	st.Firewall = fs
	if len(fs.Replacing) == 0 {
		return nil
	}
	if !fs.Ready {
		return &firewallPending{msg: fmt.Sprintf("firewall %s is not ready (%s); %s keeps serving until it is", fwName, fs.Message, strings.Join(fs.Replacing, ", "))}
	}
	log.Info("Firewall ready, freeing the ones it replaces", "firewall", fwName, "replacing", fs.Replacing)
	if err := a.freeFirewalls(ctx, log, be, infra.Namespace, name, fwName); err != nil {
		return err
	}
	fs.Replacing = nil
	return nil
}

func backendName(b Backend) string {
	if n, ok := b.(interface{ Backend() string }); ok {
		return n.Backend()
	}
	return fmt.Sprintf("%T", b)
}

// freeFirewalls frees the cluster's firewalls except keep, each with the
// ownership check; with keep empty it also removes the agents' access.
func (a *Actuator) freeFirewalls(ctx context.Context, log logr.Logger, be Backend, namespace, cluster, keep string) error {
	fws, ok := be.(Firewalls)
	if !ok {
		return nil
	}
	existing, err := fws.FindFirewalls(ctx, cluster)
	if err != nil {
		return fmt.Errorf("list firewalls of cluster %s: %w", cluster, err)
	}
	for _, m := range existing {
		if m.Name == keep {
			continue
		}
		log.Info("Freeing firewall", "firewall", m.Name, "machine", m.ID)
		if err := fws.FreeFirewall(ctx, m.ID, metal.OwnerOf(&m)); err != nil && !metal.IsNotFound(err) {
			return fmt.Errorf("free firewall %s (%s) of cluster %s: %w", m.Name, m.ID, cluster, err)
		}
	}
	if keep == "" {
		return a.deleteFirewallAccess(ctx, namespace)
	}
	return nil
}

// agentKubeconfig is the agents' kubeconfig with its token, and a digest of
// what identifies the API server (not the token: a renewed token does not
// roll the firewall).
type agentKubeconfig struct {
	raw    []byte
	server string
	digest string
}

// firewallKubeconfig keeps the agents' access to the shoot: a ServiceAccount
// allowed to read Services and the policies and to write FirewallStatus
// objects (through a ManagedResource), and a shoot access Secret holding a
// kubeconfig of the shoot's API server that gardener-resource-manager fills
// with the ServiceAccount's token. It returns nil until the token is there.
func (a *Actuator) firewallKubeconfig(ctx context.Context, namespace string, cluster *extensionscontroller.Cluster) (*agentKubeconfig, error) {
	if err := a.deployFirewallShootObjects(ctx, namespace); err != nil {
		return nil, err
	}
	server, ca, err := a.shootAPIServer(ctx, namespace, cluster)
	if err != nil {
		return nil, err
	}
	kc := &clientcmdv1.Config{
		CurrentContext: "shoot",
		Clusters:       []clientcmdv1.NamedCluster{{Name: "shoot", Cluster: clientcmdv1.Cluster{Server: server, CertificateAuthorityData: ca}}},
		AuthInfos:      []clientcmdv1.NamedAuthInfo{{Name: FirewallAccessName}},
		Contexts:       []clientcmdv1.NamedContext{{Name: "shoot", Context: clientcmdv1.Context{Cluster: "shoot", AuthInfo: FirewallAccessName, Namespace: FirewallPolicyNamespace}}},
	}
	access := gardenerutils.NewShootAccessSecret(FirewallAccessName, namespace).WithKubeconfig(kc).WithTokenExpirationDuration(FirewallTokenExpiration)
	if err := access.Reconcile(ctx, a.Client); err != nil {
		return nil, fmt.Errorf("shoot access secret of the firewall: %w", err)
	}
	s := &corev1.Secret{}
	if err := a.Client.Get(ctx, client.ObjectKeyFromObject(access.Secret), s); err != nil {
		return nil, fmt.Errorf("shoot access secret of the firewall: %w", err)
	}
	raw := s.Data["kubeconfig"]
	parsed, err := clientcmd.Load(raw)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig of shoot access secret %s: %w", s.Name, err)
	}
	if ai := parsed.AuthInfos[FirewallAccessName]; ai == nil || ai.Token == "" {
		return nil, nil
	}
	sum := sha256.Sum256(append([]byte(server+"\n"), ca...))
	return &agentKubeconfig{raw: raw, server: server, digest: hex.EncodeToString(sum[:])}, nil
}

// shootAPIServer returns the address a firewall reaches the shoot's API
// server at (its external advertised address, else the generic
// kubeconfig's server) and its CA.
func (a *Actuator) shootAPIServer(ctx context.Context, namespace string, cluster *extensionscontroller.Cluster) (string, []byte, error) {
	name := v1beta1constants.SecretNameGenericTokenKubeconfig
	if cluster != nil && cluster.Shoot != nil {
		name = extensionscontroller.GenericTokenKubeconfigSecretNameFromCluster(cluster)
	}
	s := &corev1.Secret{}
	if err := a.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
		return "", nil, fmt.Errorf("generic token kubeconfig %s/%s: %w", namespace, name, err)
	}
	kc, err := clientcmd.Load(s.Data["kubeconfig"])
	if err != nil {
		return "", nil, fmt.Errorf("generic token kubeconfig %s/%s: %w", namespace, name, err)
	}
	ctxName := kc.CurrentContext
	c := kc.Contexts[ctxName]
	if c == nil || kc.Clusters[c.Cluster] == nil {
		return "", nil, fmt.Errorf("generic token kubeconfig %s/%s: no cluster in its current context %q", namespace, name, ctxName)
	}
	cl := kc.Clusters[c.Cluster]
	server := cl.Server
	if cluster != nil && cluster.Shoot != nil {
		for _, addr := range cluster.Shoot.Status.AdvertisedAddresses {
			if addr.Name == v1beta1constants.AdvertisedAddressExternal {
				server = addr.URL
			}
		}
	}
	return server, cl.CertificateAuthorityData, nil
}

// FirewallName is the allocation name of a firewall: a hash of everything
// that needs a new machine when it changes.
func FirewallName(fw *v1alpha1.Firewall, args []string, kc *agentKubeconfig) string {
	h := sha256.New()
	for _, s := range append([]string{fw.Size, fw.Image, strings.Join(fw.Networks, ","), kc.digest}, args...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return FirewallNamePrefix + hex.EncodeToString(h.Sum(nil))[:10]
}

func (a *Actuator) deleteFirewallAccess(ctx context.Context, namespace string) error {
	if err := a.deleteFirewallRBAC(ctx, namespace); err != nil {
		return err
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: gardenerutils.SecretNamePrefixShootAccess + FirewallAccessName, Namespace: namespace}}
	if err := a.Client.Delete(ctx, s); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete the firewall's shoot access secret: %w", err)
	}
	return nil
}
