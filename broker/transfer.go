package broker

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"msw/internal/wire"
)

// Subscribe adds queues to those s polls. Every queue must exist.
func (b *Broker) Subscribe(s *Session, names []string) error {
	qs := make([]*Queue, 0, len(names))
	for _, name := range names {
		q, err := b.lookup(name)
		if err != nil {
			return err
		}
		qs = append(qs, q)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended.Load() {
		return ErrSessionEnded
	}
	// Membership is a set, so that subscribing costs per name, not per
	// name times existing subscription.
	subs := slices.Clone(s.subscriptions())
	have := make(map[*Queue]struct{}, len(subs)+len(qs))
	for _, q := range subs {
		have[q] = struct{}{}
	}
	for _, q := range qs {
		if _, ok := have[q]; ok {
			continue
		}
		if len(subs) >= b.opts.MaxSubscriptions {
			s.subs.Store(&subs)
			return limitError("subscriptions per session", b.opts.MaxSubscriptions)
		}
		q.mu.Lock()
		destroyed := q.destroyed
		if !destroyed {
			q.subscribers++
			q.everSubscribed = true
		}
		q.mu.Unlock()
		if destroyed {
			s.subs.Store(&subs)
			return fmt.Errorf("%w: %s", ErrNoSuchQueue, q.name)
		}
		have[q] = struct{}{}
		subs = append(subs, q)
		s.touched[q] = struct{}{}
	}
	s.subs.Store(&subs)
	return nil
}

// Unsubscribe stops s polling the named queues. Messages it holds from them
// stay held until acked, released or the session ends; a queue it holds
// none of is forgotten.
func (b *Broker) Unsubscribe(s *Session, names []string) {
	drop := make(map[string]struct{}, len(names))
	for _, n := range names {
		drop[n] = struct{}{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	subs := slices.Clone(s.subscriptions())
	subs = slices.DeleteFunc(subs, func(q *Queue) bool {
		if _, ok := drop[q.name]; !ok {
			return false
		}
		q.mu.Lock()
		q.subscribers--
		holds := q.holdsLocked(s)
		q.mu.Unlock()
		if !holds && s.touched != nil {
			delete(s.touched, q)
		}
		return true
	})
	s.subs.Store(&subs)
}

// resubscribe swaps a destroyed queue in s's subscriptions for the queue
// now holding its name, if there is one.
// It reports false if no queue has the name (yet).
func (b *Broker) resubscribe(s *Session, old *Queue) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	subs := slices.Clone(s.subscriptions())
	i := slices.Index(subs, old)
	if i < 0 || s.ended.Load() {
		return true // not subscribed (any more): nothing to wait for
	}
	b.queuesMu.RLock()
	q := b.queues[old.name]
	b.queuesMu.RUnlock()
	if q == nil {
		return false // keep the old one: a later transfer looks again
	}
	q.mu.Lock()
	q.subscribers++
	q.everSubscribed = true
	q.mu.Unlock()
	subs[i] = q
	s.touched[q] = struct{}{}
	s.subs.Store(&subs)
	return true
}

// Transfer waits up to timeout for messages on the queues s subscribes to
// and returns up to max of them (the broker's MaxTransfer when max <= 0),
// in flight and held by s. It returns as soon as any message is available,
// with as many as are ready; an empty result means the timeout passed.
func (b *Broker) Transfer(ctx context.Context, s *Session, max int, timeout time.Duration) ([]wire.Delivery, error) {
	max = b.transferMax(max)
	timeout = min(timeout, b.opts.MaxWait)
	if b.engine != nil && hasRemote(s.subscriptions()) {
		return b.transferRemote(ctx, s, max, timeout)
	}
	// The clock is read when the poll starts and after each wake-up, not
	// at every step: at ~50 ns a read, the seven reads of a waiting
	// transfer were a sixth of the broker's CPU per RPC.
	now := time.Now().UnixNano()
	s.lastPoll.Store(now)
	var timer *time.Timer
	for {
		out, w, err := b.takeOrRegister(s, max, now, timeout > 0, nil)
		if len(out) > 0 || w == nil {
			return out, err
		}
		if timer == nil {
			timer = time.NewTimer(timeout)
			defer timer.Stop()
		}
		timedOut := false
		select {
		case <-w.ch:
		case <-timer.C:
			timedOut = true
		case <-ctx.Done():
		}
		woken := !w.giveUp()
		b.forget(s, w)
		now = time.Now().UnixNano()
		if ctx.Err() != nil || timedOut {
			if woken {
				// Another waiter may get what we were woken for.
				out := b.take(s, max, nil, now)
				if len(out) > 0 && ctx.Err() == nil {
					return out, nil
				}
				b.releaseTaken(s, out)
				b.passWake(s)
			}
			return nil, ctx.Err()
		}
	}
}

// takeOrRegister takes up to max ready messages of s's queues, as
// Transfer does. With none ready and wait set, it registers a waiter on
// them and returns it: a transfer's, or, with notify set, one whose
// wake-up calls notify (TakeOrNotify).
func (b *Broker) takeOrRegister(s *Session, max int, now int64, wait bool, notify func(by any)) ([]wire.Delivery, *waiter, error) {
	if s.ended.Load() {
		return nil, nil, ErrSessionEnded
	}
	if b.closed.Load() {
		return nil, nil, ErrClosed
	}
	if out := b.take(s, max, nil, now); len(out) > 0 || !wait {
		return out, nil, nil
	}
	var w *waiter
	if notify != nil {
		w = &waiter{notify: notify}
	} else {
		w = newWaiter()
	}
	if out := b.take(s, max, w, now); len(out) > 0 {
		return out, nil, nil
	}
	if b.closed.Load() {
		// Close sets closed before it wakes the waiters it finds: one
		// registered after that pass would wait for ever.
		w.giveUp()
		b.forget(s, w)
		return nil, nil, ErrClosed
	}
	return nil, w, nil
}

// transferMax is how many messages a transfer asking for max may take:
// the broker's MaxTransfer when max <= 0 or more.
func (b *Broker) transferMax(max int) int {
	if max <= 0 || max > b.opts.MaxTransfer {
		return b.opts.MaxTransfer
	}
	return max
}

// take moves ready messages of s's subscribed queues in flight. With a
// non-nil waiter and nothing to take, it leaves w registered on every
// queue it checked; with something taken it removes w again. now (Unix
// ns) stamps the queues' last transfer and the trace.
func (b *Broker) take(s *Session, max int, w *waiter, now int64) []wire.Delivery {
	// What is taken is gathered as messages (32-byte slots) and turned
	// into deliveries once, in an answer of its exact size: growing the
	// deliveries (five times the size) queue by queue was two fifths of a
	// transfer from the many queues of a fan-out's reader.
	var all []message
	var pooled *[]message // where all came from, if from takenPool
	var from []takenFrom
	var c Commit // the last delivery recorded
	budget := b.opts.MaxTransferBytes
	for _, q := range s.subscriptions() {
		if len(all) >= max {
			break
		}
		q.mu.Lock()
		if q.destroyed {
			q.mu.Unlock()
			if !b.resubscribe(s, q) && w != nil {
				b.waitForName(q.name, w)
			}
			continue
		}
		if s.ended.Load() {
			q.mu.Unlock()
			break
		}
		if q.pol.ttl != 0 {
			// Expire first: a receiver never gets a message past its TTL.
			if ex := q.expireLocked(now); len(ex) > 0 {
				ec := b.recordGoneLocked(q, ex)
				q.mu.Unlock()
				b.gone(q, ex, ec, wire.EventExpire)
				q.mu.Lock()
				if q.destroyed {
					q.mu.Unlock()
					continue
				}
			}
		}
		// Size the batch once: growing it from nil by appends was the
		// largest allocation of an RPC transfer.
		if n := min(max-len(all), q.ready()); cap(all)-len(all) < n {
			if pooled == nil {
				pooled = takenPool.Get().(*[]message)
				all = append((*pooled)[:0], all...)
			}
			// Double, up to max (the parameter), as append would.
			if d := min(max-len(all), len(all)); d > n {
				n = d
			}
			all = slices.Grow(all, n)
		}
		start := len(all)
		all = q.takeBudgetLocked(s, max-start, &budget, start == 0, all)
		buf := all[start:]
		if len(buf) > 0 && b.durable(q) {
			c = b.store.Deliver(q.name, idsOf(buf))
		}
		if len(buf) == 0 && w != nil {
			q.waiters = append(q.waiters, w)
		}
		q.mu.Unlock()
		q.lastTransfer.Store(now)
		if len(buf) == 0 {
			continue
		}
		from = append(from, takenFrom{q.name, len(buf)})
		b.Counters.Delivered.Add(uint64(len(buf)))
		s.noteRequests(buf)
		if b.trace != nil {
			b.trace.addMessages(now, wire.EventDeliver, q.name, buf, "", s.clientID, true)
		}
	}
	if len(all) > 0 && w != nil {
		w.giveUp()
		b.forget(s, w)
	}
	b.flush(c)
	if len(all) == 0 {
		return nil
	}
	out := newDeliveries(len(all))
	i := 0
	for _, f := range from {
		for range f.n {
			out[i] = all[i].delivery(f.queue)
			i++
		}
	}
	if pooled != nil {
		clear(all) // the pool keeps no record alive
		*pooled = all[:0]
		takenPool.Put(pooled)
	}
	return out
}

// deliveriesPool holds the answers of transfers given back by Recycle.
var deliveriesPool sync.Pool

// newDeliveries returns n deliveries to fill, recycled if it can.
func newDeliveries(n int) []wire.Delivery {
	if p, ok := deliveriesPool.Get().(*[]wire.Delivery); ok {
		if cap(*p) >= n {
			return (*p)[:n]
		}
		deliveriesPool.Put(p)
	}
	return make([]wire.Delivery, n)
}

// Recycle gives back deliveries Transfer returned, once they have been
// written out, for a later transfer to fill: the caller must not use
// them, nor anything they alias, again. A fan-out's reader is answered a
// thousand deliveries at a time; allocated afresh each time, they were
// a third of the bytes the switch allocated per copy.
func (b *Broker) Recycle(ds []wire.Delivery) {
	if cap(ds) == 0 || cap(ds) > b.opts.MaxTransfer {
		return
	}
	clear(ds) // the pool keeps no message alive (past len, they are zero)
	ds = ds[:0]
	deliveriesPool.Put(&ds)
}

// takenPool holds the message lists transfers gather what they take in.
var takenPool = sync.Pool{New: func() any { return new([]message) }}

// takenFrom is how many of the messages a transfer took came from a
// queue, in order.
type takenFrom struct {
	queue string
	n     int
}

// takeBudgetLocked is takeLocked bounded by payload bytes: it stops once
// *budget is spent, but takes at least one message when first is set.
func (q *Queue) takeBudgetLocked(s *Session, max int, budget *int, first bool, out []message) []message {
	for max > 0 && q.ready() > 0 {
		m := q.readyAt(0)
		if q.diskCount > 0 {
			if err := q.b.loadLocked(q, m); err != nil {
				break // it stays ready; the next transfer tries again
			}
		}
		if m.size() > *budget && !(first && len(out) == 0) {
			break
		}
		*budget -= m.size()
		out = q.takeLocked(s, 1, out)
		max--
	}
	return out
}

// forget removes w from every queue s polls.
func (b *Broker) forget(s *Session, w *waiter) {
	for _, q := range s.subscriptions() {
		q.mu.Lock()
		q.removeWaiterLocked(w)
		destroyed := q.destroyed
		q.mu.Unlock()
		if destroyed {
			b.forgetName(q.name, w)
		}
	}
}

// passWake wakes one waiter on each of s's queues that has ready messages.
func (b *Broker) passWake(s *Session) {
	for _, q := range s.subscriptions() {
		q.mu.Lock()
		if q.ready() > 0 {
			q.wakeLocked(1)
		}
		q.mu.Unlock()
	}
}

// releaseTaken gives back deliveries a transfer took but cannot hand out.
func (b *Broker) releaseTaken(s *Session, ds []wire.Delivery) {
	if len(ds) == 0 {
		return
	}
	acks := wire.Acks{}
	for _, d := range ds {
		acks[d.Queue] = append(acks[d.Queue], d.ID)
	}
	b.Release(s, acks)
}

// Notify is a registration made by TakeOrNotify; the zero Notify is
// none.
type Notify struct{ w *waiter }

// TakeOrNotify is Transfer for a caller that does not wait: it takes up
// to max ready messages of s's queues, in flight and held by s, as
// Transfer does. If none is ready, it registers fn, to be called once
// when one may be, and returns the registration. fn is called with no
// lock held, in one of two ways: by the goroutine whose send made a
// message ready, with the argument (never nil) it gives
// PendingSend.Notify, and then fn must not wait, since it is called on
// a sender's way to its answer; or with nil, on a goroutine of its own
// (any other wake-up: a send not notified that way, a release, a queue
// made again, Close), which may wait.
func (b *Broker) TakeOrNotify(s *Session, max int, fn func(by any)) ([]wire.Delivery, Notify, error) {
	now := time.Now().UnixNano()
	s.lastPoll.Store(now)
	out, w, err := b.takeOrRegister(s, b.transferMax(max), now, true, fn)
	return out, Notify{w}, err
}

// StopNotify cancels a registration of TakeOrNotify, if there is one. It
// reports whether it had been woken first: its function runs, or ran,
// and the caller owes the wake to another consumer (PassWake) if it
// takes nothing.
func (b *Broker) StopNotify(s *Session, n Notify) (woken bool) {
	if n.w == nil {
		return false
	}
	woken = !n.w.giveUp()
	b.forget(s, n.w)
	return woken
}

// PassWake wakes a waiter of each of s's queues that has messages ready:
// for a consumer that leaves after a wake-up without taking what it was
// woken for.
func (b *Broker) PassWake(s *Session) { b.passWake(s) }

// Local reports whether the broker holds every queue itself (it has no
// engine), so that a consumer never waits on another node:
// TakeOrNotify is for such a broker only.
func (b *Broker) Local() bool { return b.engine == nil }
