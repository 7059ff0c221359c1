package ids

import (
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// protocolVersion is the command protocol version suricata expects.
const protocolVersion = "0.2"

// Client talks to suricata's command socket.
type Client struct {
	Socket  string
	Timeout time.Duration
}

type reply struct {
	Return  string          `json:"return"`
	Message json.RawMessage `json:"message"`
}

// Command runs one command and returns its message.
func (c Client) Command(cmd string) (json.RawMessage, error) {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	conn, err := net.DialTimeout("unix", c.Socket, timeout)
	if err != nil {
		return nil, fmt.Errorf("connect to suricata at %s: %w", c.Socket, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	enc, dec := json.NewEncoder(conn), json.NewDecoder(conn)
	var r reply
	if err := enc.Encode(map[string]string{"version": protocolVersion}); err != nil {
		return nil, err
	}
	if err := dec.Decode(&r); err != nil || r.Return != "OK" {
		return nil, fmt.Errorf("suricata handshake: %v %s", err, r.Message)
	}
	if err := enc.Encode(map[string]string{"command": cmd}); err != nil {
		return nil, err
	}
	r = reply{}
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("suricata %s: %w", cmd, err)
	}
	if r.Return != "OK" {
		return nil, fmt.Errorf("suricata %s: %s", cmd, r.Message)
	}
	return r.Message, nil
}

// Counters returns suricata's counters (dump-counters), flattened to dotted
// names such as "capture.kernel_packets" or "decoder.pkts".
func (c Client) Counters() (map[string]float64, error) {
	msg, err := c.Command("dump-counters")
	if err != nil {
		return nil, err
	}
	var tree map[string]any
	if err := json.Unmarshal(msg, &tree); err != nil {
		return nil, fmt.Errorf("suricata counters: %w", err)
	}
	out := map[string]float64{}
	flatten("", tree, out)
	return out, nil
}

func flatten(prefix string, v any, out map[string]float64) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			name := k
			if prefix != "" {
				name = prefix + "." + k
			}
			flatten(name, x, out)
		}
	case float64:
		out[prefix] = v
	}
}

var (
	counterDesc = prometheus.NewDesc("metalkube_firewall_ids_counter", "A suricata counter (dump-counters), by dotted name.", []string{"name"}, nil)
	upDesc      = prometheus.NewDesc("metalkube_firewall_ids_up", "1 if suricata answered on its command socket.", nil, nil)
)

// Collector exports suricata's counters at scrape time.
type Collector struct{ client Client }

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector for the suricata command socket at path.
func NewCollector(socket string) *Collector { return &Collector{client: Client{Socket: socket}} }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) { ch <- counterDesc; ch <- upDesc }

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	counters, err := c.client.Counters()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 1)
	names := make([]string, 0, len(counters))
	for n := range counters {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ch <- prometheus.MustNewConstMetric(counterDesc, prometheus.UntypedValue, counters[n], n)
	}
}
