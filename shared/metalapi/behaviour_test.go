package metalapi_test

import (
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/metalkube/metalkube/shared/metalapi"
)

// metal-api v0.43.1's answers, as its service and datastore code gives
// them (see the functions cited in the emulator).

func newEmulator(t *testing.T) *metalapi.Emulator {
	t.Helper()
	e := metalapi.New(metalapi.Config{
		Machines: metalapi.Inventory("0000aaaa", "p1", "s1", 2),
		Networks: []metalapi.Network{
			{ID: "internet", Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/30"), netip.MustParsePrefix("2001:db8::/126")}, Shared: true},
			{ID: "super", Partition: "p1", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/22")}, PrivateSuper: true, ChildLength: 23},
		},
		Projects: []string{"proj"},
		Token:    "t",
	})
	t.Cleanup(e.Close)
	return e
}

type answer struct {
	code int
	body map[string]any
	list []map[string]any
}

func call(t *testing.T, e *metalapi.Emulator, method, path, body string) answer {
	t.Helper()
	req, _ := http.NewRequest(method, e.URL()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer t")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{code: resp.StatusCode}
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	// Errors come as metal-lib's httperrors.HTTPErrorResponse, which
	// encoding/json writes as a string through its MarshalText.
	var text string
	if json.Unmarshal(raw, &text) == nil {
		raw = json.RawMessage(text)
	}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		_ = json.Unmarshal(raw, &a.list)
	}
	return a
}

func validKey(t *testing.T) string {
	pub, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public())
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}

func TestAnswersAsMetalAPI(t *testing.T) {
	e := newEmulator(t)
	net := call(t, e, "POST", "/v1/network/allocate", `{"projectid":"proj","partitionid":"p1","name":"n1"}`)
	if net.code != 201 {
		t.Fatalf("allocate network: %d %v", net.code, net.body)
	}
	nid := net.body["id"].(string)
	key := validKey(t)
	machine := func(fields string) string {
		return `{"projectid":"proj","partitionid":"p1","sizeid":"s1","imageid":"ubuntu-24.04","ssh_pub_keys":["` + key + `"],` + fields + `}`
	}
	tests := []struct {
		name, method, path, body string
		code                     int
		msg                      string
	}{
		{"no networks", "POST", "/v1/machine/allocate", machine(`"networks":[]`), 400, "network ids cannot be empty"},
		{"no private network", "POST", "/v1/machine/allocate", machine(`"networks":[{"networkid":"internet"}]`), 422, "no private network given"},
		{"super network given", "POST", "/v1/machine/allocate", machine(`"networks":[{"networkid":"super"}]`), 422, "private super networks are not allowed"},
		{"unknown network", "POST", "/v1/machine/allocate", machine(`"networks":[{"networkid":"nope"}]`), 404, `no network with id "nope" found`},
		{"unknown image", "POST", "/v1/machine/allocate", strings.Replace(machine(`"networks":[{"networkid":"`+nid+`"}]`), "ubuntu-24.04", "ubuntu-99.1", 1), 400, "no image for id:ubuntu-99.1"},
		{"firewall image for a machine", "POST", "/v1/machine/allocate", strings.Replace(machine(`"networks":[{"networkid":"`+nid+`"}]`), "ubuntu-24.04", "firewall-ubuntu-3.0", 1), 400, "not usable for a machine"},
		{"unknown size", "POST", "/v1/machine/allocate", strings.Replace(machine(`"networks":[{"networkid":"`+nid+`"}]`), `"s1"`, `"s9"`, 1), 400, "size:s9 not found"},
		{"unknown partition", "POST", "/v1/machine/allocate", strings.Replace(machine(`"networks":[{"networkid":"`+nid+`"}]`), `"p1"`, `"p9"`, 1), 400, "partition:p9 not found"},
		{"unknown project", "POST", "/v1/machine/allocate", strings.Replace(machine(`"networks":[{"networkid":"`+nid+`"}]`), `"proj"`, `"proj9"`, 1), 404, "proj9"},
		{"bad ssh key", "POST", "/v1/machine/allocate", strings.Replace(machine(`"networks":[{"networkid":"`+nid+`"}]`), key, "ssh-ed25519 AAAA x", 1), 422, "invalid public SSH key"},
		{"four dns servers", "POST", "/v1/machine/allocate", machine(`"networks":[{"networkid":"` + nid + `"}],"dns_servers":[{"ip":"1.1.1.1"},{"ip":"1.1.1.2"},{"ip":"1.1.1.3"},{"ip":"1.1.1.4"}]`), 400, "maximum of three dns servers"},
		{"six ntp servers", "POST", "/v1/machine/allocate", machine(`"networks":[{"networkid":"` + nid + `"}],"ntp_servers":[{"address":"a.org"},{"address":"b.org"},{"address":"c.org"},{"address":"d.org"},{"address":"e.org"},{"address":"f.org"}]`), 400, "maximum of five ntp servers"},
		{"ip in an unknown network", "POST", "/v1/ip/allocate", `{"projectid":"proj","networkid":"nope","type":"ephemeral"}`, 404, "nope"},
		{"ip of an unknown project", "POST", "/v1/ip/allocate", `{"projectid":"proj9","networkid":"internet","type":"ephemeral"}`, 404, "proj9"},
		{"ip outside the prefixes", "POST", "/v1/ip/allocate/198.51.100.1", `{"projectid":"proj","networkid":"internet","type":"static"}`, 422, "specific ip not contained in any of the defined prefixes"},
		{"family the network lacks", "POST", "/v1/ip/allocate", `{"projectid":"proj","networkid":"` + nid + `","type":"ephemeral","addressfamily":"IPv6"}`, 400, "no prefix for the given addressfamily"},
		{"free an unknown network", "DELETE", "/v1/network/free/nope", ``, 404, "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := call(t, e, tt.method, tt.path, tt.body)
			msg, _ := a.body["message"].(string)
			if a.code != tt.code || !strings.Contains(msg, tt.msg) {
				t.Fatalf("%s %s = %d %q, want %d %q", tt.method, tt.path, a.code, msg, tt.code, tt.msg)
			}
		})
	}
	if got := e.Allocated(); len(got) != 0 {
		t.Errorf("refused requests allocated %v", got)
	}
}

