package shoot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	resourcesv1alpha1 "github.com/gardener/gardener/pkg/apis/resources/v1alpha1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/cert"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/yaml"

	"github.com/metalkube/metalkube/e2e/framework"
	"github.com/metalkube/metalkube/shared/testenv"
)

// PeerResourceManager is gardener-resource-manager, built from the gardener
// module by hack/peers.sh.
const PeerResourceManager = "gardener-resource-manager"

// startResourceManagers runs gardener-resource-manager twice, as Gardener
// does: the seed's, for ManagedResources of class seed in every namespace,
// and the shoot's, for the shoot namespace's ManagedResources without a
// class, applying them to the shoot and filling its shoot access Secrets
// with service account tokens (token requestor). Seed and shoot are the
// same API server here.
func (f *Flow) startResourceManagers(ctx context.Context) error {
	bin, err := testenv.PeerBinary(PeerResourceManager)
	if err != nil {
		return err
	}
	certDir := filepath.Join(f.LogDir, "grm-certs")
	crt, key, err := cert.GenerateSelfSignedCertKey("127.0.0.1", nil, nil)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return err
	}
	for name, b := range map[string][]byte{"tls.crt": crt, "tls.key": key} {
		if err := os.WriteFile(filepath.Join(certDir, name), b, 0o600); err != nil {
			return err
		}
	}
	seedWebhookPort := mustPort()
	seed := map[string]any{
		"controllers": map[string]any{"resourceClass": "seed", "managedResource": map[string]any{"syncPeriod": "1m"}},
	}
	if f.Kubelet != nil {
		// As in a seed: the pods of the shoot's namespace whose service
		// account mounts no token get a projected one (machine-controller-manager's).
		seed["webhooks"] = map[string]any{"projectedTokenMount": map[string]any{"enabled": true}}
	}
	for _, grm := range []struct {
		name   string
		port   int
		config map[string]any
	}{
		{"gardener-resource-manager-seed", seedWebhookPort, seed},
		{"gardener-resource-manager-shoot", mustPort(), map[string]any{
			"sourceClientConnection": map[string]any{"kubeconfig": f.kubeconfig, "namespaces": []string{f.ns}},
			"controllers": map[string]any{"managedResource": map[string]any{"syncPeriod": "1m"},
				"tokenRequestor": map[string]any{"enabled": true}},
		}},
	} {
		cfg := map[string]any{
			"apiVersion":             "resourcemanager.config.gardener.cloud/v1alpha1",
			"kind":                   "ResourceManagerConfiguration",
			"sourceClientConnection": map[string]any{"kubeconfig": f.kubeconfig},
			"targetClientConnection": map[string]any{"kubeconfig": f.kubeconfig},
			"leaderElection":         map[string]any{"leaderElect": false},
			"logLevel":               "info",
			"logFormat":              "json",
			"server": map[string]any{
				"webhooks":     map[string]any{"bindAddress": "127.0.0.1", "port": grm.port, "tls": map[string]any{"serverCertDir": certDir}},
				"healthProbes": map[string]any{"bindAddress": "127.0.0.1", "port": mustPort()},
				"metrics":      map[string]any{"bindAddress": "127.0.0.1", "port": mustPort()},
			},
		}
		for k, v := range grm.config {
			cfg[k] = v
		}
		b, err := yaml.Marshal(cfg)
		if err != nil {
			return err
		}
		path := filepath.Join(f.LogDir, grm.name+".yaml")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return err
		}
		if err := f.startProcess(grm.name, bin, "--config="+path); err != nil {
			return err
		}
	}
	if f.Kubelet != nil {
		if err := f.projectedTokenMountWebhook(ctx, seedWebhookPort, crt); err != nil {
			return err
		}
	}
	gctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.collectGarbage(gctx)
	}()
	f.stopGC = func() { cancel(); <-done }
	return nil
}

func mustPort() int {
	p, err := framework.FreePort()
	if err != nil {
		return 0
	}
	return p
}

