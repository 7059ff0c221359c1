package integration

import (
	"context"
	"time"

	machinev1alpha1 "github.com/gardener/machine-controller-manager/pkg/apis/machine/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// mcmFinalizer is what an out-of-tree MCM provider puts on the credentials
// Secret of its MachineClasses.
const mcmFinalizer = "machine.sapcloud.io/machine-controller"

// fakeMCM plays machine-controller-manager for the generic worker actuator:
// per MachineDeployment a MachineSet of its class and a status with all
// replicas available, and the finalizer on the credentials Secret while a
// MachineClass uses it. It creates no machines.
type fakeMCM struct{ c client.Client }

func (f *fakeMCM) Start(ctx context.Context) error {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			f.sync(ctx)
		}
	}
}

func (f *fakeMCM) sync(ctx context.Context) {
	mds := &machinev1alpha1.MachineDeploymentList{}
	if err := f.c.List(ctx, mds); err != nil {
		return
	}
	for i := range mds.Items {
		md := &mds.Items[i]
		if md.DeletionTimestamp != nil {
			continue
		}
		class := md.Spec.Template.Spec.Class.Name
		ms := &machinev1alpha1.MachineSet{ObjectMeta: metav1.ObjectMeta{Name: class, Namespace: md.Namespace}}
		if err := f.c.Get(ctx, client.ObjectKeyFromObject(ms), ms); apierrors.IsNotFound(err) {
			ms.OwnerReferences = []metav1.OwnerReference{{APIVersion: machinev1alpha1.SchemeGroupVersion.String(), Kind: "MachineDeployment", Name: md.Name, UID: md.UID}}
			ms.Spec.Template.Spec.Class = md.Spec.Template.Spec.Class
			ms.Spec.Replicas = md.Spec.Replicas
			_ = f.c.Create(ctx, ms)
		}
		want := md.Spec.Replicas
		if md.Status.ObservedGeneration == md.Generation && md.Status.AvailableReplicas == want && md.Status.UpdatedReplicas == want && len(md.Status.Conditions) > 0 {
			continue
		}
		md.Status.ObservedGeneration = md.Generation
		md.Status.Replicas, md.Status.UpdatedReplicas, md.Status.AvailableReplicas, md.Status.ReadyReplicas = want, want, want, want
		md.Status.Conditions = []machinev1alpha1.MachineDeploymentCondition{{Type: machinev1alpha1.MachineDeploymentAvailable, Status: machinev1alpha1.ConditionTrue}}
		_ = f.c.Status().Update(ctx, md)
	}
	// Credentials secrets: held while a class uses them.
	mcs := &machinev1alpha1.MachineClassList{}
	if err := f.c.List(ctx, mcs); err != nil {
		return
	}
	used := map[client.ObjectKey]bool{}
	for _, mc := range mcs.Items {
		if mc.CredentialsSecretRef != nil && mc.DeletionTimestamp == nil {
			used[client.ObjectKey{Namespace: mc.CredentialsSecretRef.Namespace, Name: mc.CredentialsSecretRef.Name}] = true
		}
	}
	secrets := &corev1.SecretList{}
	if err := f.c.List(ctx, secrets); err != nil {
		return
	}
	for i := range secrets.Items {
		s := &secrets.Items[i]
		key := client.ObjectKeyFromObject(s)
		has := controllerutil.ContainsFinalizer(s, mcmFinalizer)
		switch {
		case used[key] && !has:
			controllerutil.AddFinalizer(s, mcmFinalizer)
			_ = f.c.Update(ctx, s)
		case !used[key] && has:
			controllerutil.RemoveFinalizer(s, mcmFinalizer)
			_ = f.c.Update(ctx, s)
		}
	}
	// MachineSets of deleted deployments go with them (no garbage collector here).
	sets := &machinev1alpha1.MachineSetList{}
	if err := f.c.List(ctx, sets); err != nil {
		return
	}
	alive := map[string]bool{}
	for _, md := range mds.Items {
		if md.DeletionTimestamp == nil {
			alive[md.Namespace+"/"+md.Name] = true
		}
	}
	for i := range sets.Items {
		s := &sets.Items[i]
		if len(s.OwnerReferences) > 0 && !alive[s.Namespace+"/"+s.OwnerReferences[0].Name] {
			_ = f.c.Delete(ctx, s)
		}
	}
}
