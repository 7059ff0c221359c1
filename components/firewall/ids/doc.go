// Package ids reads statistics from suricata, the intrusion detection system
// that runs on firewall hosts, through its unix command socket (the protocol
// suricatasc speaks: a version handshake, then JSON commands), and exports
// them to Prometheus.
package ids
