package kubeconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const head = `apiVersion: v1
kind: Config
current-context: c
contexts:
- name: c
  context: {cluster: k, user: u}
clusters:
- name: k
  cluster:
    server: https://127.0.0.1:6443
`

func TestCheck(t *testing.T) {
	cases := []struct {
		name string
		raw  string
		want []string // substrings of the error; none: allowed
	}{
		{name: "inline token", raw: head + "users:\n- name: u\n  user: {token: abc}\n"},
		{name: "inline certificate", raw: head + "users:\n- name: u\n  user: {client-certificate-data: YQ==, client-key-data: YQ==}\n"},
		{name: "basic auth", raw: head + "users:\n- name: u\n  user: {username: a, password: b}\n"},
		{name: "exec", raw: head + "users:\n- name: u\n  user:\n    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: [-c, id]}\n",
			want: []string{"users[u].user.exec"}},
		{name: "auth provider", raw: head + "users:\n- name: u\n  user:\n    auth-provider: {name: oidc}\n",
			want: []string{"users[u].user.auth-provider"}},
		{name: "token file", raw: head + "users:\n- name: u\n  user: {tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token}\n",
			want: []string{"users[u].user.tokenFile"}},
		{name: "certificate files", raw: head + "users:\n- name: u\n  user: {client-certificate: /etc/x.crt, client-key: /etc/x.key}\n",
			want: []string{"users[u].user.client-certificate", "users[u].user.client-key"}},
		{name: "impersonation", raw: head + "users:\n- name: u\n  user: {token: a, as: system:admin}\n",
			want: []string{"users[u].user.as"}},
		{name: "ca file", raw: strings.Replace(head, "server: https://127.0.0.1:6443", "server: https://127.0.0.1:6443\n    certificate-authority: /etc/kubernetes/pki/ca.crt", 1) + "users:\n- name: u\n  user: {token: a}\n",
			want: []string{"clusters[k].cluster.certificate-authority"}},
		{name: "not yaml", raw: "{", want: []string{"does not parse"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Check([]byte(tc.raw))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want an error naming %v", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}

// TestRESTConfigFromFileRunsNothing loads an exec kubeconfig: the program it
// names must not run, and the error must say why.
func TestRESTConfigFromFileRunsNothing(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	path := filepath.Join(dir, "kubeconfig")
	raw := head + "users:\n- name: u\n  user:\n    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/touch, args: [" + marker + "]}\n"
	if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := RESTConfigFromFile(path); err == nil || !strings.Contains(err.Error(), "exec") {
		t.Fatalf("want an exec refusal, got %v", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the exec plugin ran")
	}
	ok := head + "users:\n- name: u\n  user: {token: abc}\n"
	if err := os.WriteFile(path, []byte(ok), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := RESTConfigFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://127.0.0.1:6443" || cfg.BearerToken != "abc" {
		t.Fatalf("got host %q token set %v", cfg.Host, cfg.BearerToken != "")
	}
}

func FuzzCheck(f *testing.F) {
	f.Add([]byte(head + "users:\n- name: u\n  user: {token: abc}\n"))
	f.Add([]byte(head + "users:\n- name: u\n  user:\n    exec: {command: x}\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if err := Check(raw); err != nil {
			return
		}
		// Whatever passes must carry no exec, auth provider or file path.
		cfg, err := RESTConfig(raw)
		if err != nil {
			return
		}
		if cfg.ExecProvider != nil || cfg.AuthProvider != nil || cfg.BearerTokenFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" || cfg.CAFile != "" {
			t.Fatalf("allowed a kubeconfig that reaches outside itself: %+v", cfg)
		}
	})
}