func TestMachineLifecycleAsMetalAPI(t *testing.T) {
	e := newEmulator(t)
	// The delays are long until the test lets the asynchronous parts act.
	e.SetPowerDelay(time.Hour)
	e.SetReleaseDelay(time.Hour)
	e.SetReclaimDelay(time.Hour)
	nid := call(t, e, "POST", "/v1/network/allocate", `{"projectid":"proj","partitionid":"p1"}`).body["id"].(string)
	m := call(t, e, "POST", "/v1/machine/allocate", `{"projectid":"proj","partitionid":"p1","sizeid":"s1","imageid":"ubuntu-24.04","ssh_pub_keys":[],"tags":["a=b","machine.metal-stack.io/rack=mine"],
		"networks":[{"networkid":"`+nid+`"},{"networkid":"internet"}]}`)
	if m.code != 200 {
		t.Fatalf("allocate: %d %v", m.code, m.body)
	}
	id := m.body["id"].(string)
	alloc := m.body["allocation"].(map[string]any)
	if img := alloc["image"].(map[string]any)["id"]; img != "ubuntu-24.04.20250601" {
		t.Errorf("image %v, want the newest ubuntu-24.04 build", img)
	}
	tags := m.body["tags"].([]any)
	want := map[string]bool{"a=b": true, "machine.metal-stack.io/rack=rack-0": true}
	for _, tg := range tags {
		delete(want, tg.(string))
		if strings.HasSuffix(tg.(string), "=mine") {
			t.Errorf("user tag %v overrode the system rack tag", tg)
		}
	}
	if len(want) != 0 || !strings.Contains(strings.Join(anyStrings(tags), ","), "machine.metal-stack.io/network.primary.asn=") {
		t.Errorf("tags %v: want the user's and the system's (asn, rack, chassis)", tags)
	}
	var ips []string
	for _, n := range alloc["networks"].([]any) {
		ips = append(ips, anyStrings(n.(map[string]any)["ips"].([]any))...)
	}
	if len(ips) != 3 { // one private, an IPv4 and an IPv6 of the internet
		t.Fatalf("ips %v, want one per family of each network", ips)
	}
	if a := call(t, e, "DELETE", "/v1/ip/free/"+ips[0], ""); a.code != 400 || !strings.Contains(a.body["message"].(string), "machine scope") {
		t.Errorf("free a machine's ip: %d %v, want 400", a.code, a.body)
	}
	// Power: answered at once, reported later.
	call(t, e, "POST", "/v1/machine/"+id+"/power/off", "{}")
	if e.Power(id) != "ON" {
		t.Errorf("power reported off before metal-bmc could report it")
	}
	// Free: allocation gone at once, IPs later, capacity after the reclaim.
	if a := call(t, e, "DELETE", "/v1/machine/"+id+"/free", ""); a.code != 200 {
		t.Fatalf("free: %d %v", a.code, a.body)
	}
	if a := call(t, e, "DELETE", "/v1/network/free/"+nid, ""); a.code != 422 || !strings.Contains(a.body["message"].(string), "has ips, deletion not possible") {
		t.Errorf("free the network right after the machine: %d %v, want 422", a.code, a.body)
	}
	e.SetPowerDelay(0)
	e.SetReleaseDelay(0)
	if e.Power(id) != "OFF" || len(e.IPs()) != 0 {
		t.Fatalf("after the delays: power %s, ips %v", e.Power(id), e.IPs())
	}
	if a := call(t, e, "DELETE", "/v1/network/free/"+nid, ""); a.code != 200 {
		t.Errorf("free the network after the release: %d %v", a.code, a.body)
	}
	// One machine is reclaimed for an hour: the other is taken, then none.
	nid = call(t, e, "POST", "/v1/network/allocate", `{"projectid":"proj","partitionid":"p1"}`).body["id"].(string)
	body := `{"projectid":"proj","partitionid":"p1","sizeid":"s1","imageid":"ubuntu-24.04","ssh_pub_keys":[],"networks":[{"networkid":"` + nid + `"}]}`
	if a := call(t, e, "POST", "/v1/machine/allocate", body); a.code != 200 || a.body["id"] == id {
		t.Fatalf("allocate: %d %v, want the other machine", a.code, a.body)
	}
	if a := call(t, e, "POST", "/v1/machine/allocate", body); a.code != 422 || a.body["message"] != "no machine available" {
		t.Errorf("allocate while the freed machine is reclaimed: %d %v, want 422 no machine available", a.code, a.body)
	}
	// Exhaustion: the super network has two /23.
	call(t, e, "POST", "/v1/network/allocate", `{"projectid":"proj","partitionid":"p1"}`)
	if a := call(t, e, "POST", "/v1/network/allocate", `{"projectid":"proj","partitionid":"p1"}`); a.code != 422 || !strings.Contains(a.body["message"].(string), "no more child prefixes") {
		t.Errorf("third child network: %d %v, want 422 child prefix exhaustion", a.code, a.body)
	}
	for range 2 { // the /30 has two host addresses
		call(t, e, "POST", "/v1/ip/allocate", `{"projectid":"proj","networkid":"internet","type":"ephemeral"}`)
	}
	if a := call(t, e, "POST", "/v1/ip/allocate", `{"projectid":"proj","networkid":"internet","type":"ephemeral"}`); a.code != 500 || !strings.Contains(a.body["message"].(string), "no ips left") {
		t.Errorf("ip past the pool: %d %v, want 500 no ips left", a.code, a.body)
	}
	e.SetAllocationContention(1)
	if a := call(t, e, "POST", "/v1/machine/allocate", body); a.code != 422 || !strings.Contains(a.body["message"].(string), "try again later") {
		t.Errorf("allocate under contention: %d %v", a.code, a.body)
	}
}

func anyStrings(xs []any) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i], _ = x.(string)
	}
	return out
}
