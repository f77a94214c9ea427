package broker

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"msw/internal/wire"
)

// Queue policies: bounds on a queue's depth and bytes (refusing a send,
// or dropping the oldest ready messages to make room), a time to live
// for unconsumed messages, and a number of deliveries after which a
// message given back moves to a dead-letter queue. See doc.go, Policies.

// policy is a queue's policy as the broker checks it. Queue.mu guards it.
type policy struct {
	set           wire.Policy // as set and shown, the defaults filled in
	maxDepth      int
	maxBytes      int64
	dropOldest    bool
	ttl           int64 // nanoseconds
	maxDeliveries uint32
}

func makePolicy(p wire.Policy) policy {
	return policy{
		set:           p,
		maxDepth:      p.MaxDepth,
		maxBytes:      p.MaxBytes,
		dropOldest:    p.Overflow == wire.OverflowDropOldest,
		ttl:           int64(p.TTLDuration()),
		maxDeliveries: uint32(p.MaxDeliveries),
	}
}

// metaPolicy is the queue property holding a persistent queue's policy,
// as the JSON of wire.Policy.
const metaPolicy = "policy"

// sweepEvery is how often the sweeper expires messages of the queues
// with a TTL; a receiver never gets an expired message whatever it is,
// since a transfer checks first.
const sweepEvery = 250 * time.Millisecond

// SetPolicy replaces the policy of a queue. A policy with max-deliveries
// names its dead-letter queue (QUEUE.dead unless given), which is created
// if it does not exist. A lower bound applies to the next sends: messages
// already queued stay. s, which may be nil, names who asked.
func (b *Broker) SetPolicy(s *Session, name string, p wire.Policy) error {
	if err := p.Check(name); err != nil {
		return err
	}
	if (p.MaxDepth > 0 || p.MaxBytes > 0) && p.Overflow == "" {
		p.Overflow = wire.OverflowReject
	}
	if p.MaxDeliveries > 0 && p.DeadLetter == "" {
		p.DeadLetter = name + wire.DeadLetterSuffix
		if err := ValidateName(p.DeadLetter); err != nil {
			return fmt.Errorf("%w: dead-letter queue: %v", wire.ErrBadPolicy, err)
		}
	}
	q, err := b.lookup(name)
	if err != nil {
		return err
	}
	if q.remote != nil && p != (wire.Policy{}) {
		// The engine does not apply policies yet: refused, not ignored.
		return fmt.Errorf("policy %s: %w", name, ErrNotSupported)
	}
	if p.MaxDeliveries > 0 {
		if err := b.CreateQueue(s, p.DeadLetter); err != nil && !errors.Is(err, ErrQueueExists) {
			return fmt.Errorf("dead-letter queue: %w", err)
		}
	}
	var c Commit
	q.mu.Lock()
	if q.destroyed {
		q.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNoSuchQueue, name)
	}
	if b.durable(q) {
		var v []byte
		if p != (wire.Policy{}) {
			v, _ = json.Marshal(p)
		}
		if c, err = b.store.SetQueueMeta(name, metaPolicy, v); err != nil {
			q.mu.Unlock()
			return err
		}
	}
	q.pol = makePolicy(p)
	q.mu.Unlock()
	if c != 0 {
		if err := b.store.Wait(c); err != nil {
			return err
		}
	}
	if q.pol.ttl > 0 {
		b.watchTTL(q)
	}
	return nil
}

// recoverPolicy sets q's policy from its recorded property.
func (b *Broker) recoverPolicy(q *Queue, v []byte) {
	var p wire.Policy
	if len(v) == 0 || json.Unmarshal(v, &p) != nil || p.Check(q.name) != nil {
		return
	}
	q.pol = makePolicy(p)
	if q.pol.ttl > 0 {
		b.watchTTL(q)
	}
}

