package logstore

import (
	"math/rand/v2"
	"testing"
)

// TestMsgIndexMatchesAMap puts, gets and deletes at random against a map.
func TestMsgIndexMatchesAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var x msgIndex
	want := map[uint64]uint32{}
	next := uint64(0)
	for i := range 200_000 {
		switch op := rng.IntN(10); {
		case op < 5: // a new message
			next += 1 + uint64(rng.IntN(3))
			x.put(next, entry{size: uint32(next%1000 + 1)})
			want[next] = uint32(next%1000 + 1)
		case op < 6 && next > 0: // an old id again (replay of a copy)
			id := 1 + uint64(rng.IntN(int(next)))
			x.put(id, entry{size: 7})
			want[id] = 7
		default: // an ack, mostly of the oldest
			id := uint64(rng.IntN(int(next) + 1))
			if rng.IntN(2) == 0 && len(x.ids) > x.head {
				id = x.ids[x.head]
			}
			_, ok := x.del(id)
			if _, had := want[id]; had != ok {
				t.Fatalf("step %d: del(%d) = %v, want %v", i, id, ok, had)
			}
			delete(want, id)
		}
	}
	if x.len() != len(want) {
		t.Fatalf("len %d, want %d", x.len(), len(want))
	}
	last := uint64(0)
	x.each(func(id uint64, e *entry) bool {
		if id <= last && last != 0 {
			t.Fatalf("ids out of order: %d after %d", id, last)
		}
		last = id
		if want[id] != e.size {
			t.Fatalf("id %d: size %d, want %d", id, e.size, want[id])
		}
		return true
	})
	for id, size := range want {
		if e, ok := x.get(id); !ok || e.size != size {
			t.Fatalf("get(%d) = %v, %v; want size %d", id, e, ok, size)
		}
	}
}
