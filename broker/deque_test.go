package broker

import (
	"math/rand/v2"
	"testing"
)

// TestDequeAgainstSlice drives a deque and a plain slice with the same
// random pushes, pops and removals, across chunk boundaries and through
// empty, and checks that they always hold the same messages in the same
// order.
func TestDequeAgainstSlice(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var d deque
	var want []uint64
	next := uint64(0)
	maxChunks, empties := 0, 0 // what the run went through
	check := func(step int) {
		t.Helper()
		if d.len() != len(want) {
			t.Fatalf("step %d: len %d, want %d", step, d.len(), len(want))
		}
		for i, id := range want {
			if got := d.at(i).id; got != id {
				t.Fatalf("step %d: at(%d) = %d, want %d", step, i, got, id)
			}
		}
	}
	for step := range 5000 {
		switch op := r.IntN(100); {
		case (op < 50 && len(want) < 3*chunkLen) || len(want) == 0: // a burst now and then
			for range 1 + r.IntN(3)*r.IntN(400) {
				next++
				d.pushBack(message{id: next})
				want = append(want, next)
			}
		case op < 90:
			for range min(len(want), 1+r.IntN(3)*r.IntN(400)) {
				if got := d.popFront().id; got != want[0] {
					t.Fatalf("step %d: popped %d, want %d", step, got, want[0])
				}
				want = want[1:]
			}
		default:
			i := r.IntN(len(want))
			if got := d.find(want[i]); got != i {
				t.Fatalf("step %d: find(%d) = %d, want %d", step, want[i], got, i)
			}
			if got := d.remove(i).id; got != want[i] {
				t.Fatalf("step %d: removed %d, want %d", step, got, want[i])
			}
			want = append(want[:i:i], want[i+1:]...)
		}
		if step%5 == 0 {
			check(step)
		}
		maxChunks = max(maxChunks, len(d.chunks))
		if d.len() == 0 {
			empties++
		}
	}
	check(-1)
	if maxChunks < 3 || empties == 0 {
		t.Errorf("the run reached %d chunks and was empty %d times: it tests too little", maxChunks, empties)
	}
	if d.find(next+1) != -1 {
		t.Errorf("found an id never pushed")
	}
}

// TestDequeDrainedKeepsLittle checks that a drained deque keeps at most
// one chunk and a spare, whatever it held.
func TestDequeDrainedKeepsLittle(t *testing.T) {
	var d deque
	for i := range 10 * chunkLen {
		d.pushBack(message{id: uint64(i + 1)})
	}
	if got := len(d.chunks); got != 10 {
		t.Errorf("%d messages in %d chunks, want 10", 10*chunkLen, got)
	}
	for d.len() > 0 {
		d.popFront()
	}
	if len(d.chunks) != 1 || cap(d.chunks[0]) > chunkLen || cap(d.spare) > chunkLen {
		t.Errorf("drained: %d chunks, first of %d slots, spare of %d", len(d.chunks), cap(d.chunks[0]), cap(d.spare))
	}
}
