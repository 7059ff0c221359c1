package framework

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Netns is a network namespace the suite created.
type Netns struct{ Name string }

// CanCreateNetns reports whether this process may create network namespaces
// and run nftables (CAP_NET_ADMIN and the ip and nft tools), and why not.
func CanCreateNetns() (bool, string) {
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return false, tool + " not installed (make deps installs iproute2 and nftables)"
		}
	}
	name := fmt.Sprintf("mk-probe-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return false, "cannot create a network namespace (CAP_NET_ADMIN needed): " + strings.TrimSpace(string(out))
	}
	_ = exec.Command("ip", "netns", "del", name).Run()
	return true, ""
}

// CreateNetns creates a namespace with its loopback up.
func CreateNetns(name string) (*Netns, error) {
	_ = exec.Command("ip", "netns", "del", name).Run()
	if err := IP("netns", "add", name); err != nil {
		return nil, err
	}
	n := &Netns{Name: name}
	return n, n.Exec("ip", "link", "set", "lo", "up")
}

// Delete removes the namespace.
func (n *Netns) Delete() { _ = exec.Command("ip", "netns", "del", n.Name).Run() }

// Exec runs a command in the namespace.
func (n *Netns) Exec(args ...string) error {
	return IP(append([]string{"netns", "exec", n.Name}, args...)...)
}

// Output runs a command in the namespace and returns its output.
func (n *Netns) Output(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...).CombinedOutput()
	return string(out), err
}

// IP runs the ip tool.
func IP(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Listen opens a TCP listener on addr inside the namespace.
func (n *Netns) Listen(addr string) (net.Listener, error) {
	var l net.Listener
	err := n.do(func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	})
	return l, err
}

// Forward makes target (an address in this process's namespace, e.g. the API
// server on loopback) reachable at the same loopback address and port inside
// the namespace, until ctx is done. A process in the namespace can then use an
// unchanged kubeconfig.
func (n *Netns) Forward(ctx context.Context, target string) error {
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

// Dial opens a TCP connection from inside the namespace.
func (n *Netns) Dial(addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := n.do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, timeout)
		return err
	})
	return c, err
}

// do runs f on a thread switched into the namespace; sockets f creates stay
// in the namespace.
func (n *Netns) do(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return err
	}
	defer self.Close()
	target, err := os.Open("/var/run/netns/" + n.Name)
	if err != nil {
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter netns %s: %w", n.Name, err)
	}
	ferr := f()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.Goexit() // this thread is stuck in the wrong namespace: let it die locked
	}
	return ferr
}
