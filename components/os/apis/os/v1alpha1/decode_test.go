package v1alpha1_test

import (
	"strings"
	"testing"

	"github.com/metalkube/metalkube/components/os/apis/os/v1alpha1"
)

func TestDecode(t *testing.T) {
	const head = `"apiVersion":"os.metalkube.io/v1alpha1","kind":"OperatingSystemConfiguration"`
	cases := []struct {
		name    string
		raw     string
		wantErr []string
	}{
		{"empty", ``, nil},
		{"minimal", `{` + head + `}`, nil},
		{"everything", `{` + head + `,"format":"ignition","dnsServers":["10.0.0.53","2001:db8::53"],"ntpServers":["ntp.example.org","10.0.0.1"],` +
			`"registryMirrors":[{"upstream":"docker.io","mirrors":[{"url":"https://m.example.org","capabilities":["pull"],"caCerts":["/etc/ca.pem"]}]},` +
			`{"upstream":"reg.example.org:5000","server":"http://reg.example.org:5000","mirrors":[{"url":"http://10.0.0.5:5000/v2/x","overridePath":true}]}]}`, nil},
		{"wrong apiVersion", `{"apiVersion":"v1","kind":"OperatingSystemConfiguration"}`, []string{"spec.providerConfig.apiVersion"}},
		{"wrong kind", `{"apiVersion":"os.metalkube.io/v1alpha1","kind":"Config"}`, []string{"spec.providerConfig.kind"}},
		{"unknown field", `{` + head + `,"ntp":["x"]}`, []string{`unknown field "ntp"`}},
		{"not JSON", `format: ignition`, []string{"decode providerConfig"}},
		{"trailing data", `{` + head + `} {}`, []string{"trailing data"}},
		{"unknown format", `{` + head + `,"format":"kickstart"}`, []string{"spec.providerConfig.format", "kickstart"}},
		{"DNS server not an IP", `{` + head + `,"dnsServers":["dns.example.org"]}`, []string{"spec.providerConfig.dnsServers[0]"}},
		{"NTP server not a name", `{` + head + `,"ntpServers":["ntp example"]}`, []string{"spec.providerConfig.ntpServers[0]"}},
		{"mirror upstream with scheme", `{` + head + `,"registryMirrors":[{"upstream":"https://docker.io","mirrors":[{"url":"https://m"}]}]}`,
			[]string{"spec.providerConfig.registryMirrors[0].upstream"}},
		{"mirror upstream bad port", `{` + head + `,"registryMirrors":[{"upstream":"reg:99999","mirrors":[{"url":"https://m"}]}]}`,
			[]string{"registryMirrors[0].upstream", "port"}},
		{"mirror upstream twice", `{` + head + `,"registryMirrors":[{"upstream":"a.io","mirrors":[{"url":"https://m"}]},{"upstream":"a.io","mirrors":[{"url":"https://m"}]}]}`,
			[]string{"registryMirrors[1].upstream", "Duplicate"}},
		{"mirror without mirrors", `{` + head + `,"registryMirrors":[{"upstream":"a.io"}]}`, []string{"registryMirrors[0].mirrors"}},
		{"mirror URL without scheme", `{` + head + `,"registryMirrors":[{"upstream":"a.io","mirrors":[{"url":"m.example.org"}]}]}`,
			[]string{"registryMirrors[0].mirrors[0].url"}},
		{"mirror bad capability", `{` + head + `,"registryMirrors":[{"upstream":"a.io","mirrors":[{"url":"https://m","capabilities":["pull","delete"]}]}]}`,
			[]string{"registryMirrors[0].mirrors[0].capabilities[1]"}},
		{"mirror relative CA", `{` + head + `,"registryMirrors":[{"upstream":"a.io","mirrors":[{"url":"https://m","caCerts":["ca.pem"]}]}]}`,
			[]string{"registryMirrors[0].mirrors[0].caCerts[0]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := v1alpha1.Decode([]byte(tc.raw))
			if len(tc.wantErr) == 0 {
				if err != nil || cfg == nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one mentioning %v", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
