package infrastructure

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"time"

	resourcesv1alpha1 "github.com/gardener/gardener/pkg/apis/resources/v1alpha1"
	"github.com/gardener/gardener/pkg/client/kubernetes"
	"github.com/gardener/gardener/pkg/utils/managedresources"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/metalkube/metalkube/components/extension/provider"
)

// crds are the firewall's CRDs (a copy of components/firewall/config/crd
// that `make generate` keeps current).
//
//go:embed crds/*.yaml
var crds embed.FS

// FirewallCRDs returns the CRDs of the policies and FirewallStatus objects,
// marked to stay when the firewall is removed (they hold users' policies).
func FirewallCRDs() ([]client.Object, error) {
	files, err := fs.Glob(crds, "crds/*.yaml")
	if err != nil {
		return nil, err
	}
	var out []client.Object
	for _, f := range files {
		b, err := crds.ReadFile(f)
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(b, crd); err != nil {
			return nil, fmt.Errorf("firewall CRD %s: %w", f, err)
		}
		crd.TypeMeta = metav1.TypeMeta{APIVersion: apiextensionsv1.SchemeGroupVersion.String(), Kind: "CustomResourceDefinition"}
		metav1.SetMetaDataAnnotation(&crd.ObjectMeta, resourcesv1alpha1.KeepObject, "true")
		out = append(out, crd)
	}
	return out, nil
}

// FirewallShootObjects are the firewall agents' objects in the shoot: the
// policy namespace (kept when the firewall is removed), and what the agents may do, nothing more: read Services
// cluster-wide (the agent opens LoadBalancer Services), read the policies
// and write their status and the FirewallStatus objects in the policy
// namespace only.
func FirewallShootObjects() []client.Object {
	name := "metalkube:firewall"
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: FirewallAccessName, Namespace: metav1.NamespaceSystem}}
	const group = "firewall.metalkube.io"
	return []client.Object{
		// The namespace holds the users' policies: it stays when the
		// firewall goes.
		&corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: FirewallPolicyNamespace, Annotations: map[string]string{resourcesv1alpha1.KeepObject: "true"}}},
		&rbacv1.ClusterRole{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get", "list", "watch"}}},
		},
		&rbacv1.ClusterRoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
			Subjects:   subjects,
		},
		&rbacv1.Role{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: FirewallPolicyNamespace},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{group}, Resources: []string{"clusterwidenetworkpolicies"}, Verbs: []string{"get", "list", "watch"}},
				{APIGroups: []string{group}, Resources: []string{"firewallstatuses"}, Verbs: []string{"get", "list", "watch", "create"}},
				{APIGroups: []string{group}, Resources: []string{"clusterwidenetworkpolicies/status", "firewallstatuses/status"}, Verbs: []string{"get", "update", "patch"}},
			},
		},
		&rbacv1.RoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: FirewallPolicyNamespace},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects:   subjects,
		},
	}
}

func (a *Actuator) deployFirewallShootObjects(ctx context.Context, namespace string) error {
	objs, err := FirewallCRDs()
	if err != nil {
		return err
	}
	data, err := managedresources.NewRegistry(kubernetes.ShootScheme, kubernetes.ShootCodec, kubernetes.ShootSerializer).AddAllAndSerialize(append(objs, FirewallShootObjects()...)...)
	if err != nil {
		return fmt.Errorf("serialize the firewall's shoot objects: %w", err)
	}
	if err := managedresources.CreateForShoot(ctx, a.Client, namespace, FirewallShootResource, provider.Name, false, data); err != nil {
		return fmt.Errorf("managed resource %s: %w", FirewallShootResource, err)
	}
	return nil
}

// deleteFirewallRBAC removes the agents' shoot objects and waits (at most
// two minutes) until gardener-resource-manager has removed them.
func (a *Actuator) deleteFirewallRBAC(ctx context.Context, namespace string) error {
	if err := managedresources.Delete(ctx, a.Client, namespace, FirewallShootResource, true); err != nil {
		return fmt.Errorf("delete managed resource %s: %w", FirewallShootResource, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := managedresources.WaitUntilDeleted(wctx, a.Client, namespace, FirewallShootResource); err != nil {
		return fmt.Errorf("wait for managed resource %s to be deleted: %w", FirewallShootResource, err)
	}
	return nil
}
