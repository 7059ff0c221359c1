package ids

import (
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// serveSuricata plays suricata's side of the command socket protocol.
func serveSuricata(t *testing.T, counters string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "suricata-command.socket")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				dec, enc := json.NewDecoder(c), json.NewEncoder(c)
				var req map[string]string
				if dec.Decode(&req) != nil || req["version"] == "" {
					return
				}
				_ = enc.Encode(map[string]string{"return": "OK"})
				for dec.Decode(&req) == nil {
					if req["command"] == "dump-counters" {
						_, _ = c.Write([]byte(`{"return": "OK", "message": ` + counters + `}`))
					} else {
						_ = enc.Encode(map[string]string{"return": "NOK", "message": "unknown command"})
					}
				}
			}()
		}
	}()
	return path
}

func TestCounters(t *testing.T) {
	sock := serveSuricata(t, `{"uptime": 42, "capture": {"kernel_packets": 1000, "kernel_drops": 3}, "decoder": {"pkts": 997, "bytes": 123456}, "detect": {"alert": 2}}`)
	got, err := Client{Socket: sock}.Counters()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{"uptime": 42, "capture.kernel_packets": 1000, "capture.kernel_drops": 3, "decoder.bytes": 123456, "detect.alert": 2} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
	if _, err := (Client{Socket: sock}).Command("bogus"); err == nil {
		t.Error("unknown command succeeded")
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(sock))
	want := `
# HELP metalkube_firewall_ids_up 1 if suricata answered on its command socket.
# TYPE metalkube_firewall_ids_up gauge
metalkube_firewall_ids_up 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "metalkube_firewall_ids_up"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "metalkube_firewall_ids_counter"); err != nil || n != 6 {
		t.Errorf("ids counters: %d %v, want 6", n, err)
	}

	// no suricata: up is 0
	reg = prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(filepath.Join(t.TempDir(), "missing.socket")))
	if err := testutil.GatherAndCompare(reg, strings.NewReader(strings.Replace(want, "_up 1\n", "_up 0\n", 1)), "metalkube_firewall_ids_up"); err != nil {
		t.Error(err)
	}
}
