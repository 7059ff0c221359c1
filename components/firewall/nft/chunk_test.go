package nft

import (
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// TestChunks: element batches are cut by encoded size, so that no message's
// element list reaches the 64 KiB an attribute length can express, however
// long the keys and verdict chain names.
func TestChunks(t *testing.T) {
	v6 := make([]byte, 16)
	long := strings.Repeat("c", 250)
	tests := []struct {
		name string
		elem nftables.SetElement
		n    int
	}{
		{"ipv4 address", nftables.SetElement{Key: []byte{10, 0, 0, 1}}, 10000},
		{"ipv6 concatenation with key end", nftables.SetElement{Key: make([]byte, 40), KeyEnd: make([]byte, 40), VerdictData: &expr.Verdict{Kind: expr.VerdictAccept}}, 5000},
		{"ipv6 with a long goto chain", nftables.SetElement{Key: v6, VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: long}}, 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			elems := make([]nftables.SetElement, tt.n)
			for i := range elems {
				elems[i] = tt.elem
			}
			total := 0
			for _, c := range chunks(elems, elementBytes) {
				size := 0
				for _, e := range c {
					size += elementSize(e)
				}
				if size > elementBytes || size >= 1<<16 {
					t.Errorf("chunk of %d elements has %d bytes, limit %d", len(c), size, elementBytes)
				}
				total += len(c)
			}
			if total != tt.n {
				t.Errorf("chunks hold %d elements, want %d", total, tt.n)
			}
		})
	}
	// the bound is not below what the kernel is sent: an IPv6 element with a
	// 250-byte chain name encodes to about 300 bytes
	if n := elementSize(tests[2].elem); n < 16+250+20 {
		t.Errorf("elementSize %d is below the encoded size", n)
	}
}
