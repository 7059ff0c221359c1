package integration

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/metalkube/metalkube/components/firewall/compile"
	"github.com/metalkube/metalkube/components/firewall/internal/fixture"
	"github.com/metalkube/metalkube/components/firewall/internal/topology"
	"github.com/metalkube/metalkube/components/firewall/nft"
)

// TestNoWindowDuringReplace replaces the whole table over and over — what
// the agent does after a restart or a repair — while connections run: allowed
// connections never fail and denied ones never pass.
func TestNoWindowDuringReplace(t *testing.T) {
	top := topology.New(t)
	serve(t, top.Int, 22, 443)
	tbl := compile.Compile(fixture.Config(), benchInput(2000, fixture.Input().Policies...)).Table
	if _, err := newApplier(t, top.FW).Apply(tbl); err != nil {
		t.Fatal(err)
	}
	var replaces atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) || replaces.Load() < 3 {
			a, err := nft.NewApplier(nftWithNS(top.FW)) // a restarted agent
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := a.Apply(tbl); err != nil {
				t.Error(err)
			}
			a.Close()
			replaces.Add(1)
		}
	}()
	var allowed, denied int
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		if _, err := dial(top.Ext, "tcp", "203.0.113.2", "10.50.0.2", 443); err != nil {
			<-done
			t.Log(top.FW.Exec(t, "nft", "list", "counters"))
			t.Fatalf("allowed connection failed during replace %d: %v", replaces.Load(), err)
		}
		allowed++
		if allowed%50 == 0 {
			if _, err := dial(top.Ext, "tcp", "203.0.113.2", "10.50.0.2", 22); err == nil {
				t.Fatalf("denied connection passed during replace %d", replaces.Load())
			}
			denied++
		}
	}
	if replaces.Load() < 3 {
		t.Fatalf("only %d replaces", replaces.Load())
	}
	t.Logf("%d full replaces of a %d-rule table; %d allowed connections, %d denied attempts, none wrong", replaces.Load(), 2000+3, allowed, denied)
}
