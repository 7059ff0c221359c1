package compile

import (
	"math/rand"
	"testing"
)

func TestDisjoint(t *testing.T) {
	s := func(lo, hi uint64) span { return span{u128{0, lo}, u128{0, hi}} }
	tests := []struct {
		name  string
		boxes []box
		want  int // number of output boxes
	}{
		{"one", []box{{s: []span{s(1, 5), s(1, 1)}, owner: 0}}, 1},
		{"disjoint", []box{{s: []span{s(1, 5)}, owner: 0}, {s: []span{s(7, 9)}, owner: 1}}, 2},
		{"adjacent same owner merge", []box{{s: []span{s(1, 5)}, owner: 0}, {s: []span{s(6, 9)}, owner: 0}}, 1},
		{"nested", []box{{s: []span{s(1, 9)}, owner: 1}, {s: []span{s(3, 4)}, owner: 0}}, 3},
		{"nested lower priority", []box{{s: []span{s(1, 9)}, owner: 0}, {s: []span{s(3, 4)}, owner: 1}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := disjoint(tt.boxes)
			if len(got) != tt.want {
				t.Fatalf("got %d boxes %+v, want %d", len(got), got, tt.want)
			}
			checkCover(t, tt.boxes, got, 0, 12)
		})
	}
}

// TestDisjointRandom checks, point by point, that the output assigns every
// point the owner a first-match rule list would.
func TestDisjointRandom(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for n := 0; n < 200; n++ {
		var boxes []box
		for i := 0; i < 1+r.Intn(6); i++ {
			var sp []span
			for d := 0; d < 2; d++ {
				a, b := uint64(r.Intn(10)), uint64(r.Intn(10))
				sp = append(sp, span{u128{0, min(a, b)}, u128{0, max(a, b)}})
			}
			boxes = append(boxes, box{s: sp, owner: i})
		}
		checkCover(t, boxes, disjoint(boxes), 0, 10)
	}
}

func checkCover(t *testing.T, in, out []box, from, to uint64) {
	t.Helper()
	dims := len(in[0].s)
	pt := make([]uint64, dims)
	var walk func(d int)
	walk = func(d int) {
		if d == dims {
			want := -1
			for _, b := range in {
				if contains(b, pt) && (want < 0 || b.owner < want) {
					want = b.owner
				}
			}
			got, hits := -1, 0
			for _, b := range out {
				if contains(b, pt) {
					got = b.owner
					hits++
				}
			}
			if hits > 1 || got != want {
				t.Fatalf("point %v: owner %d (%d boxes), want %d; in %+v out %+v", pt, got, hits, want, in, out)
			}
			return
		}
		for v := from; v < to; v++ {
			pt[d] = v
			walk(d + 1)
		}
	}
	walk(0)
}

func contains(b box, pt []uint64) bool {
	for d, v := range pt {
		p := u128{0, v}
		if p.less(b.s[d].lo) || b.s[d].hi.less(p) {
			return false
		}
	}
	return true
}
