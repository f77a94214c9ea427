package broker

import (
	"context"
	"errors"
	"fmt"
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

// remotePoll is how often a transfer that polls several queues, some of
// them in the engine, looks again at the engine's. A transfer of one
// engine queue alone waits in the engine instead.
const remotePoll = 20 * time.Millisecond

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

// sendRemote is send to an engine queue; stored are the messages as the
// broker would queue them, for the trace.
func (b *Broker) sendRemote(s *Session, q *Queue, ms []wire.Message, stored []message, number numbering) (uint64, error) {
	if number != nil {
		return 0, fmt.Errorf("%s: numbered sends: %w", q.name, ErrNotSupported)
	}
	ids, err := b.engine.Publish(q.name, ms, clientOf(s))
	if errors.Is(err, ErrNoSuchQueue) {
		b.forgetRemote(q)
	}
	if err != nil {
		return 0, err
	}
	b.Counters.Sent.Add(uint64(len(ms)))
	if b.trace != nil {
		for i := range stored {
			stored[i].id = ids[i]
		}
		b.traceMessages(wire.EventSend, q.name, stored, clientOf(s), "", false)
	}
	return ids[0], nil
}

// sendElsewhere is send to a queue this gateway does not have: with an
// engine it may be a transient queue of another gateway.
func (b *Broker) sendElsewhere(s *Session, queue string, ms []wire.Message, err error) (uint64, error) {
	if b.engine == nil || !errors.Is(err, ErrNoSuchQueue) {
		return 0, err
	}
	return b.engine.Forward(queue, ms, clientOf(s))
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
// and one polling several looks again every remotePoll.
func (b *Broker) transferRemote(ctx context.Context, s *Session, max int, timeout time.Duration) ([]wire.Delivery, error) {
	deadline := time.Now().Add(timeout)
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
			left = min(left, remotePoll) // an error: do not spin
		} else {
			left = min(left, remotePoll)
		}
		t := time.NewTimer(left)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
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
		ms[i] = newMessage(&ds[i].Message)
		ms[i].id, ms[i].deliveries, ms[i].enqueued = ds[i].ID, ds[i].DeliveryCount, ds[i].EnqueuedAt.UnixNano()
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
// given back to the engine for redelivery.
func (b *Broker) releaseRemote(s *Session, q *Queue, ids []uint64) {
	hs, _ := q.takeHeld(ids, func(h remoteHeld) bool { return h.s == s })
	for _, h := range hs {
		h.Nak()
	}
	b.Counters.Redelivered.Add(uint64(len(hs)))
}

// giveBackRemote gives back every message of q that s holds.
func (b *Broker) giveBackRemote(q *Queue, s *Session) {
	var hs []Handle
	q.remote.mu.Lock()
	for id, h := range q.remote.held {
		if h.s == s {
			hs = append(hs, h.h)
			delete(q.remote.held, id)
		}
	}
	q.remote.mu.Unlock()
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
