// Package gctune keeps the Go collector from running far more often than
// a switch's heap needs.
//
// A switch moving messages allocates at a high rate (every request's
// buffers, every message's record) while what stays live between
// collections can be a few MiB. The collector's default target, twice
// the live heap (GOGC=100, with a 4 MiB floor), then sets off a
// collection every few milliseconds under load: with a switch, a server
// and 16 callers in one process, 160 collections in 2.3 s (one every
// 14 ms), 4% of the CPU; tuned as below, 5. Over seven alternated pairs
// the tuned process spent 16–19 µs of CPU a call against 18–21 (less in
// all seven) and its p99 was 1.06 ms against 2.18 (medians; lower in
// five of seven).
//
// The tuner gives the heap room to grow by a fixed headroom past what
// is live before the next collection, or by the live heap itself,
// whichever is more: after each collection it sets the GC percentage
// from the live heap the collection found. A large live heap keeps
// Go's default; a small one gets at most live + headroom, so the cost is
// bounded memory, never a multiple of what is held. A memory limit
// (GOMEMLIMIT, or the switch's own with --data and --max-memory) still
// makes the collector work harder as the process nears it. An operator
// who sets GOGC keeps it: the tuner then does nothing.
package gctune

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// DefaultHeadroom is the heap growth allowed past what is live before a
// collection, when the live heap is smaller.
const DefaultHeadroom = 64 << 20

// heapFloor is the runtime's own minimum heap target at GOGC=100: the
// target never falls below it scaled by the percentage.
const heapFloor = 4 << 20

// maxPercent bounds the percentage set.
const maxPercent = 100_000

var (
	mu      sync.Mutex
	running *tuner
)

// tuner is the tuning under way.
type tuner struct {
	headroom uint64
	previous int // the percentage before Start, restored by stop

	mu      sync.Mutex
	stopped bool
	percent int
	sample  [1]metrics.Sample
}

// sentinel is an object whose collection tells the tuner a collection
// ran. A pointer field keeps it out of the tiny allocator, whose
// batched objects may never be seen collected.
type sentinel struct {
	_ *tuner
	_ [8]byte
}

// Start tunes the collector with the given headroom until stop is
// called, unless GOGC is set in the environment or headroom is 0. One
// tuning runs per process: a second Start while one runs changes nothing
// and its stop does nothing.
func Start(headroom uint64) (stop func()) {
	if headroom == 0 || os.Getenv("GOGC") != "" {
		return func() {}
	}
	mu.Lock()
	defer mu.Unlock()
	if running != nil {
		return func() {}
	}
	t := &tuner{headroom: headroom}
	t.sample[0].Name = "/gc/heap/live:bytes"
	t.previous = debug.SetGCPercent(100)
	t.percent = 100
	running = t
	t.adjust()
	t.arm()
	return t.stop
}

// percentFor is the percentage that lets a live heap of live bytes grow
// by headroom (or by itself, if more) before the next collection.
func percentFor(live, headroom uint64) int {
	base := max(live, heapFloor)
	p := (headroom*100 + base - 1) / base
	return int(min(max(p, 100), maxPercent))
}

// arm makes the next collection call fire.
func (t *tuner) arm() {
	s := &sentinel{}
	runtime.AddCleanup(s, (*tuner).fire, t)
}

// fire adjusts the percentage after a collection and arms the next.
func (t *tuner) fire() {
	if t.adjust() {
		t.arm()
	}
}

// adjust sets the percentage from the live heap the last collection
// found; it reports false once the tuner is stopped.
func (t *tuner) adjust() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	metrics.Read(t.sample[:])
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return true
	}
	p := percentFor(t.sample[0].Value.Uint64(), t.headroom)
	// Small changes are not worth the runtime's recomputing its pacing.
	if d := p - t.percent; d > t.percent/8 || -d > t.percent/8 {
		debug.SetGCPercent(p)
		t.percent = p
	}
	return true
}

// stop ends the tuning and puts back the percentage from before.
func (t *tuner) stop() {
	t.mu.Lock()
	if t.stopped {
		t.mu.Unlock()
		return
	}
	t.stopped = true
	debug.SetGCPercent(t.previous)
	t.mu.Unlock()
	mu.Lock()
	if running == t {
		running = nil
	}
	mu.Unlock()
}
