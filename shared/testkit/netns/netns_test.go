package netns

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
)

// TestForward reaches a loopback echo server of this namespace from inside a
// fresh namespace through Forward.
func TestForward(t *testing.T) {
	Require(t)
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	ns := New(t, "fwd-test")
	// Without the forward the namespace's own loopback has nothing there.
	port := echo.Addr().(*net.TCPAddr).Port
	probe := fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d && echo ping >&3 && head -c4 <&3", port)
	if out, err := ns.Output("bash", "-c", probe); err == nil {
		t.Fatalf("reached the echo server without a forward: %q", out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := ns.Forward(ctx, echo.Addr().String()); err != nil {
		t.Fatal(err)
	}
	out, err := ns.Output("bash", "-c", probe)
	if err != nil || !strings.HasPrefix(out, "ping") {
		t.Fatalf("through the forward: %q, %v", out, err)
	}
}
