// Package netns creates network namespaces for tests and runs code inside
// them: the firewall's packet tests route real traffic through a firewall
// namespace between a client and a server namespace. Tests skip with a clear
// message where the process lacks CAP_NET_ADMIN or the ip tool.
package netns

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Require skips the test unless it can create network namespaces.
func Require(t testing.TB) {
	t.Helper()
	if !hasNetAdmin() {
		t.Skip("skipping: needs CAP_NET_ADMIN (run as root) to create network namespaces and nftables rulesets")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipping: needs the ip tool (Debian package iproute2)")
	}
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

// NS is a network namespace created by a test.
type NS struct {
	Name string
	fd   int
}

// New creates a namespace named prefix-role-pid; it is deleted when the test ends.
func New(t testing.TB, role string) *NS {
	t.Helper()
	name := fmt.Sprintf("mkfw-%s-%d", role, os.Getpid())
	_ = exec.Command("ip", "netns", "del", name).Run()
	Run(t, "ip", "netns", "add", name)
	fd, err := unix.Open("/var/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	n := &NS{Name: name, fd: fd}
	t.Cleanup(func() {
		_ = unix.Close(fd)
		_ = exec.Command("ip", "netns", "del", name).Run()
	})
	n.Exec(t, "ip", "link", "set", "lo", "up")
	// no duplicate address detection: addresses (also link-local ones, which
	// neighbour discovery needs) are usable at once
	n.Exec(t, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	return n
}

// FD is a file descriptor of the namespace (for nftables.WithNetNSFd).
func (n *NS) FD() int { return n.fd }

// Exec runs a command inside the namespace and fails the test on error.
func (n *NS) Exec(t testing.TB, args ...string) string {
	t.Helper()
	return Run(t, append([]string{"ip", "netns", "exec", n.Name}, args...)...)
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
		// the thread is stuck in the namespace: let it die with the goroutine
		return fmt.Errorf("leave netns %s: %w", n.Name, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// Run runs a command and fails the test on error.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
