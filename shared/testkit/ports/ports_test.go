package ports

import (
	"net"
	"strconv"
	"testing"
)

// TestFreeNeverRepeats asks for many ports; each is distinct, outside the
// ephemeral range and bindable.
func TestFreeNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 300 {
		p, err := Free()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		if p < low || p >= high {
			t.Fatalf("port %d outside [%d,%d)", p, low, high)
		}
	}
	for p := range seen {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d from Free is not bindable: %v", p, err)
		}
		_ = l.Close()
		break
	}
}

// TestHeldUntilExit: the lock of a port handed out stays held, so another
// process (here: another open of the lock file) cannot take the port.
func TestHeldUntilExit(t *testing.T) {
	p, err := Free()
	if err != nil {
		t.Fatal(err)
	}
	g, ok, err := lock(p)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		_ = g.Close()
		t.Fatal("a second lock on the same port was granted")
	}
}
