package webhooks

import (
	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	infrav1 "github.com/metalkube/metalkube/components/capi/apis/infrastructure/v1alpha1"
)

// Configurations returns the webhook configurations that send the
// provider's objects to its webhooks behind svc (the chart renders the same
// ones from its values): one mutating webhook (MetalCluster defaulting) and
// a validating webhook per kind, failing closed.
func Configurations(name string, svc admissionv1.ServiceReference) (*admissionv1.MutatingWebhookConfiguration, *admissionv1.ValidatingWebhookConfiguration) {
	fail, none := admissionv1.Fail, admissionv1.SideEffectClassNone
	hook := func(path, resource string) (admissionv1.WebhookClientConfig, []admissionv1.RuleWithOperations) {
		s := svc
		s.Path = &path
		return admissionv1.WebhookClientConfig{Service: &s}, []admissionv1.RuleWithOperations{{
			Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update},
			Rule: admissionv1.Rule{APIGroups: []string{infrav1.GroupVersion.Group}, APIVersions: []string{infrav1.GroupVersion.Version},
				Resources: []string{resource}},
		}}
	}
	cc, rules := hook(PathMutateMetalCluster, "metalclusters")
	mutating := &admissionv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionv1.MutatingWebhook{{Name: "default.metalcluster." + infrav1.GroupVersion.Group, ClientConfig: cc, Rules: rules,
			FailurePolicy: &fail, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}}}}
	validating := &admissionv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, k := range []struct{ path, resource, kind string }{
		{PathValidateMetalCluster, "metalclusters", "metalcluster"},
		{PathValidateMetalClusterTemplate, "metalclustertemplates", "metalclustertemplate"},
		{PathValidateMetalMachine, "metalmachines", "metalmachine"},
		{PathValidateMetalMachineTemplate, "metalmachinetemplates", "metalmachinetemplate"},
	} {
		cc, rules := hook(k.path, k.resource)
		validating.Webhooks = append(validating.Webhooks, admissionv1.ValidatingWebhook{Name: "validate." + k.kind + "." + infrav1.GroupVersion.Group,
			ClientConfig: cc, Rules: rules, FailurePolicy: &fail, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}})
	}
	return mutating, validating
}
