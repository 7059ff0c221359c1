package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/metalkube/metalkube/components/firewall/compile"
	"github.com/metalkube/metalkube/components/firewall/nft"
)

// CounterReader reads the named counters of a table.
type CounterReader interface {
	Counters(table string) (map[string]nft.CounterValue, error)
}

const ns = "metalkube_firewall"

var (
	rulePackets = prometheus.NewDesc(ns+"_rule_packets_total", "Packets accepted by a policy or Service rule.", []string{"rule", "source", "kind", "direction"}, nil)
	ruleBytes   = prometheus.NewDesc(ns+"_rule_bytes_total", "Bytes accepted by a policy or Service rule.", []string{"rule", "source", "kind", "direction"}, nil)
	accepted    = prometheus.NewDesc(ns+"_accepted_packets_total", "Packets the forward chain accepted (new connections by rule, plus established and related).", nil, nil)
	dropped     = prometheus.NewDesc(ns+"_dropped_packets_total", "Packets the forward chain dropped, by reason.", []string{"reason"}, nil)
	up          = prometheus.NewDesc(ns+"_counters_up", "1 if the kernel counters could be read.", nil, nil)
)

// Collector is a prometheus.Collector over the applied table's counters.
type Collector struct {
	reader CounterReader

	mu    sync.Mutex
	table string
	rules []compile.RuleInfo

	Applies      *prometheus.CounterVec
	ApplySeconds *prometheus.HistogramVec
	DriftRepairs prometheus.Counter
	Rules        prometheus.Gauge
	Policies     *prometheus.GaugeVec
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector reading counters through r.
func NewCollector(r CounterReader) *Collector {
	return &Collector{
		reader:       r,
		Applies:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "_applies_total", Help: "Ruleset applies by mode (full, incremental, noop) and result."}, []string{"mode", "result"}),
		ApplySeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: ns + "_apply_seconds", Help: "Time to compile and apply the ruleset.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)}, []string{"mode"}),
		DriftRepairs: prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "_drift_repairs_total", Help: "Times the kernel ruleset differed from the applied one and was replaced."}),
		Rules:        prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "_rules", Help: "Policy and Service rules in the ruleset."}),
		Policies:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "_policies", Help: "Policies by state (deployed, ignored)."}, []string{"state"}),
	}
}

// SetRuleset records the table and rules now in the kernel.
func (c *Collector) SetRuleset(table string, rules []compile.RuleInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.table, c.rules = table, rules
	c.Rules.Set(float64(len(rules)))
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{rulePackets, ruleBytes, accepted, dropped, up} {
		ch <- d
	}
	c.Applies.Describe(ch)
	c.ApplySeconds.Describe(ch)
	c.DriftRepairs.Describe(ch)
	c.Rules.Describe(ch)
	c.Policies.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.Applies.Collect(ch)
	c.ApplySeconds.Collect(ch)
	c.DriftRepairs.Collect(ch)
	c.Rules.Collect(ch)
	c.Policies.Collect(ch)
	c.mu.Lock()
	table, rules := c.table, c.rules
	c.mu.Unlock()
	if table == "" {
		return
	}
	counters, err := c.reader.Counters(table)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(up, prometheus.GaugeValue, 1)
	total := counters[compile.CounterEstablished].Packets
	for _, r := range rules {
		v := counters[r.CounterKey()]
		total += v.Packets
		ch <- prometheus.MustNewConstMetric(rulePackets, prometheus.CounterValue, float64(v.Packets), r.Counter, r.Source, r.Kind, r.Dir)
		ch <- prometheus.MustNewConstMetric(ruleBytes, prometheus.CounterValue, float64(v.Bytes), r.Counter, r.Source, r.Kind, r.Dir)
	}
	ch <- prometheus.MustNewConstMetric(accepted, prometheus.CounterValue, float64(total))
	for reason, name := range dropCounters() {
		if v, ok := counters[name]; ok {
			ch <- prometheus.MustNewConstMetric(dropped, prometheus.CounterValue, float64(v.Packets), reason)
		}
	}
}

// dropCounters maps drop reasons to the counters that count them.
func dropCounters() map[string]string {
	return map[string]string{
		"invalid":             compile.CounterInvalid,
		"no-interface":        compile.CounterDropped,
		"ingress":             compile.CounterDroppedIngress,
		"egress":              compile.CounterDroppedEgress,
		"rate-limit":          compile.CounterRateLimited,
		"network-not-allowed": compile.CounterNotAllowed,
	}
}
