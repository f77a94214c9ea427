package broker

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestInflightAsMap: whatever mix of takes (in id order and out of it),
// acks, releases and ended sessions comes, the in-flight list holds what
// a map of id to holder would, and gives it back in id order.
func TestInflightAsMap(t *testing.T) {
	sessions := []*Session{{public: "a"}, {public: "b"}, {public: "c"}}
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var f inflight
		model := map[uint64]*Session{}
		next := uint64(0)
		var back []uint64 // given back, to be taken again out of order
		for step := range 5000 {
			switch op := rng.IntN(10); {
			case op < 4: // take the next fresh messages
				for range 1 + rng.IntN(8) {
					next++
					s := sessions[rng.IntN(len(sessions))]
					f.add(message{id: next}, s)
					model[next] = s
				}
			case op < 5 && len(back) > 0: // take a redelivery
				id := back[0]
				back = back[1:]
				s := sessions[rng.IntN(len(sessions))]
				f.add(message{id: id}, s)
				model[id] = s
			case op < 8: // ack a run, as a reader does
				first := next - uint64(rng.IntN(40))
				hint := -1
				for id := first; id <= next && id < first+uint64(rng.IntN(20)); id++ {
					_, ok := f.remove(id, nil, &hint)
					if _, want := model[id]; ok != want {
						t.Fatalf("seed %d step %d: ack of %d: %v, want %v", seed, step, id, ok, want)
					}
					delete(model, id)
				}
			case op < 9: // release some of one holder's
				s := sessions[rng.IntN(len(sessions))]
				hint := -1
				for range 5 {
					id := 1 + uint64(rng.Int64N(int64(next)+1))
					_, ok := f.remove(id, s, &hint)
					if want := model[id] == s; ok != want {
						t.Fatalf("seed %d step %d: release of %d by %s: %v, want %v", seed, step, id, s.public, ok, want)
					}
					if ok {
						delete(model, id)
						back = append(back, id)
					}
				}
			default: // a session ends
				s := sessions[rng.IntN(len(sessions))]
				got := f.takeHeldBy(s, nil)
				var want []uint64
				for id, h := range model {
					if h == s {
						want = append(want, id)
						delete(model, id)
					}
				}
				ids := idsOf(got)
				slices.Sort(ids)
				slices.Sort(want)
				if !slices.Equal(ids, want) {
					t.Fatalf("seed %d step %d: session end gave back %v, want %v", seed, step, ids, want)
				}
				back = append(back, ids...)
			}
			if f.len() != len(model) {
				t.Fatalf("seed %d step %d: len %d, want %d", seed, step, f.len(), len(model))
			}
		}
		all := f.sorted()
		if len(all) != len(model) {
			t.Fatalf("seed %d: sorted has %d, want %d", seed, len(all), len(model))
		}
		for i, h := range all {
			if i > 0 && all[i-1].msg.id >= h.msg.id {
				t.Fatalf("seed %d: sorted out of order at %d", seed, i)
			}
			if model[h.msg.id] != h.holder {
				t.Fatalf("seed %d: %d held by %v, want %v", seed, h.msg.id, h.holder, model[h.msg.id])
			}
			if g, ok := f.get(h.msg.id); !ok || g.holder != h.holder {
				t.Fatalf("seed %d: get(%d) = %v, %v", seed, h.msg.id, g.holder, ok)
			}
		}
	}
}

// TestInflightStaysSmall: a reader that keeps one message forever while
// millions pass does not make the list grow with them.
func TestInflightStaysSmall(t *testing.T) {
	var f inflight
	stuck := &Session{public: "stuck"}
	reader := &Session{public: "reader"}
	f.add(message{id: 1}, stuck)
	for id := uint64(2); id < 1_000_000; id += 100 {
		for i := range uint64(100) {
			f.add(message{id: id + i}, reader)
		}
		hint := -1
		for i := range uint64(100) {
			if _, ok := f.remove(id+i, nil, &hint); !ok {
				t.Fatalf("ack of %d failed", id+i)
			}
		}
	}
	if f.len() != 1 || cap(f.slots) > 1024 {
		t.Errorf("%d in flight in %d slots; want 1 in at most 1024", f.len(), cap(f.slots))
	}
}
