package server

import (
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// A switch that has taken a burst of messages holds them in a Go heap
// that the collector lets grow to about twice what is live, and the
// runtime hands freed pages back to the system only slowly: an idle
// switch holding 1,000,000 queued 100-byte messages stayed at ~285 B per
// message resident (185 B above the payload) though only ~170 B were
// live. The trimmer returns that memory once the switch goes quiet: when
// no request has arrived for trimQuiet and more than trimMin bytes of the
// heap are free but still resident, it collects and releases them, once
// per quiet spell. A burst's garbage no collection has run over yet is
// not seen as free (a deleted queue of 1.2 million messages stayed
// resident for minutes, until another request came): so once the
// switch has been quiet for trimForce with more than trimMin of heap in
// objects, it collects and releases anyway, also once per quiet spell.

const (
	trimEvery = 500 * time.Millisecond
	trimQuiet = time.Second
	trimMin   = 32 << 20
	trimForce = 5 * time.Second
)

// Trimming is the process's, not a server's: debug.FreeOSMemory collects
// and releases the whole heap, so a program serving several switches (a
// Go program embedding more than one, the benchmarks, the tests) must
// not trim while any of them is busy. Every server counts its requests
// into one counter, and one loop runs while any server is serving: the
// process is quiet when all of them are.
var processTrim struct {
	requests atomic.Uint64 // requests of every server in the process

	mu    sync.Mutex
	users int           // servers serving
	stop  chan struct{} // stops the loop; nil while none serves
}

// trimmer is a server's hold on the process's trim loop.
type trimmer struct {
	state trimState // under processTrim.mu
}

// trimState is where a trimmer is in its one run.
type trimState int

const (
	trimNotRun  trimState = iota // not yet run
	trimHolding                  // holding the loop
	trimHalted                   // halted: a later run does nothing
)

// note counts a request (for the quiet the loop waits for).
func (t *trimmer) note() { processTrim.requests.Add(1) }

// run takes hold of the process's trim loop, starting it if no other
// server holds it; only the first call of a trimmer not halted does.
func (t *trimmer) run() {
	processTrim.mu.Lock()
	defer processTrim.mu.Unlock()
	if t.state != trimNotRun {
		return
	}
	t.state = trimHolding
	if processTrim.users++; processTrim.users == 1 {
		processTrim.stop = make(chan struct{})
		go trimLoop(processTrim.stop)
	}
}

// halt lets go of the trim loop, stopping it if this server was the last
// holding it; a later run does nothing.
func (t *trimmer) halt() {
	processTrim.mu.Lock()
	defer processTrim.mu.Unlock()
	held := t.state == trimHolding
	t.state = trimHalted
	if held {
		if processTrim.users--; processTrim.users == 0 {
			close(processTrim.stop)
			processTrim.stop = nil
		}
	}
}

// trimLoop trims the process whenever it goes quiet, until stop closes.
func trimLoop(stop chan struct{}) {
	tick := time.NewTicker(trimEvery)
	defer tick.Stop()
	sample := []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	last := processTrim.requests.Load()
	quietSince := time.Now()
	trimmed, forced := false, false
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if n := processTrim.requests.Load(); n != last {
			last, quietSince, trimmed, forced = n, time.Now(), false, false
			continue
		}
		quiet := time.Since(quietSince)
		if forced || quiet < trimQuiet {
			continue
		}
		metrics.Read(sample)
		objects := sampleUint64(sample[1])
		switch {
		case !trimmed && reclaimable(sampleUint64(sample[0]), objects, sampleUint64(sample[2])) > trimMin:
			trimmed = true
			debug.FreeOSMemory()
		case quiet >= trimForce:
			forced = true
			if !trimmed && objects > trimMin {
				debug.FreeOSMemory()
			}
		}
	}
}

// reclaimable estimates the heap a collection and scavenge would give
// back: the free pages, and the objects beyond what the last collection
// found live (garbage made since, not yet collected). Counting only the
// free pages missed a burst whose garbage no collection had run over
// yet: nothing was free, the switch skipped its trim and stayed at twice
// its live heap (the memory benchmark read 170-190 B per message instead
// of 80 in one round of three).
func reclaimable(free, objects, live uint64) uint64 {
	if objects > live {
		free += objects - live
	}
	return free
}

// sampleUint64 is a sample's value, 0 if the runtime does not have it.
func sampleUint64(s metrics.Sample) uint64 {
	if s.Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s.Value.Uint64()
}
