package webhooks

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	infrav1 "github.com/metalkube/metalkube/components/capi/apis/infrastructure/v1alpha1"
)

// The webhook paths, as controller-runtime derives them (the chart's
// webhook configurations name them).
const (
	PathMutateMetalCluster           = "/mutate-infrastructure-cluster-x-k8s-io-v1alpha1-metalcluster"
	PathValidateMetalCluster         = "/validate-infrastructure-cluster-x-k8s-io-v1alpha1-metalcluster"
	PathValidateMetalClusterTemplate = "/validate-infrastructure-cluster-x-k8s-io-v1alpha1-metalclustertemplate"
	PathValidateMetalMachine         = "/validate-infrastructure-cluster-x-k8s-io-v1alpha1-metalmachine"
	PathValidateMetalMachineTemplate = "/validate-infrastructure-cluster-x-k8s-io-v1alpha1-metalmachinetemplate"
)

// AddToManager registers the webhooks with mgr's webhook server.
func AddToManager(mgr manager.Manager) error {
	for _, err := range []error{
		ctrl.NewWebhookManagedBy(mgr, &infrav1.MetalCluster{}).WithDefaulter(Cluster{}).WithValidator(Cluster{}).Complete(),
		ctrl.NewWebhookManagedBy(mgr, &infrav1.MetalClusterTemplate{}).WithValidator(ClusterTemplate{}).Complete(),
		ctrl.NewWebhookManagedBy(mgr, &infrav1.MetalMachine{}).WithValidator(Machine{}).Complete(),
		ctrl.NewWebhookManagedBy(mgr, &infrav1.MetalMachineTemplate{}).WithValidator(MachineTemplate{}).Complete(),
	} {
		if err != nil {
			return fmt.Errorf("capi webhooks: %w", err)
		}
	}
	return nil
}

func invalid(kind, name string, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(schema.GroupKind{Group: infrav1.GroupVersion.Group, Kind: kind}, name, errs)
}

// Cluster defaults and validates MetalClusters.
type Cluster struct{}

var (
	_ admission.Defaulter[*infrav1.MetalCluster] = Cluster{}
	_ admission.Validator[*infrav1.MetalCluster] = Cluster{}
)

// Default implements admission.Defaulter.
func (Cluster) Default(_ context.Context, c *infrav1.MetalCluster) error {
	DefaultCluster(&c.Spec)
	return nil
}

// ValidateCreate implements admission.Validator.
func (Cluster) ValidateCreate(_ context.Context, c *infrav1.MetalCluster) (admission.Warnings, error) {
	return nil, invalid("MetalCluster", c.Name, ValidateClusterSpec(&c.Spec, field.NewPath("spec")))
}

// ValidateUpdate implements admission.Validator.
func (Cluster) ValidateUpdate(_ context.Context, old, c *infrav1.MetalCluster) (admission.Warnings, error) {
	return nil, invalid("MetalCluster", c.Name, ValidateClusterUpdate(&old.Spec, &c.Spec, field.NewPath("spec")))
}

// ValidateDelete implements admission.Validator.
func (Cluster) ValidateDelete(context.Context, *infrav1.MetalCluster) (admission.Warnings, error) {
	return nil, nil
}

// ClusterTemplate validates MetalClusterTemplates.
type ClusterTemplate struct{}

var _ admission.Validator[*infrav1.MetalClusterTemplate] = ClusterTemplate{}

// ValidateCreate implements admission.Validator.
func (ClusterTemplate) ValidateCreate(_ context.Context, t *infrav1.MetalClusterTemplate) (admission.Warnings, error) {
	s := t.Spec.Template.Spec.DeepCopy()
	DefaultCluster(s)
	return nil, invalid("MetalClusterTemplate", t.Name, ValidateClusterSpec(s, field.NewPath("spec", "template", "spec")))
}

// ValidateUpdate implements admission.Validator.
func (ClusterTemplate) ValidateUpdate(_ context.Context, old, t *infrav1.MetalClusterTemplate) (admission.Warnings, error) {
	return nil, invalid("MetalClusterTemplate", t.Name, ValidateTemplateUpdate(old.Spec, t.Spec, field.NewPath("spec")))
}

// ValidateDelete implements admission.Validator.
func (ClusterTemplate) ValidateDelete(context.Context, *infrav1.MetalClusterTemplate) (admission.Warnings, error) {
	return nil, nil
}

// Machine validates MetalMachines.
type Machine struct{}

var _ admission.Validator[*infrav1.MetalMachine] = Machine{}

// ValidateCreate implements admission.Validator.
func (Machine) ValidateCreate(_ context.Context, m *infrav1.MetalMachine) (admission.Warnings, error) {
	return nil, invalid("MetalMachine", m.Name, ValidateMachineSpec(&m.Spec, field.NewPath("spec")))
}

// ValidateUpdate implements admission.Validator.
func (Machine) ValidateUpdate(_ context.Context, old, m *infrav1.MetalMachine) (admission.Warnings, error) {
	if m.DeletionTimestamp != nil {
		return nil, nil // finalizers must come off whatever the spec says
	}
	return nil, invalid("MetalMachine", m.Name, ValidateMachineUpdate(&old.Spec, &m.Spec, field.NewPath("spec")))
}

// ValidateDelete implements admission.Validator.
func (Machine) ValidateDelete(context.Context, *infrav1.MetalMachine) (admission.Warnings, error) {
	return nil, nil
}

// MachineTemplate validates MetalMachineTemplates.
type MachineTemplate struct{}

var _ admission.Validator[*infrav1.MetalMachineTemplate] = MachineTemplate{}

// ValidateCreate implements admission.Validator.
func (MachineTemplate) ValidateCreate(_ context.Context, t *infrav1.MetalMachineTemplate) (admission.Warnings, error) {
	return nil, invalid("MetalMachineTemplate", t.Name, ValidateMachineSpec(&t.Spec.Template.Spec, field.NewPath("spec", "template", "spec")))
}

// ValidateUpdate implements admission.Validator.
func (MachineTemplate) ValidateUpdate(_ context.Context, old, t *infrav1.MetalMachineTemplate) (admission.Warnings, error) {
	return nil, invalid("MetalMachineTemplate", t.Name, ValidateTemplateUpdate(old.Spec, t.Spec, field.NewPath("spec")))
}

// ValidateDelete implements admission.Validator.
func (MachineTemplate) ValidateDelete(context.Context, *infrav1.MetalMachineTemplate) (admission.Warnings, error) {
	return nil, nil
}
