package natsbackend

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"msw/internal/wire"
)

// The cluster's trace. Gateways publish their trace events only while
// someone follows the trace: a gateway asked for the trace says so on
// msw.gw.trace.want (again every traceWantFor/3 while it is asked), and
// every gateway then reads its own trace ring and publishes what it
// records, in batches, on msw.gw.trace.ev.<id>, for traceWantFor after the
// last want. The gateway asked keeps the events of all in a ring of its
// own, numbered in the order they arrived, which is what its readers
// page through. A gateway's first batch after a want carries what its
// ring holds, so a new reader sees the recent past too.
const (
	traceWantFor   = 30 * time.Second
	traceBatch     = 256                    // events per published batch
	traceBatchWait = 200 * time.Millisecond // how long a publisher waits for more events
)

// traceBatchMsg is a batch of a gateway's trace events, as published.
type traceBatchMsg struct {
	Gateway string `json:"gateway"`
	// Inst tells runs of a gateway apart: sequence numbers start again
	// with each.
	Inst   string            `json:"inst"`
	Events []wire.TraceEvent `json:"events"`
}

// traceFeed is a gateway's part in the cluster's trace: the publisher of
// its own events and, once asked, the ring of everyone's.
type traceFeed struct {
	c *Cluster

	mu sync.Mutex // leaf
	// Publishing.
	wantUntil  time.Time
	publishing bool
	cursor     uint64 // the last of this gateway's own events published
	quit       chan struct{}
	stopped    bool
	// Reading.
	sub      *nats.Subscription
	lastWant time.Time
	ring     []wire.TraceEvent // event seq is at ring[seq % len(ring)]
	next     uint64            // the last sequence number given
	lastSeen map[string]uint64 // by gateway run: its last event taken
	heard    map[string]bool   // gateways that published since activation
	wake     chan struct{}     // closed and replaced when events arrive
}

func newTraceFeed(c *Cluster) *traceFeed {
	return &traceFeed{c: c, quit: make(chan struct{}), ring: make([]wire.TraceEvent, c.o.TraceSize),
		lastSeen: map[string]uint64{}, heard: map[string]bool{}, wake: make(chan struct{})}
}

// stop ends publishing and reading.
func (f *traceFeed) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stopped {
		f.stopped = true
		close(f.quit)
	}
	if f.sub != nil {
		f.sub.Unsubscribe()
	}
}

// onWant starts (or prolongs) publishing this gateway's events. A
// gateway with tracing off has none to publish.
func (f *traceFeed) onWant(*nats.Msg) {
	if f.c.b.Options().TraceSize < 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wantUntil = time.Now().Add(traceWantFor)
	if !f.publishing && !f.stopped {
		f.publishing = true
		go f.publish()
	}
}

// publish reads this gateway's trace ring and publishes what it holds,
// until nobody wants it. The first batch goes out at once, even empty,
// so that a reader knows the gateway is there.
func (f *traceFeed) publish() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-f.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	subject := tracePrefix + escape(f.c.o.ID)
	wait := time.Duration(0)
	for {
		f.mu.Lock()
		if f.stopped || time.Now().After(f.wantUntil) {
			f.publishing = false
			f.mu.Unlock()
			return
		}
		after := f.cursor
		f.mu.Unlock()
		resp := f.c.b.Trace(ctx, after, traceBatch, wait)
		if len(resp.Events) > 0 || wait == 0 {
			data, err := json.Marshal(traceBatchMsg{Gateway: f.c.o.ID, Inst: f.c.inst, Events: resp.Events})
			if err == nil {
				f.c.e.nc.Publish(subject, data)
			}
		}
		f.mu.Lock()
		f.cursor = resp.Next
		f.mu.Unlock()
		wait = traceBatchWait
	}
}

// onEvents takes a gateway's batch into the ring, numbering its events
// anew and leaving out those already taken (a gateway publishing again
// after a pause starts from where it was; one that restarted is a new
// run).
func (f *traceFeed) onEvents(m *nats.Msg) {
	var b traceBatchMsg
	if json.Unmarshal(m.Data, &b) != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.heard[b.Gateway] = true
	last := f.lastSeen[b.Inst]
	for _, ev := range b.Events {
		if ev.Seq <= last {
			continue
		}
		last = ev.Seq
		ev.Gateway = b.Gateway
		f.next++
		ev.Seq = f.next
		f.ring[f.next%uint64(len(f.ring))] = ev
	}
	f.lastSeen[b.Inst] = last
	close(f.wake)
	f.wake = make(chan struct{})
}

// Trace returns the cluster's events after `after`, waiting up to timeout
// for the first one. The first call subscribes to every gateway's events
// and waits (GatherWait at most) for each known gateway's first batch, so
// that it answers with the recent past of all.
func (c *Cluster) Trace(ctx context.Context, after uint64, max int, timeout time.Duration) wire.TraceResponse {
	f := c.trace
	first, err := f.want()
	if err != nil {
		return wire.TraceResponse{Next: after}
	}
	if first {
		f.primed(ctx, c.gateways())
	}
	f.mu.Lock()
	if after > f.next {
		after = 0 // a reader from before a restart starts again
	}
	if f.next <= after && timeout > 0 {
		t := time.NewTimer(timeout)
		for f.next <= after {
			w := f.wake
			f.mu.Unlock()
			select {
			case <-w:
			case <-t.C:
			case <-ctx.Done():
			}
			f.mu.Lock()
			if ctx.Err() != nil || !t.Stop() {
				break
			}
			t.Reset(timeout) // woken early: keep waiting (the rest is close enough)
		}
	}
	defer f.mu.Unlock()
	return f.read(after, max)
}

// want subscribes to the gateways' events on first call and asks them to
// publish, again whenever the last ask is getting old. It reports whether
// this was the first call.
func (f *traceFeed) want() (first bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	nc := f.c.e.nc
	if f.sub == nil {
		if f.stopped {
			return false, nats.ErrConnectionClosed
		}
		f.sub, err = nc.Subscribe(tracePrefix+">", f.onEvents)
		if err == nil {
			err = nc.Flush() // subscribed before the gateways answer the want
		}
		if err != nil {
			f.sub = nil
			return false, err
		}
		first = true
	}
	if now := time.Now(); now.Sub(f.lastWant) > traceWantFor/3 {
		f.lastWant = now
		err = nc.Publish(traceWantSubject, nil)
	}
	return first, err
}

// primed waits until every gateway of want has published its first
// batch, GatherWait at most.
func (f *traceFeed) primed(ctx context.Context, want []string) {
	t := time.NewTimer(f.c.o.GatherWait)
	defer t.Stop()
	for {
		f.mu.Lock()
		all := true
		for _, id := range want {
			all = all && f.heard[id]
		}
		w := f.wake
		f.mu.Unlock()
		if all {
			return
		}
		select {
		case <-w:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// read returns up to max events after `after`; f.mu held.
func (f *traceFeed) read(after uint64, max int) wire.TraceResponse {
	size := uint64(len(f.ring))
	if max <= 0 || uint64(max) > size {
		max = int(size)
	}
	var resp wire.TraceResponse
	if f.next > size && after < f.next-size {
		resp.Lost = f.next - size - after
		after = f.next - size
	}
	seq := after + 1
	for ; seq <= f.next && len(resp.Events) < max; seq++ {
		resp.Events = append(resp.Events, f.ring[seq%size])
	}
	resp.Next = seq - 1
	return resp
}
