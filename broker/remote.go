package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"msw/internal/wire"
)

// remoteQueue is the gateway's side of a persistent queue an Engine holds
// (engine.go): the messages this gateway's sessions hold, with the handles
// that settle them. Its mu is a leaf.
type remoteQueue struct {
	mu   sync.Mutex
	held map[uint64]remoteHeld
}

// remoteHeld is a fetched message and the session holding it.
type remoteHeld struct {
	h Handle
	s *Session
}

// remoteRecheck is how often a transfer waiting on several queues, some
// of them in the engine, looks at the engine's again although nothing
// woke it: a message given back by another gateway's session wakes
// nobody here. Sends to the queues wake it at once (Engine.Watch). A
// variable for the tests, which count the looks.
var remoteRecheck = time.Second

// forwardFirstMax is the most payload bytes a send to a queue this
// gateway has not mapped forwards before looking in the engine.
const forwardFirstMax = 64 << 10

// installRemote puts an engine queue in the map, or returns the queue
// already there.
func (b *Broker) installRemote(name string) *Queue {
	b.queuesMu.Lock()
	defer b.queuesMu.Unlock()
	if q := b.queues[name]; q != nil {
		return q
	}
	q := newQueue(b, name, nil)
	q.remote = &remoteQueue{held: make(map[uint64]remoteHeld)}
	b.queues[name] = q
	return q
}

// lookupRemote finds a queue the engine holds that this gateway has not
// seen yet.
func (b *Broker) lookupRemote(name string) (*Queue, error) {
	ok, err := b.engine.QueueExists(name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoSuchQueue, name)
	}
	return b.installRemote(name), nil
}

// adoptRemote brings the queue map in line with the engine's queues whose
// names start with prefix: new ones are added, those gone are dropped.
// If the engine cannot be asked, the map is left as it is.
func (b *Broker) adoptRemote(prefix string) {
	names, err := b.engine.Queues(prefix)
	if err != nil {
		return
	}
	have := make(map[string]bool, len(names))
	for _, n := range names {
		have[n] = true
		b.installRemote(n)
	}
	for _, q := range b.mappedQueues(prefix) {
		if q.remote != nil && !have[q.name] {
			b.forgetRemote(q)
		}
	}
}

// forgetRemote drops a queue the engine no longer has from the map; its
// pollers look the name up again.
func (b *Broker) forgetRemote(q *Queue) {
	b.queuesMu.Lock()
	if b.queues[q.name] == q {
		delete(b.queues, q.name)
	}
	b.queuesMu.Unlock()
	q.mu.Lock()
	q.destroyed = true
	q.wakeLocked(len(q.waiters))
	q.mu.Unlock()
	q.remote.mu.Lock()
	clear(q.remote.held)
	q.remote.mu.Unlock()
}

// createRemote is CreateQueue with an engine.
func (b *Broker) createRemote(s *Session, name string) error {
	b.queuesMu.RLock()
	q := b.queues[name]
	b.queuesMu.RUnlock()
	if q != nil && q.transient {
		return fmt.Errorf("%w: %s is transient", ErrQueueExists, name)
	}
	if err := b.engine.CreateQueue(name); err != nil {
		return err
	}
	b.installRemote(name)
	b.wakeName(name)
	b.traceEvent(traceRecord{kind: wire.EventQueueCreate, queue: name, from: clientOf(s)})
	return nil
}

// remoteCount is the number of messages an engine queue holds, ready or
// in flight, in the whole cluster.
func (b *Broker) remoteCount(q *Queue) (int, error) {
	qi, err := b.engine.Info(q.name)
	return qi.Depth + qi.InFlight, err
}

// remoteInfo fills in what the engine knows of q: the cluster's counts.
func (q *Queue) remoteInfo(qi *wire.QueueInfo) {
	ri, err := q.b.engine.Info(q.name)
	if err != nil {
		return
	}
	qi.Depth, qi.InFlight, qi.Bytes, qi.Durable = ri.Depth, ri.InFlight, ri.Bytes, true
	if !ri.Created.IsZero() {
		qi.Created = ri.Created
	}
	qi.OldestMessage = ri.OldestMessage
}

// sendElsewhere is send to a queue this gateway does not have: with an
// engine it may be a transient queue of another gateway.
func (b *Broker) sendElsewhere(s *Session, queue string, ms []wire.Message, err error) (uint64, error) {
	if b.engine == nil || !errors.Is(err, ErrNoSuchQueue) {
		return 0, err
	}
	return b.engine.Forward(queue, ms, clientOf(s))()
}

// exposeTransient lets the other gateways send to q through the engine.
func (b *Broker) exposeTransient(q *Queue) error {
	unexpose, err := b.engine.ExposeTransient(q.name, func(ms []wire.Message, origin string) (uint64, error) {
		b.queuesMu.RLock()
		cur := b.queues[q.name]
		b.queuesMu.RUnlock()
		if cur != q {
			return 0, fmt.Errorf("%w: %s", ErrNoSuchQueue, q.name)
		}
		return b.send(nil, q.name, ms, nil)
	})
	if err != nil {
		return err
	}
	q.mu.Lock()
	q.unexpose = unexpose
	q.mu.Unlock()
	return nil
}

