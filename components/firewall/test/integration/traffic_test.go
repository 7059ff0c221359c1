package integration

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/metalkube/metalkube/shared/testkit/netns"
)

// deniedTimeout is how long a connection attempt may take before it counts as
// dropped. Allowed connections on veth links complete in microseconds.
const deniedTimeout = 600 * time.Millisecond

// serve starts TCP and UDP servers in ns on the ports; each answers with the
// source address it saw, then closes.
func serve(t testing.TB, ns *netns.NS, ports ...int) {
	t.Helper()
	for _, p := range ports {
		var ln net.Listener
		var pc net.PacketConn
		err := ns.Do(func() error {
			var err error
			if ln, err = net.Listen("tcp", fmt.Sprintf(":%d", p)); err != nil {
				return err
			}
			pc, err = net.ListenPacket("udp", fmt.Sprintf(":%d", p))
			return err
		})
		if err != nil {
			t.Fatalf("listen in %s on %d: %v", ns.Name, p, err)
		}
		t.Cleanup(func() { ln.Close(); pc.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				fmt.Fprintf(c, "%s\n", c.RemoteAddr().(*net.TCPAddr).IP)
				c.Close()
			}
		}()
		go func() {
			buf := make([]byte, 64)
			for {
				_, addr, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				_, _ = pc.WriteTo([]byte(addr.(*net.UDPAddr).IP.String()+"\n"), addr)
			}
		}()
	}
}

// dial connects from ns (from source src, "" for the default) to dst:port
// and returns the source address the server saw.
func dial(ns *netns.NS, proto, src, dst string, port int) (string, error) {
	var conn net.Conn
	err := ns.Do(func() error {
		d := net.Dialer{Timeout: deniedTimeout}
		if src != "" {
			ip := net.ParseIP(src)
			if proto == "tcp" {
				d.LocalAddr = &net.TCPAddr{IP: ip}
			} else {
				d.LocalAddr = &net.UDPAddr{IP: ip}
			}
		}
		var err error
		conn, err = d.Dial(proto, net.JoinHostPort(dst, fmt.Sprint(port)))
		return err
	})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(deniedTimeout))
	if proto == "udp" {
		if _, err := conn.Write([]byte("hello")); err != nil {
			return "", err
		}
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// flow is one connection attempt and its expected outcome.
type flow struct {
	name     string
	from     *netns.NS
	proto    string
	src, dst string
	port     int
	allowed  bool
	seenSrc  string // with allowed: the source the server must see ("" = src)
}

func checkFlows(t *testing.T, flows []flow) {
	t.Helper()
	for _, f := range flows {
		t.Run(f.name, func(t *testing.T) {
			seen, err := dial(f.from, f.proto, f.src, f.dst, f.port)
			switch {
			case f.allowed && err != nil:
				t.Fatalf("%s %s -> %s:%d: want allowed, got %v", f.proto, f.src, f.dst, f.port, err)
			case !f.allowed && err == nil:
				t.Fatalf("%s %s -> %s:%d: want dropped, but the server answered (saw %s)", f.proto, f.src, f.dst, f.port, seen)
			case !f.allowed && !isTimeout(err):
				t.Fatalf("%s %s -> %s:%d: want a drop (timeout), got %v", f.proto, f.src, f.dst, f.port, err)
			}
			want := f.seenSrc
			if want == "" {
				want = f.src
			}
			if f.allowed && want != "" && seen != want {
				t.Errorf("server saw source %s, want %s", seen, want)
			}
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
