package shoot

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	ignition "github.com/coreos/ignition/v2/config/v3_5/types"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/components/extension/controller/bastion"
	"github.com/metalkube/metalkube/e2e/framework"
)

// bastionIngress is the CIDR SSH to the e2e bastion is allowed from.
const bastionIngress = "192.0.2.0/24"

// bastion creates a Bastion as gardenlet does for `gardenctl ssh`, waits
// for its public address, checks that its machine's user data filters SSH
// to the ingress CIDR, deletes it and checks that the machine is freed.
func (f *Flow) bastion(ctx context.Context) error {
	c := f.Env.Client
	b := &extensionsv1alpha1.Bastion{
		ObjectMeta: metav1.ObjectMeta{Name: "cli-e2e", Namespace: f.ns},
		Spec: extensionsv1alpha1.BastionSpec{
			DefaultSpec: extensionsv1alpha1.DefaultSpec{Type: ProviderType},
			UserData:    []byte("#!/bin/bash\nuseradd -m gardener\n"),
			Ingress:     []extensionsv1alpha1.BastionIngressPolicy{{IPBlock: networkingv1.IPBlock{CIDR: bastionIngress}}},
		},
	}
	before := f.ms.api.Allocated()
	if err := c.Create(ctx, b); err != nil {
		return err
	}
	if err := f.succeeded(ctx, b, 2*time.Minute); err != nil {
		return err
	}
	if b.Status.Ingress == nil || b.Status.Ingress.IP == "" || !LBPrefix.Contains(mustAddr(b.Status.Ingress.IP)) {
		return fmt.Errorf("bastion status.ingress = %+v, want an address of network %s (%s)", b.Status.Ingress, LBNetwork, LBPrefix)
	}
	var id string
	for _, m := range f.ms.api.Allocated() {
		if !slices.Contains(before, m) {
			id = m
		}
	}
	if id == "" {
		return fmt.Errorf("no bastion machine allocated in metal-api")
	}
	ud, err := base64.StdEncoding.DecodeString(f.ms.api.UserData(id))
	if err != nil {
		return err
	}
	want := "ip saddr { " + bastionIngress + " } tcp dport 22 accept"
	ruleset, err := ignitionFile(ud, bastion.RulesFile)
	if err != nil {
		return fmt.Errorf("bastion machine %s: %w", id, err)
	}
	if !strings.Contains(ruleset, want) {
		return fmt.Errorf("bastion machine %s: ruleset %q lacks %q", id, ruleset, want)
	}
	f.detail("Bastion %s: machine %s, public address %s, SSH only from %s", b.Name, id, b.Status.Ingress.IP, bastionIngress)
	if err := c.Delete(ctx, b); err != nil {
		return err
	}
	if err := framework.Eventually(ctx, "the Bastion gone and its machine freed", 2*time.Minute, interval, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(b), b)
		if err == nil {
			return false, nil
		}
		if !apierrors.IsNotFound(err) {
			return false, err
		}
		return !slices.Contains(f.ms.api.Allocated(), id), nil
	}); err != nil {
		return err
	}
	f.detail("Bastion deleted, machine %s freed", id)
	return nil
}

// ignitionFile returns the contents of a file (a base64 data URL) of an
// Ignition config.
func ignitionFile(ud []byte, path string) (string, error) {
	var cfg ignition.Config
	if err := json.Unmarshal(ud, &cfg); err != nil {
		return "", fmt.Errorf("user data: %w", err)
	}
	for _, f := range cfg.Storage.Files {
		if f.Path != path || f.Contents.Source == nil {
			continue
		}
		_, data, _ := strings.Cut(*f.Contents.Source, ";base64,")
		b, err := base64.StdEncoding.DecodeString(data)
		return string(b), err
	}
	return "", fmt.Errorf("no file %s in the user data", path)
}

func mustAddr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a
}