// waitApplied waits until gardener-resource-manager applied every
// ManagedResource of the shoot namespace and filled every shoot access
// Secret with a token.
func (f *Flow) waitApplied(ctx context.Context) error {
	return framework.Eventually(ctx, "gardener-resource-manager to apply the ManagedResources and request the shoot access tokens", 2*time.Minute, interval, func(ctx context.Context) (bool, error) {
		mrs := &resourcesv1alpha1.ManagedResourceList{}
		if err := f.Env.Client.List(ctx, mrs, client.InNamespace(f.ns)); err != nil {
			return false, err
		}
		for _, mr := range mrs.Items {
			applied := false
			for _, c := range mr.Status.Conditions {
				if c.Type == resourcesv1alpha1.ResourcesApplied && c.Status == "True" && mr.Status.ObservedGeneration == mr.Generation {
					applied = true
				}
			}
			if !applied {
				return false, fmt.Errorf("ManagedResource %s not applied yet", mr.Name)
			}
			if f.applied[mr.Name] != mr.Generation {
				f.applied[mr.Name] = mr.Generation
				f.detail("ManagedResource %s applied by gardener-resource-manager", mr.Name)
			}
		}
		secrets := &corev1.SecretList{}
		if err := f.Env.Client.List(ctx, secrets, client.InNamespace(f.ns),
			client.MatchingLabels{resourcesv1alpha1.ResourceManagerPurpose: resourcesv1alpha1.LabelPurposeTokenRequest}); err != nil {
			return false, err
		}
		for _, s := range secrets.Items {
			if len(s.Data[resourcesv1alpha1.DataKeyToken]) == 0 {
				return false, fmt.Errorf("shoot access secret %s has no token yet", s.Name)
			}
		}
		return true, nil
	})
}

// collectGarbage plays kube-controller-manager's garbage collector, which does
// not run here, for the foreground deletions gardener-resource-manager makes in
// the shoot namespace: it removes the foregroundDeletion finalizer of a
// Deployment once nothing it owns is left (no ReplicaSets here, as no
// deployment controller runs).
func (f *Flow) collectGarbage(ctx context.Context) {
	for {
		deps := &appsv1.DeploymentList{}
		if err := f.Env.Client.List(ctx, deps, client.InNamespace(f.ns)); err == nil {
			for i := range deps.Items {
				d := &deps.Items[i]
				if d.DeletionTimestamp == nil || !controllerutil.ContainsFinalizer(d, metav1.FinalizerDeleteDependents) {
					continue
				}
				owned := &appsv1.ReplicaSetList{}
				if err := f.Env.Client.List(ctx, owned, client.InNamespace(f.ns)); err != nil {
					continue
				}
				if slices.ContainsFunc(owned.Items, func(rs appsv1.ReplicaSet) bool { return metav1.IsControlledBy(&rs, d) }) {
					continue
				}
				patch := client.MergeFrom(d.DeepCopy())
				controllerutil.RemoveFinalizer(d, metav1.FinalizerDeleteDependents)
				_ = f.Env.Client.Patch(ctx, d, patch)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// projectedTokenMountWebhook registers the seed gardener-resource-manager's
// projected-token-mount webhook for the shoot's namespace, as Gardener
// configures it: on pod creation, unless the pod opts out.
func (f *Flow) projectedTokenMountWebhook(ctx context.Context, port int, ca []byte) error {
	url := fmt.Sprintf("https://127.0.0.1:%d%s", port, projectedTokenMountPath)
	wh := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "gardener-resource-manager-" + f.ns},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "projected-token-mount.resources.gardener.cloud",
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
			}},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: f.ns}},
			ObjectSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: resourcesv1alpha1.ProjectedTokenSkip, Operator: metav1.LabelSelectorOpDoesNotExist},
			}},
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: ca},
			AdmissionReviewVersions: []string{"v1"},
			FailurePolicy:           ptr(admissionregistrationv1.Fail),
			SideEffects:             ptr(admissionregistrationv1.SideEffectClassNone),
		}},
	}
	if err := f.apply(ctx, wh); err != nil {
		return fmt.Errorf("register gardener-resource-manager's projected-token-mount webhook: %w", err)
	}
	f.detail("gardener-resource-manager's projected-token-mount webhook at %s", url)
	return nil
}

// projectedTokenMountPath is where gardener-resource-manager serves its
// projected-token-mount webhook.
const projectedTokenMountPath = "/webhooks/mount-projected-service-account-token"
