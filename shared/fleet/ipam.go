package fleet

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ipamv1 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/metalkube/metalkube/shared/metal/ironcore"
)

// reconcileIPClaim answers IPAddressClaims for the emulator's pools as an
// in-cluster IPAM provider would: an IPAddress named after the claim, the
// claim's addressRef and a Ready condition; a refusal is Ready=False with a
// reason the ironcore backend maps to a typed error.
func (e *Emulator) reconcileIPClaim(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	claim := &ipamv1.IPAddressClaim{}
	if err := e.metal.Get(ctx, req.NamespacedName, claim); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	pool := e.pool(claim.Spec.PoolRef)
	if pool == nil {
		return reconcile.Result{}, nil // not ours
	}
	addr := &ipamv1.IPAddress{ObjectMeta: metav1.ObjectMeta{Namespace: claim.Namespace, Name: claim.Name}}
	if claim.DeletionTimestamp != nil {
		if err := e.metal.Delete(ctx, addr); client.IgnoreNotFound(err) != nil {
			return reconcile.Result{}, err
		}
		controllerutil.RemoveFinalizer(claim, IPClaimFinalizer)
		return reconcile.Result{}, client.IgnoreNotFound(e.metal.Update(ctx, claim))
	}
	if claim.Status.AddressRef.Name != "" {
		return reconcile.Result{}, nil
	}
	if c := meta.FindStatusCondition(claim.Status.Conditions, ironcore.ConditionReady); c != nil && c.Status == metav1.ConditionFalse {
		return reconcile.Result{}, nil // refused; the requester deletes it
	}
	used, err := e.usedAddresses(ctx, pool)
	if err != nil {
		return reconcile.Result{}, err
	}
	var ip netip.Addr
	var prefix netip.Prefix
	if want := claim.Annotations[ironcore.AnnotationRequestedAddress]; want != "" {
		a, err := netip.ParseAddr(want)
		i := slices.IndexFunc(pool.Prefixes, func(p netip.Prefix) bool { return err == nil && p.Contains(a) })
		switch {
		case i < 0:
			return reconcile.Result{}, e.refuse(ctx, claim, ironcore.ReasonAddressOutOfRange, fmt.Sprintf("address %s is outside pool %s (%v)", want, pool.Name, pool.Prefixes))
		case used[a] != "" && used[a] != claim.Name:
			return reconcile.Result{}, e.refuse(ctx, claim, ironcore.ReasonAddressInUse, fmt.Sprintf("address %s of pool %s is already allocated", want, pool.Name))
		}
		ip, prefix = a, pool.Prefixes[i]
	} else {
		family := 0
		switch claim.Annotations[ironcore.AnnotationRequestedFamily] {
		case "4":
			family = 4
		case "6":
			family = 6
		}
		ip, prefix = free(pool.Prefixes, family, used)
		if !ip.IsValid() {
			return reconcile.Result{}, e.refuse(ctx, claim, ironcore.ReasonPoolExhausted, fmt.Sprintf("pool %s has no free address", pool.Name))
		}
	}
	// Only a claim that gets an address holds a finalizer: a refused one is
	// deleted at once by its requester.
	if controllerutil.AddFinalizer(claim, IPClaimFinalizer) {
		if err := e.metal.Update(ctx, claim); err != nil {
			return reconcile.Result{}, err
		}
	}
	addr.Spec = ipamv1.IPAddressSpec{
		ClaimRef: ipamv1.IPAddressClaimReference{Name: claim.Name},
		PoolRef:  claim.Spec.PoolRef,
		Address:  ip.String(),
		Prefix:   ptr(int32(prefix.Bits())),
	}
	if err := e.metal.Create(ctx, addr); err != nil && !apierrors.IsAlreadyExists(err) {
		return reconcile.Result{}, err
	}
	claim.Status.AddressRef = ipamv1.IPAddressReference{Name: addr.Name}
	meta.SetStatusCondition(&claim.Status.Conditions, metav1.Condition{Type: ironcore.ConditionReady, Status: metav1.ConditionTrue, Reason: "Allocated", Message: ip.String()})
	return reconcile.Result{}, e.metal.Status().Update(ctx, claim)
}

func (e *Emulator) refuse(ctx context.Context, claim *ipamv1.IPAddressClaim, reason, msg string) error {
	meta.SetStatusCondition(&claim.Status.Conditions, metav1.Condition{Type: ironcore.ConditionReady, Status: metav1.ConditionFalse, Reason: reason, Message: msg})
	return e.metal.Status().Update(ctx, claim)
}

func (e *Emulator) pool(ref ipamv1.IPPoolReference) *Pool {
	for i := range e.cfg.Pools {
		p := &e.cfg.Pools[i]
		if p.Name == ref.Name && p.Kind == ref.Kind && p.APIGroup == ref.APIGroup {
			return p
		}
	}
	return nil
}

// usedAddresses maps the pool's allocated addresses to the claims holding them.
func (e *Emulator) usedAddresses(ctx context.Context, pool *Pool) (map[netip.Addr]string, error) {
	list := &ipamv1.IPAddressList{}
	if err := e.metal.List(ctx, list); err != nil {
		return nil, err
	}
	used := map[netip.Addr]string{}
	for _, a := range list.Items {
		if a.Spec.PoolRef.Name != pool.Name || a.Spec.PoolRef.Kind != pool.Kind {
			continue
		}
		if ip, err := netip.ParseAddr(a.Spec.Address); err == nil {
			used[ip] = a.Spec.ClaimRef.Name
		}
	}
	return used, nil
}

// free returns the first free host address of the prefixes of the family (0: any).
func free(prefixes []netip.Prefix, family int, used map[netip.Addr]string) (netip.Addr, netip.Prefix) {
	for _, p := range prefixes {
		if (family == 4 && !p.Addr().Is4()) || (family == 6 && !p.Addr().Is6()) {
			continue
		}
		for a := p.Masked().Addr().Next(); p.Contains(a); a = a.Next() {
			if used[a] == "" && !(a.Is4() && !p.Contains(a.Next())) {
				return a, p
			}
		}
	}
	return netip.Addr{}, netip.Prefix{}
}

func ptr[T any](v T) *T { return &v }