// admitLocked checks that ms may be sent to q under its bounds. Under
// reject, a send past max-depth or max-bytes fails with ErrQueueFull;
// under drop-oldest only a message larger than max-bytes by itself
// does, and trimLocked makes room once ms are queued. q.mu held.
func (q *Queue) admitLocked(ms []message) error {
	p := &q.pol
	if p.maxDepth == 0 && p.maxBytes == 0 {
		return nil
	}
	n := len(ms)
	var size, largest int64
	for i := range ms {
		size += int64(ms[i].size())
		largest = max(largest, int64(ms[i].size()))
	}
	if p.dropOldest {
		if p.maxBytes == 0 || largest <= p.maxBytes {
			return nil
		}
	} else if (p.maxDepth == 0 || q.ready()+n <= p.maxDepth) && (p.maxBytes == 0 || q.bytes+size <= p.maxBytes) {
		return nil
	}
	q.b.Counters.Rejected.Add(uint64(n))
	var held []string
	if p.maxDepth > 0 {
		held = append(held, fmt.Sprintf("%s (max-depth %d)", wire.CountOf(int64(q.ready()), "message", "messages"), p.maxDepth))
	}
	if p.maxBytes > 0 {
		held = append(held, fmt.Sprintf("%s (max-bytes %d)", wire.CountOf(q.bytes, "byte", "bytes"), p.maxBytes))
	}
	return fmt.Errorf("%w: %s holds %s; a send of %s (%s) does not fit",
		ErrQueueFull, q.name, strings.Join(held, " and "), wire.CountOf(int64(n), "message", "messages"), wire.CountOf(size, "byte", "bytes"))
}

// trimLocked, under drop-oldest, drops the oldest ready messages while
// q is past a bound, and returns them. Bytes held by messages in flight
// cannot be dropped: they may keep q past max-bytes until acked. q.mu
// held.
func (q *Queue) trimLocked() []message {
	p := &q.pol
	if !p.dropOldest {
		return nil
	}
	var dropped []message
	for q.ready() > 0 && ((p.maxDepth > 0 && q.ready() > p.maxDepth) || (p.maxBytes > 0 && q.bytes > p.maxBytes)) {
		m := q.popReadyLocked()
		q.droppedLocked(&m)
		dropped = append(dropped, m)
	}
	q.dropped += uint64(len(dropped))
	return dropped
}

// popReadyLocked removes the ready message that would be delivered
// next. q.mu held, q.ready() > 0.
func (q *Queue) popReadyLocked() message {
	if len(q.redeliver) > 0 {
		m := q.redeliver[0]
		q.redeliver[0] = message{}
		q.redeliver = q.redeliver[1:]
		return m
	}
	return q.fresh.popFront()
}

// expireLocked removes the ready messages enqueued longer than the TTL
// before now (Unix ns) and returns them. Fresh messages are in enqueue
// order, so only the expired ones and the first live one are looked at;
// the redelivery list, short, is looked at whole. q.mu held.
func (q *Queue) expireLocked(now int64) []message {
	if q.pol.ttl == 0 || q.ready() == 0 {
		return nil
	}
	cutoff := now - q.pol.ttl
	var out []message
	if len(q.redeliver) > 0 {
		kept := q.redeliver[:0]
		for _, m := range q.redeliver {
			if m.enqueued() <= cutoff {
				out = append(out, m)
			} else {
				kept = append(kept, m)
			}
		}
		clear(q.redeliver[len(kept):])
		q.redeliver = kept
	}
	for q.fresh.len() > 0 && q.fresh.at(0).enqueued() <= cutoff {
		out = append(out, q.fresh.popFront())
	}
	for i := range out {
		q.droppedLocked(&out[i])
	}
	q.expired += uint64(len(out))
	return out
}

// recordGoneLocked records messages the policy removed from q (expired
// or dropped) as deleted. q.mu held.
func (b *Broker) recordGoneLocked(q *Queue, ms []message) Commit {
	if len(ms) == 0 || !b.durable(q) {
		return 0
	}
	return b.store.Ack(q.name, idsOf(ms))
}

// expire expires q's messages past their TTL, recording it.
func (b *Broker) expire(q *Queue, now int64) {
	q.mu.Lock()
	if q.destroyed {
		q.mu.Unlock()
		return
	}
	ex := q.expireLocked(now)
	c := b.recordGoneLocked(q, ex)
	q.mu.Unlock()
	b.gone(q, ex, c, wire.EventExpire)
}

// gone finishes the removal of messages by the policy: the record
// flushed, the counters and the trace.
func (b *Broker) gone(q *Queue, ms []message, c Commit, event string) {
	if len(ms) == 0 {
		return
	}
	b.flush(c)
	if event == wire.EventExpire {
		b.Counters.Expired.Add(uint64(len(ms)))
	} else {
		b.Counters.Dropped.Add(uint64(len(ms)))
	}
	b.traceMessages(event, q.name, ms, "", "", false)
}

