package framework

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Listeners returns the TCP addresses the process pid listens on, read from
// /proc (its socket file descriptors matched against /proc/net/tcp and tcp6
// in LISTEN state), sorted.
func Listeners(pid int) ([]netip.AddrPort, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil, fmt.Errorf("listeners of pid %d: %w", pid, err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if ino, ok := strings.CutPrefix(target, "socket:["); ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	var out []netip.AddrPort
	for _, table := range []string{"tcp", "tcp6"} {
		// The process's own view: its network namespace's tables.
		addrs, err := listening(fmt.Sprintf("/proc/%d/net/%s", pid, table), inodes)
		if err != nil {
			return nil, err
		}
		out = append(out, addrs...)
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return slices.Compact(out), nil
}

// tcpListen is the state column's value for LISTEN in /proc/net/tcp.
const tcpListen = "0A"

// listening parses a /proc/net/tcp{,6} table and returns the local addresses
// of the LISTEN sockets whose inode is in inodes.
func listening(path string, inodes map[string]bool) ([]netip.AddrPort, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil // no IPv6
		}
		return nil, err
	}
	defer f.Close()
	var out []netip.AddrPort
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != tcpListen || !inodes[fields[9]] {
			continue
		}
		ap, err := parseProcAddr(fields[1])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, ap)
	}
	return out, sc.Err()
}

// parseProcAddr parses /proc/net/tcp's hex address:port: the address is in
// the host's byte order per 32-bit word (little endian here).
func parseProcAddr(s string) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("address %q: no port", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: port: %w", s, err)
	}
	b, err := hex.DecodeString(h)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return netip.AddrPort{}, fmt.Errorf("address %q: not 4 or 16 hex bytes", s)
	}
	for i := 0; i < len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	addr, _ := netip.AddrFromSlice(b)
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

// Endpoint is an HTTP endpoint a process serves: health or metrics.
type Endpoint struct {
	URL    string
	Status int
}

// probePaths are the paths asked on every listener: health, readiness and
// metrics, as controller-runtime and Kubernetes components serve them.
var probePaths = []string{"/healthz", "/readyz", "/metrics"}

// ProbeEndpoints asks every listener for the health and metrics paths, over
// HTTP and, where HTTP gets no answer, HTTPS (a Kubernetes secure port, whose
// serving certificate is self-signed: not verified), and returns the URLs
// that answered, with their status (401 and 403: served, behind
// authentication). A non-empty token is sent as a bearer token, as
// Prometheus sends its own to the secure ports of Kubernetes components.
func ProbeEndpoints(ctx context.Context, addrs []netip.AddrPort, token string) []Endpoint {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // a local probe of self-signed secure ports
	}}
	var out []Endpoint
	for _, a := range addrs {
		for _, scheme := range []string{"http", "https"} {
			var found []Endpoint
			answered := false
			for _, p := range probePaths {
				url := scheme + "://" + a.String() + p
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				if err != nil {
					continue
				}
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := c.Do(req)
				if err != nil {
					continue
				}
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusBadRequest && scheme == "http" {
					continue // plain HTTP to a TLS port
				}
				answered = true
				if resp.StatusCode != http.StatusNotFound {
					found = append(found, Endpoint{URL: url, Status: resp.StatusCode})
				}
			}
			out = append(out, found...)
			if answered {
				break
			}
		}
	}
	return out
}
