package kubeconfig

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Check parses raw and returns an error naming every field outside the
// allow-list (see the package doc), or nil.
func Check(raw []byte) error {
	cfg, err := clientcmd.Load(raw)
	if err != nil {
		return fmt.Errorf("kubeconfig does not parse: %w", err)
	}
	return checkConfig(cfg)
}

func checkConfig(cfg *clientcmdapi.Config) error {
	var errs []error
	forbid := func(path, why string) {
		errs = append(errs, fmt.Errorf("%s: not allowed: %s", path, why))
	}
	for _, name := range sortedKeys(cfg.AuthInfos) {
		u := cfg.AuthInfos[name]
		p := fmt.Sprintf("users[%s].user", name)
		if u.Exec != nil {
			forbid(p+".exec", "exec plugins would run a program on the host")
		}
		if u.AuthProvider != nil {
			forbid(p+".auth-provider", "auth providers would fetch credentials on the host")
		}
		if u.TokenFile != "" {
			forbid(p+".tokenFile", "file paths would read the host's files; give token inline")
		}
		if u.ClientCertificate != "" {
			forbid(p+".client-certificate", "file paths would read the host's files; give client-certificate-data")
		}
		if u.ClientKey != "" {
			forbid(p+".client-key", "file paths would read the host's files; give client-key-data")
		}
		if u.Impersonate != "" || u.ImpersonateUID != "" || len(u.ImpersonateGroups) > 0 || len(u.ImpersonateUserExtra) > 0 {
			forbid(p+".as", "impersonation")
		}
	}
	for _, name := range sortedKeys(cfg.Clusters) {
		c := cfg.Clusters[name]
		if c.CertificateAuthority != "" {
			forbid(fmt.Sprintf("clusters[%s].cluster.certificate-authority", name), "file paths would read the host's files; give certificate-authority-data")
		}
	}
	return errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// RESTConfigFromFile reads the kubeconfig at path, checks it against the
// allow-list and returns its REST config. Only that file is read: neither
// $KUBECONFIG nor ~/.kube/config is merged in.
func RESTConfigFromFile(path string) (*rest.Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return RESTConfig(raw)
}

// RESTConfig checks raw against the allow-list and returns its REST config.
func RESTConfig(raw []byte) (*rest.Config, error) {
	if err := Check(raw); err != nil {
		return nil, err
	}
	cc, err := clientcmd.NewClientConfigFromBytes(raw)
	if err != nil {
		return nil, err
	}
	return cc.ClientConfig()
}