// watchTTL adds q to the queues the sweeper looks at, starting the
// sweeper with the first.
func (b *Broker) watchTTL(q *Queue) {
	b.ttlMu.Lock()
	defer b.ttlMu.Unlock()
	if b.ttlQueues == nil {
		b.ttlQueues = map[*Queue]struct{}{}
		go b.sweep()
	}
	b.ttlQueues[q] = struct{}{}
}

// sweep expires messages of the queues with a TTL every sweepEvery,
// until the broker closes. A queue destroyed or without a TTL any more
// leaves the set.
func (b *Broker) sweep() {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-b.done:
			return
		}
		// ttlMu is taken before Queue.mu here only; everyone else takes
		// it with no queue lock held.
		b.ttlMu.Lock()
		qs := make([]*Queue, 0, len(b.ttlQueues))
		for q := range b.ttlQueues {
			q.mu.Lock()
			off := q.destroyed || q.pol.ttl == 0
			q.mu.Unlock()
			if off {
				delete(b.ttlQueues, q)
			} else {
				qs = append(qs, q)
			}
		}
		b.ttlMu.Unlock()
		now := time.Now().UnixNano()
		for _, q := range qs {
			b.expire(q, now)
		}
	}
}

// splitDeadLocked takes out of ms, messages given back, those that have
// reached q's max-deliveries, accounting for them leaving q. q.mu held.
func (q *Queue) splitDeadLocked(ms []message) (back, dead []message) {
	max := q.pol.maxDeliveries
	if max == 0 || len(ms) == 0 {
		return ms, nil
	}
	back = ms[:0]
	for _, m := range ms {
		if m.deliveries >= max {
			q.droppedLocked(&m)
			dead = append(dead, m)
		} else {
			back = append(back, m)
		}
	}
	return back, dead
}

// deadLetter moves ms, taken out of q by splitDeadLocked, to q's
// dead-letter queue: each keeps its delivery count, and its origin
// becomes the client that last held it. They are deleted from q in the
// store only once the dead-letter queue holds them, so a crash in between
// leaves a copy in both, never in neither. If the dead-letter queue
// refuses them (it is full), they go back to q.
func (b *Broker) deadLetter(q *Queue, ms []message, holder *Session) {
	if len(ms) == 0 {
		return
	}
	q.mu.Lock()
	dlq := q.pol.set.DeadLetter
	q.mu.Unlock()
	// In their order in q (a session's held messages come in map order).
	slices.SortFunc(ms, func(a, b message) int { return cmp.Compare(a.id, b.id) })
	moved := slices.Clone(ms)
	now := time.Now().UnixNano()
	for i := range moved {
		moved[i] = moved[i].withEnqueued(now)
		moved[i].origin = holder
	}
	err := b.CreateQueue(nil, dlq)
	var d *Queue
	if err == nil || errors.Is(err, ErrQueueExists) {
		d, err = b.lookup(dlq)
	}
	if err == nil && d.remote != nil {
		err = fmt.Errorf("dead letters into %s: %w with a --backend", dlq, errors.ErrUnsupported)
	}
	if err == nil {
		var p PendingSend
		if p, err = b.put(nil, d, moved, now, nil, nil); err == nil {
			_, err = p.Wait()
		}
	}
	q.mu.Lock()
	if err != nil {
		if !q.destroyed {
			for i := range ms {
				q.bytes += int64(ms[i].size())
				b.held.Add(messageCost(&ms[i])) // back in q: held as before splitDeadLocked
				if b.durable(q) {
					b.cached.Add(int64(ms[i].size()))
				}
			}
			q.giveBackLocked(ms)
		}
		q.mu.Unlock()
		return
	}
	var c Commit
	if !q.destroyed && b.durable(q) {
		c = b.store.Ack(q.name, idsOf(ms))
	}
	q.deadLettered += uint64(len(ms))
	q.mu.Unlock()
	b.flush(c)
	b.Counters.DeadLettered.Add(uint64(len(ms)))
	b.traceMessages(wire.EventDeadLetter, q.name, ms, clientOf(holder), dlq, false)
}