// hasRemote reports whether any of qs is an engine queue.
func hasRemote(qs []*Queue) bool {
	for _, q := range qs {
		if q.remote != nil {
			return true
		}
	}
	return false
}

// transferRemote is Transfer for a session that polls engine queues: it
// takes what is ready in its queues here and in the engine; with nothing
// ready, a session polling one engine queue alone waits in the engine,
// and one polling several waits for a send to any of them: a local one
// wakes it as in Transfer, one to an engine queue through the engine's
// watch (or, for what a watch does not see, after remoteRecheck).
func (b *Broker) transferRemote(ctx context.Context, s *Session, max int, timeout time.Duration) ([]wire.Delivery, error) {
	deadline := time.Now().Add(timeout)
	var watch *remoteWatch
	defer watch.stop()
	for {
		if s.ended.Load() {
			return nil, ErrSessionEnded
		}
		if b.closed.Load() {
			return nil, ErrClosed
		}
		now := time.Now()
		s.lastPoll.Store(now.UnixNano())
		subs := s.subscriptions()
		out := b.take(s, max, nil, now.UnixNano())
		for _, q := range subs {
			if q.remote == nil || len(out) >= max {
				continue
			}
			out = append(out, b.fetchRemote(ctx, s, q, max-len(out), 0)...)
		}
		if len(out) > 0 {
			return out, nil
		}
		left := deadline.Sub(now)
		if left <= 0 || ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if len(subs) == 1 {
			if out = b.fetchRemote(ctx, s, subs[0], max, left); len(out) > 0 {
				return out, nil
			}
			sleepCtx(ctx, min(left, remoteRetry)) // an error: do not spin
			continue
		}
		if watch == nil {
			// Look once more once watching: a send between the look
			// above and the watch is not missed.
			watch = b.watchRemote(subs)
			continue
		}
		out, woke, err := b.awaitWake(ctx, s, max, watch, min(left, remoteRecheck))
		if len(out) > 0 || err != nil {
			return out, err
		}
		if q := woke; q != nil {
			// The watch sees a send before the queue's consumer has it:
			// wait for it there (another gateway may take it first).
			if out = b.fetchRemote(ctx, s, q, max, min(deadline.Sub(time.Now()), remoteRecheck)); len(out) > 0 {
				return out, nil
			}
		}
	}
}

// remoteRetry is how long a transfer of one engine queue pauses after a
// wait in the engine that failed, before it asks again.
const remoteRetry = 20 * time.Millisecond

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// remoteWatch is a transfer's watch on its engine queues: wake receives
// the queue once a message is sent to any of them.
type remoteWatch struct {
	wake   chan *Queue
	cancel func()
}

// watchRemote watches the engine queues of subs. If the engine cannot
// watch them, the transfer looks every remoteRecheck.
func (b *Broker) watchRemote(subs []*Queue) *remoteWatch {
	w := &remoteWatch{wake: make(chan *Queue, 1)}
	byName := make(map[string]*Queue)
	var names []string
	for _, q := range subs {
		if q.remote != nil {
			names = append(names, q.name)
			byName[q.name] = q
		}
	}
	cancel, err := b.engine.Watch(names, func(queue string) {
		select {
		case w.wake <- byName[queue]:
		default: // a wake is pending already
		}
	})
	if err == nil {
		w.cancel = cancel
	}
	return w
}

func (w *remoteWatch) stop() {
	if w != nil && w.cancel != nil {
		w.cancel()
	}
}

