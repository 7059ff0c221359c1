package netns

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// NS is a network namespace this process created.
type NS struct {
	Name string
	fd   int
}

// Available reports whether this process can create network namespaces
// (the ip tool and CAP_NET_ADMIN, and creating one works), and if not, why.
func Available() (bool, string) {
	if _, err := exec.LookPath("ip"); err != nil {
		return false, "the ip tool is not installed (Debian package iproute2; make deps installs it)"
	}
	if !hasNetAdmin() {
		return false, "needs CAP_NET_ADMIN (run as root) to create network namespaces"
	}
	name := fmt.Sprintf("mk-probe-%d", os.Getpid())
	if err := IP("netns", "add", name); err != nil {
		return false, "cannot create a network namespace: " + err.Error()
	}
	_ = IP("netns", "del", name)
	return true, ""
}

func hasNetAdmin() bool {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<unix.CAP_NET_ADMIN) != 0
		}
	}
	return false
}

// Create creates the namespace name (replacing a stale one of that name)
// with its loopback up and IPv6 duplicate address detection off, so that
// addresses (link-local ones too) are usable at once. Close removes it.
func Create(name string) (*NS, error) {
	_ = exec.Command("ip", "netns", "del", name).Run()
	if err := IP("netns", "add", name); err != nil {
		return nil, err
	}
	fd, err := unix.Open("/var/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		_ = IP("netns", "del", name)
		return nil, fmt.Errorf("open netns %s: %w", name, err)
	}
	n := &NS{Name: name, fd: fd}
	for _, c := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"},
	} {
		if _, err := n.Output(c...); err != nil {
			_ = n.Close()
			return nil, err
		}
	}
	return n, nil
}

// Close removes the namespace.
func (n *NS) Close() error {
	_ = unix.Close(n.fd)
	return IP("netns", "del", n.Name)
}

// FD is a file descriptor of the namespace (for nftables.WithNetNSFd).
func (n *NS) FD() int { return n.fd }

// Output runs a command inside the namespace and returns its combined
// output; the error includes it.
func (n *NS) Output(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("in netns %s: %s: %w: %s", n.Name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Do runs f on an OS thread switched into the namespace. Sockets f creates
// belong to the namespace for their whole life.
func (n *NS) Do(f func() error) error {
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer unix.Close(orig)
	if err := unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter netns %s: %w", n.Name, err)
	}
	ferr := f()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		// The thread is stuck in the namespace: it stays locked and dies
		// with the goroutine.
		return errors.Join(ferr, fmt.Errorf("leave netns %s: %w", n.Name, err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// Listen opens a TCP listener on addr inside the namespace.
func (n *NS) Listen(addr string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	})
	return l, err
}

// Dial opens a TCP connection from inside the namespace.
func (n *NS) Dial(addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", addr, timeout)
		return err
	})
	return c, err
}

// Forward makes target (an address in this process's namespace, e.g. the API
// server on loopback) reachable at the same address and port inside the
// namespace, until ctx is done. A process in the namespace can then use an
// unchanged kubeconfig.
func (n *NS) Forward(ctx context.Context, target string) error {
	l, err := n.Listen(target)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer u.Close()
				go func() { _, _ = io.Copy(u, c) }()
				_, _ = io.Copy(c, u)
			}()
		}
	}()
	return nil
}

// IP runs the ip tool in the caller's namespace.
func IP(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Require skips the test unless it can create network namespaces.
func Require(t testing.TB) {
	t.Helper()
	if ok, why := Available(); !ok {
		t.Skip("skipping: " + why)
	}
}

// New creates a namespace named mk-<role>-<pid> for the test; it is removed
// when the test ends.
func New(t testing.TB, role string) *NS {
	t.Helper()
	n, err := Create(fmt.Sprintf("mk-%s-%d", role, os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// Exec runs a command inside the namespace and fails the test on error.
func (n *NS) Exec(t testing.TB, args ...string) string {
	t.Helper()
	out, err := n.Output(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Run runs a command in the caller's namespace and fails the test on error.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
