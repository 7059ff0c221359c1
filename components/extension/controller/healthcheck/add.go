package healthcheck

import (
	"context"
	"time"

	extensionsconfigv1alpha1 "github.com/gardener/gardener/extensions/pkg/apis/config/v1alpha1"
	"github.com/gardener/gardener/extensions/pkg/controller/healthcheck"
	"github.com/gardener/gardener/extensions/pkg/controller/healthcheck/general"
	"github.com/gardener/gardener/extensions/pkg/controller/healthcheck/worker"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/metalkube/metalkube/components/extension/provider"
)

// ControllerName is the name the controller is switched on and off by.
const ControllerName = "healthcheck"

// DefaultSyncPeriod is how often the checks run.
const DefaultSyncPeriod = 30 * time.Second

// AddOptions configure the health checks.
type AddOptions struct {
	Controller controller.Options
	// SyncPeriod of the checks; default DefaultSyncPeriod.
	SyncPeriod time.Duration
	// ExtensionClasses handled; empty means the shoot class.
	ExtensionClasses []extensionsv1alpha1.ExtensionClass
}

// AddToManager registers the ControlPlane, Infrastructure (firewall) and
// Worker health checks.
func AddToManager(_ context.Context, mgr manager.Manager, opts AddOptions) error {
	if opts.SyncPeriod == 0 {
		opts.SyncPeriod = DefaultSyncPeriod
	}
	if len(opts.ExtensionClasses) == 0 {
		opts.ExtensionClasses = []extensionsv1alpha1.ExtensionClass{extensionsv1alpha1.ExtensionClassShoot}
	}
	args := healthcheck.DefaultAddArgs{
		Controller:        opts.Controller,
		HealthCheckConfig: extensionsconfigv1alpha1.HealthCheckConfig{SyncPeriod: metav1.Duration{Duration: opts.SyncPeriod}},
		ExtensionClasses:  opts.ExtensionClasses,
	}
	if err := healthcheck.DefaultRegistration(
		provider.Type,
		extensionsv1alpha1.SchemeGroupVersion.WithKind(extensionsv1alpha1.ControlPlaneResource),
		func() client.ObjectList { return &extensionsv1alpha1.ControlPlaneList{} },
		func() extensionsv1alpha1.Object { return &extensionsv1alpha1.ControlPlane{} },
		mgr, args, nil,
		[]healthcheck.ConditionTypeToHealthCheck{
			{ConditionType: string(gardencorev1beta1.ShootControlPlaneHealthy), HealthCheck: general.CheckManagedResource(provider.ControlPlaneSeedResource)},
			{ConditionType: string(gardencorev1beta1.ShootControlPlaneHealthy), HealthCheck: general.NewSeedDeploymentHealthChecker(provider.CloudControllerManagerName)},
			{ConditionType: string(gardencorev1beta1.ShootSystemComponentsHealthy), HealthCheck: general.CheckManagedResource(provider.ControlPlaneShootResource)},
		},
		nil,
	); err != nil {
		return err
	}
	if err := healthcheck.DefaultRegistration(
		provider.Type,
		extensionsv1alpha1.SchemeGroupVersion.WithKind(extensionsv1alpha1.InfrastructureResource),
		func() client.ObjectList { return &extensionsv1alpha1.InfrastructureList{} },
		func() extensionsv1alpha1.Object { return &extensionsv1alpha1.Infrastructure{} },
		mgr, args, nil,
		[]healthcheck.ConditionTypeToHealthCheck{
			{ConditionType: string(gardencorev1beta1.ShootSystemComponentsHealthy), HealthCheck: &FirewallChecker{}},
		},
		nil,
	); err != nil {
		return err
	}
	return healthcheck.DefaultRegistration(
		provider.Type,
		extensionsv1alpha1.SchemeGroupVersion.WithKind(extensionsv1alpha1.WorkerResource),
		func() client.ObjectList { return &extensionsv1alpha1.WorkerList{} },
		func() extensionsv1alpha1.Object { return &extensionsv1alpha1.Worker{} },
		mgr, args, nil,
		[]healthcheck.ConditionTypeToHealthCheck{
			{ConditionType: string(gardencorev1beta1.ShootEveryNodeReady), HealthCheck: worker.NewNodesChecker()},
		},
		nil,
	)
}