// awaitWake waits up to d for a send to any of s's queues: registered as
// a waiter on its local ones, as in Transfer, and on watch for the
// engine's, whose woken queue it returns. What a local wake brings it
// takes; a wake it leaves without taking (ctx ended) it passes on.
func (b *Broker) awaitWake(ctx context.Context, s *Session, max int, watch *remoteWatch, d time.Duration) ([]wire.Delivery, *Queue, error) {
	w := newWaiter()
	if out := b.take(s, max, w, time.Now().UnixNano()); len(out) > 0 {
		return out, nil, nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	var woke *Queue
	select {
	case <-w.ch:
	case woke = <-watch.wake:
	case <-t.C:
	case <-ctx.Done():
	}
	woken := !w.giveUp()
	b.forget(s, w)
	if woken && ctx.Err() != nil {
		b.passWake(s)
	}
	return nil, woke, ctx.Err()
}

// fetchRemote takes up to max messages of engine queue q for s, waiting
// up to wait for the first. A queue gone from the engine is dropped from
// the map; other errors count as nothing taken, and the transfer tries
// again until its timeout.
func (b *Broker) fetchRemote(ctx context.Context, s *Session, q *Queue, max int, wait time.Duration) []wire.Delivery {
	now := time.Now().UnixNano()
	q.lastTransfer.Store(now)
	fs, err := b.engine.Fetch(ctx, q.name, max, wait)
	if errors.Is(err, ErrNoSuchQueue) {
		b.forgetRemote(q)
		b.resubscribe(s, q)
	}
	if len(fs) == 0 {
		return nil
	}
	out := make([]wire.Delivery, len(fs))
	q.remote.mu.Lock()
	for i := range fs {
		out[i] = fs[i].Delivery
		q.remote.held[out[i].ID] = remoteHeld{h: fs[i].Handle, s: s}
	}
	q.remote.mu.Unlock()
	if s.ended.Load() { // EndSession may have given back before we held these
		b.giveBackRemote(q, s)
		return nil
	}
	b.Counters.Delivered.Add(uint64(len(out)))
	if b.trace != nil {
		b.trace.addMessages(now, wire.EventDeliver, q.name, asMessages(out), "", s.clientID, false)
	}
	return out
}

// asMessages renders deliveries as queued messages, for the trace.
func asMessages(ds []wire.Delivery) []message {
	ms := make([]message, len(ds))
	for i := range ds {
		ms[i] = newMessage(&ds[i].Message, ds[i].Topic, ds[i].EnqueuedAt.UnixNano())
		ms[i].id, ms[i].deliveries = ds[i].ID, ds[i].DeliveryCount
	}
	return ms
}

// takeHeld removes and returns the handles of ids that pass keep.
func (q *Queue) takeHeld(ids []uint64, keep func(remoteHeld) bool) (hs []Handle, missing []uint64) {
	q.remote.mu.Lock()
	defer q.remote.mu.Unlock()
	for _, id := range ids {
		h, ok := q.remote.held[id]
		if !ok || !keep(h) {
			missing = append(missing, id)
			continue
		}
		delete(q.remote.held, id)
		hs = append(hs, h.h)
	}
	return hs, missing
}

// ackRemote is Ack for an engine queue: a message held here is acked, any
// other deleted from the engine, whoever holds it.
func (b *Broker) ackRemote(s *Session, q *Queue, ids []uint64) error {
	var firstErr error
	hs, others := q.takeHeld(ids, func(remoteHeld) bool { return true })
	n := 0
	for _, h := range hs {
		if err := h.Ack(); err != nil {
			firstErr = firstOf(firstErr, fmt.Errorf("%w: %s: ack: %v", ErrStorage, q.name, err))
			continue
		}
		n++
	}
	for _, id := range others {
		if err := b.engine.Delete(q.name, id); err != nil {
			firstErr = firstOf(firstErr, err)
			continue
		}
		n++
	}
	b.Counters.Acked.Add(uint64(n))
	return firstErr
}

// firstOf keeps the first error.
func firstOf(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// releaseRemote is Release for an engine queue: the messages s holds are
// given back to the engine for redelivery, in id order (the order the
// engine redelivers them in).
func (b *Broker) releaseRemote(s *Session, q *Queue, ids []uint64) {
	hs, _ := q.takeHeld(slices.Sorted(slices.Values(ids)), func(h remoteHeld) bool { return h.s == s })
	for _, h := range hs {
		h.Nak()
	}
	b.Counters.Redelivered.Add(uint64(len(hs)))
}

// giveBackRemote gives back every message of q that s holds, in id order.
func (b *Broker) giveBackRemote(q *Queue, s *Session) {
	var ids []uint64
	q.remote.mu.Lock()
	for id, h := range q.remote.held {
		if h.s == s {
			ids = append(ids, id)
		}
	}
	q.remote.mu.Unlock()
	hs, _ := q.takeHeld(slices.Sorted(slices.Values(ids)), func(h remoteHeld) bool { return h.s == s })
	for _, h := range hs {
		h.Nak()
	}
	b.Counters.Redelivered.Add(uint64(len(hs)))
}

// withdrawRemote is Withdraw for an engine queue. Only a message held
// here is known to be in flight: one another gateway holds is deleted.
func (b *Broker) withdrawRemote(q *Queue, id uint64) error {
	q.remote.mu.Lock()
	_, held := q.remote.held[id]
	q.remote.mu.Unlock()
	if held {
		return fmt.Errorf("%w: %s/%d", ErrInFlight, q.name, id)
	}
	if err := b.engine.Delete(q.name, id); err != nil {
		return err
	}
	b.Counters.Withdrawn.Add(1)
	return nil
}

// keepAlive tells the engine, every interval until the broker closes,
// that the messages this gateway's sessions hold are still held, so that
// only a dead gateway's messages are redelivered after the ack wait.
func (b *Broker) keepAlive(interval time.Duration, done <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		var hs []Handle
		for _, q := range b.mappedQueues("") {
			if q.remote == nil {
				continue
			}
			q.remote.mu.Lock()
			for _, h := range q.remote.held {
				hs = append(hs, h.h)
			}
			q.remote.mu.Unlock()
		}
		for _, h := range hs {
			h.InProgress()
		}
	}
}
