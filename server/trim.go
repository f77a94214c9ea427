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

// trimmer watches a server's request count.
type trimmer struct {
	requests atomic.Uint64
	start    sync.Once
	stop     chan struct{}
	stopOnce sync.Once
}

// run starts the trimmer on first call.
func (t *trimmer) run() {
	t.start.Do(func() {
		t.stop = make(chan struct{})
		go t.loop(t.stop)
	})
}

// halt stops the trimmer, if it was started.
func (t *trimmer) halt() {
	t.start.Do(func() {}) // a later run must not start it
	t.stopOnce.Do(func() {
		if t.stop != nil {
			close(t.stop)
		}
	})
}

func (t *trimmer) loop(stop chan struct{}) {
	tick := time.NewTicker(trimEvery)
	defer tick.Stop()
	sample := []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	last := t.requests.Load()
	quietSince := time.Now()
	trimmed, forced := false, false
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if n := t.requests.Load(); n != last {
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
