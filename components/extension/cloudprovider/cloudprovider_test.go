package cloudprovider

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/metalkube/metalkube/components/extension/apis/metal/v1alpha1"
)

func secret(data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: SecretName, Namespace: "shoot--a--b"}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func TestRender(t *testing.T) {
	region := &v1alpha1.Region{Name: "fra", Namespace: "metal-fra", IPPools: []v1alpha1.IPPool{
		{Network: "internet", Kind: "GlobalInClusterIPPool", Name: "internet-v4"},
		{Network: "internet", APIGroup: "ipam.example.org", Kind: "Pool", Name: "internet-v6"},
	}}
	for _, tc := range []struct {
		name    string
		in      Input
		want    []string // All()
		wantErr string
	}{{
		name: "ironcore: kubeconfig file, the region's namespace and pools",
		in:   Input{Secret: secret(map[string]string{KeyKubeconfig: "x"}), Region: region, Partition: "fra-1"},
		want: []string{"--backend=ironcore", "--metal-kubeconfig=/srv/cloudprovider/kubeconfig", "--metal-namespace=metal-fra",
			"--ip-pool=internet=ipam.cluster.x-k8s.io/GlobalInClusterIPPool/internet-v4", "--ip-pool=internet=ipam.example.org/Pool/internet-v6"},
	}, {
		name: "ironcore: the Secret's namespace wins over the region's",
		in:   Input{Secret: secret(map[string]string{KeyKubeconfig: "x", KeyNamespace: "tenant-a"}), Region: &v1alpha1.Region{Name: "fra", Namespace: "metal-fra"}},
		want: []string{"--backend=ironcore", "--metal-kubeconfig=/srv/cloudprovider/kubeconfig", "--metal-namespace=tenant-a"},
	}, {
		name:    "ironcore: no namespace anywhere",
		in:      Input{Secret: secret(map[string]string{KeyKubeconfig: "x"})},
		wantErr: "no backend namespace",
	}, {
		name:    "ironcore refuses a project",
		in:      Input{Secret: secret(map[string]string{KeyKubeconfig: "x"}), Region: region, Project: "p-1"},
		wantErr: `infrastructureConfig.project="p-1"`,
	}, {
		name:    "ironcore refuses a firewall",
		in:      Input{Secret: secret(map[string]string{KeyKubeconfig: "x"}), Region: region, Firewall: true},
		wantErr: "infrastructureConfig.firewall.enabled=true: the ironcore backend",
	}, {
		name: "metal-stack with HMAC: URL, key file, project, partition",
		in:   Input{Secret: secret(map[string]string{KeyMetalAPIURL: "https://metal-api.example\n", KeyMetalAPIHMAC: "s3cret"}), Project: "p-1", Partition: "fra-1"},
		want: []string{"--backend=metalstack", "--metal-api-url=https://metal-api.example", "--metal-api-hmac-file=/srv/cloudprovider/metalAPIHMac",
			"--metal-project=p-1", "--metal-partition=fra-1"},
	}, {
		name: "metal-stack with a token",
		in:   Input{Secret: secret(map[string]string{KeyMetalAPIURL: "http://127.0.0.1:8080", KeyMetalAPIKey: "t0ken"}), Project: "p-1"},
		want: []string{"--backend=metalstack", "--metal-api-url=http://127.0.0.1:8080", "--metal-api-token-file=/srv/cloudprovider/metalAPIKey", "--metal-project=p-1"},
	}, {
		name:    "metal-stack needs a project",
		in:      Input{Secret: secret(map[string]string{KeyMetalAPIURL: "http://x", KeyMetalAPIKey: "t"})},
		wantErr: "infrastructureConfig.project is empty",
	}, {
		name:    "metal-stack needs credentials",
		in:      Input{Secret: secret(map[string]string{KeyMetalAPIURL: "http://x"}), Project: "p"},
		wantErr: "needs key metalAPIHMac or metalAPIKey",
	}, {
		name:    "metal-stack refuses IPAM pools",
		in:      Input{Secret: secret(map[string]string{KeyMetalAPIURL: "http://x", KeyMetalAPIKey: "t"}), Project: "p", Region: region},
		wantErr: "ipPools",
	}, {
		name:    "metal-stack refuses an ironcore namespace",
		in:      Input{Secret: secret(map[string]string{KeyMetalAPIURL: "http://x", KeyMetalAPIKey: "t", KeyNamespace: "n"}), Project: "p"},
		wantErr: `key namespace="n"`,
	}, {
		name:    "both backends",
		in:      Input{Secret: secret(map[string]string{KeyMetalAPIURL: "http://x", KeyKubeconfig: "k"})},
		wantErr: "both set",
	}, {
		name:    "no backend",
		in:      Input{Secret: secret(map[string]string{"foo": "bar"})},
		wantErr: "neither key kubeconfig",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Render(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := f.All(); !slices.Equal(got, tc.want) {
				t.Errorf("flags =\n %q\nwant\n %q", got, tc.want)
			}
			for _, a := range f.All() {
				for _, k := range []string{KeyMetalAPIHMAC, KeyMetalAPIKey} {
					if v := tc.in.Secret.Data[k]; len(v) > 0 && strings.Contains(a, string(v)) {
						t.Errorf("flag %q carries the credential %s", a, k)
					}
				}
			}
		})
	}
}

// TestOptions: the extension's own settings for a shoot are the flags its
// components get, with the credentials from the Secret in memory.
func TestOptions(t *testing.T) {
	region := &v1alpha1.Region{Name: "fra", Namespace: "metal-fra", IPPools: []v1alpha1.IPPool{{Network: "internet", Kind: "GlobalInClusterIPPool", Name: "v4"}}}
	o, err := Options(Input{Secret: secret(map[string]string{KeyKubeconfig: "kc"}), Region: region})
	if err != nil {
		t.Fatal(err)
	}
	if o.Name != "ironcore" || o.MetalKubeconfig != "" || string(o.MetalKubeconfigData) != "kc" || o.MetalNamespace != "metal-fra" ||
		!slices.Equal(o.IPPools, []string{"internet=ipam.cluster.x-k8s.io/GlobalInClusterIPPool/v4"}) {
		t.Errorf("ironcore options = %+v", o)
	}
	o, err = Options(Input{Secret: secret(map[string]string{KeyMetalAPIURL: "http://x", KeyMetalAPIKey: "t0ken\n"}), Project: "p-1", Partition: "fra-1"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Name != "metalstack" || o.MetalAPITokenFile != "" || o.MetalAPIToken != "t0ken" || o.MetalAPIHMAC != "" || o.MetalProject != "p-1" || o.MetalPartition != "fra-1" {
		t.Errorf("metal-stack options = %+v", o)
	}
	if _, err := Options(Input{Secret: secret(map[string]string{KeyKubeconfig: "kc"}), Region: region, Project: "p-1"}); err == nil {
		t.Error("ironcore with a project: no error")
	}
}
