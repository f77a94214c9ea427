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
			if first, ok := x.first(); ok && rng.IntN(2) == 0 {
				id = first
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

// checkChunks checks what msgIndex keeps to itself: ids in order within
// and across chunks, no empty chunk, live counts that add up, no chunk
// over chunkLen, and deleted entries bounded by the live ones.
func checkChunks(t *testing.T, x *msgIndex) {
	t.Helper()
	live, last, seen := 0, uint64(0), false
	for ci, c := range x.chunks {
		if len(c.ids) == 0 || len(c.ids) != len(c.es) || len(c.ids) > chunkLen {
			t.Fatalf("chunk %d: %d ids, %d entries (at most %d)", ci, len(c.ids), len(c.es), chunkLen)
		}
		if n := countLive(c.es); n != c.live || n == 0 {
			t.Fatalf("chunk %d: %d live, counted %d", ci, n, c.live)
		}
		if dead := len(c.ids) - c.live; dead > c.live && dead >= 32 {
			t.Fatalf("chunk %d: %d deleted beside %d live, not compacted", ci, dead, c.live)
		}
		for _, id := range c.ids {
			if seen && id <= last {
				t.Fatalf("chunk %d: id %d after %d", ci, id, last)
			}
			last, seen = id, true
		}
		live += c.live
	}
	if live != x.live {
		t.Fatalf("chunks hold %d live, index says %d", live, x.live)
	}
}

// TestMsgIndexChunks drives the chunks through appends, inserts behind
// the newest (replay of copies and redeliveries, which split a full
// chunk), acks in and out of order, and each's deletions, checking them
// against a map and their invariants as it goes.
func TestMsgIndexChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var x msgIndex
	want := map[uint64]uint32{}
	next := uint64(0)
	for step := range 100_000 {
		switch op := rng.IntN(20); {
		case op < 8:
			next += 1 + uint64(rng.IntN(2))
			x.put(next, entry{size: 1})
			want[next] = 1
		case op < 11 && next > 0: // behind the newest, often in a full chunk
			id := 1 + uint64(rng.IntN(int(next)))
			_, replaced := x.put(id, entry{size: 2})
			if _, had := want[id]; had != replaced {
				t.Fatalf("step %d: put(%d) replaced %v, want %v", step, id, replaced, had)
			}
			want[id] = 2
		case op < 18:
			id := 1 + uint64(rng.IntN(int(next)+1))
			if first, ok := x.first(); ok && op < 15 {
				id = first
			}
			if _, ok := x.del(id); ok != (want[id] != 0) {
				t.Fatalf("step %d: del(%d) = %v", step, id, ok)
			}
			delete(want, id)
		case op == 18: // each deletes a few
			x.each(func(id uint64, e *entry) bool {
				if rng.IntN(50) == 0 {
					delete(want, id)
					return false
				}
				return true
			})
		default:
			if e, ok := x.get(next); ok != (want[next] != 0) || ok && e.size != want[next] {
				t.Fatalf("step %d: get(%d) = %v, %v", step, next, e, ok)
			}
		}
		if step%997 == 0 {
			checkChunks(t, &x)
		}
	}
	checkChunks(t, &x)
	if x.len() != len(want) {
		t.Fatalf("len %d, want %d", x.len(), len(want))
	}
	for id, size := range want {
		if e, ok := x.get(id); !ok || e.size != size {
			t.Fatalf("get(%d) = %v, %v; want size %d", id, e, ok, size)
		}
	}
	// Everything deleted: no chunk left.
	x.each(func(uint64, *entry) bool { return false })
	if len(x.chunks) != 0 || x.len() != 0 {
		t.Fatalf("after deleting all: %d chunks, %d live", len(x.chunks), x.len())
	}
}
