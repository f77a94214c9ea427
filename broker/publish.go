package broker

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"msw/internal/wire"
)

// Pub/sub. A queue bound to a pattern gets a copy of every message
// published to a topic the pattern matches. The copies share the
// message's bytes (correlation id, reply-to and payload are stored once):
// each extra copy costs one message header in its queue.
//
// A publish locks every matching queue, in name order, before enqueuing
// into any, so the copies of one message appear in all of them at once,
// or, if one cannot be recorded, in none. Lock order: bindingsMu comes
// after queuesMu and before Session.mu and Queue.mu; the queues a publish
// holds at once are locked in name order.

// metaBindingPrefix starts the queue property that records a binding of
// a persistent queue: "binding:PATTERN".
const metaBindingPrefix = "binding:"

// metaBound is the value a binding's property holds.
var metaBound = []byte{1}

// ErrBadTopic: a topic or pattern breaks the rules of wire.ValidateTopic
// or wire.ValidatePattern.
var ErrBadTopic = wire.ErrBadTopic

// Bind binds a queue to patterns: from then on it gets a copy of each
// message published to a topic one of them matches. Binding a pattern
// the queue already has is not an error. A persistent queue's bindings
// are recorded, so they survive a restart of a durable switch.
func (b *Broker) Bind(s *Session, queue string, patterns []string) error {
	return b.bind(s, queue, patterns, true)
}

// Unbind removes bindings of a queue; a pattern it is not bound to is
// skipped.
func (b *Broker) Unbind(s *Session, queue string, patterns []string) error {
	return b.bind(s, queue, patterns, false)
}

// bind is Bind (on) and Unbind.
func (b *Broker) bind(s *Session, queue string, patterns []string, on bool) error {
	if b.closed.Load() {
		return ErrClosed
	}
	for _, p := range patterns {
		if err := wire.ValidatePattern(p); err != nil {
			return err
		}
	}
	q, err := b.lookup(queue)
	if err != nil {
		return err
	}
	if q.remote != nil && on {
		// Publish copies into queues in this process; a queue in the
		// engine would need the copies made there.
		return fmt.Errorf("bind %s: %w", queue, ErrNotSupported)
	}
	var c Commit
	b.bindingsMu.Lock()
	q.mu.Lock()
	if q.destroyed {
		q.mu.Unlock()
		b.bindingsMu.Unlock()
		return fmt.Errorf("%w: %s", ErrNoSuchQueue, queue)
	}
	for _, p := range patterns {
		p = strings.Clone(p) // kept by the index; a request's may alias its buffer
		changed := false
		if on {
			changed = b.bindings.add(p, q)
		} else {
			changed = b.bindings.remove(p, q)
		}
		if !changed {
			continue
		}
		if b.durable(q) {
			v := metaBound
			if !on {
				v = nil
			}
			if c, err = b.store.SetQueueMeta(q.name, metaBindingPrefix+p, v); err != nil {
				// Not recorded: undo, so the index says what the store does.
				if on {
					b.bindings.remove(p, q)
				} else {
					b.bindings.add(p, q)
				}
				break
			}
		}
		if i, found := slices.BinarySearch(q.patterns, p); on && !found {
			q.patterns = slices.Insert(q.patterns, i, p)
		} else if !on && found {
			q.patterns = slices.Delete(q.patterns, i, i+1)
		}
	}
	q.mu.Unlock()
	b.bindingsMu.Unlock()
	if c != 0 {
		if werr := b.store.Wait(c); err == nil {
			err = werr
		}
	}
	return err
}

// dropBindings removes every binding of q, once it is destroyed. Its
// recorded bindings went with the record of its destruction.
func (b *Broker) dropBindings(q *Queue) {
	b.bindingsMu.Lock()
	q.mu.Lock()
	for _, p := range q.patterns {
		b.bindings.remove(p, q)
	}
	q.patterns = nil
	q.mu.Unlock()
	b.bindingsMu.Unlock()
}

// recoverBindings binds a recovered queue to the patterns its properties
// record. Called before the broker is in use.
func (b *Broker) recoverBindings(q *Queue, meta map[string][]byte) {
	for k := range meta {
		if p, ok := strings.CutPrefix(k, metaBindingPrefix); ok && wire.ValidatePattern(p) == nil {
			b.bindings.add(p, q)
			q.patterns = append(q.patterns, p)
		}
	}
	slices.Sort(q.patterns)
}

// Bindings lists every binding, sorted by queue and pattern.
func (b *Broker) Bindings() []wire.Binding {
	out := []wire.Binding{}
	for _, q := range b.queueList("") {
		q.mu.Lock()
		for _, p := range q.patterns {
			out = append(out, wire.Binding{Queue: q.name, Pattern: p})
		}
		q.mu.Unlock()
	}
	return out
}

// Publish enqueues a copy of each message into every queue bound to a
// pattern matching topic, and returns how many queues that was (0 is not
// an error). Each message reaches all those queues in one step: every
// copy is queued, or, if one cannot be recorded or a queue's policy
// refuses it (ErrQueueFull), none is. A queue under drop-oldest makes
// room as for a send. s may be nil for an anonymous publisher.
func (b *Broker) Publish(s *Session, topic string, ms []wire.Message) (int, error) {
	if b.closed.Load() {
		return 0, ErrClosed
	}
	if err := wire.ValidateTopic(topic); err != nil {
		return 0, err
	}
	now := time.Now().UnixNano()
	stored, err := b.storedMessages(s, topic, ms, now)
	if err != nil || len(stored) == 0 {
		return 0, err
	}

	b.bindingsMu.RLock()
	qs := b.bindings.matching(topic)
	b.bindingsMu.RUnlock()

	// Each copy counts against MaxMemory as a message sent to its queue
	// does, since it is given back as one when it leaves (droppedLocked).
	var cost int64
	for i := range stored {
		cost += messageCost(&stored[i])
	}
	if err := b.reserve(cost * int64(len(qs))); err != nil {
		return 0, err
	}

	// Lock every target in name order; skip those destroyed meanwhile.
	live := qs[:0]
	for _, q := range qs {
		q.mu.Lock()
		if q.destroyed {
			q.mu.Unlock()
			continue
		}
		live = append(live, q)
	}
	b.held.Add(-cost * int64(len(qs)-len(live)))
	qs = live
	done := make([]published, 0, len(qs))
	for _, q := range qs {
		if err = q.admitLocked(stored); err != nil {
			break
		}
	}
	for _, q := range qs {
		if err != nil {
			break
		}
		var c Commit
		if b.durable(q) {
			if c, err = b.record(q, stored); err != nil {
				break
			}
		}
		done = append(done, published{q: q, c: c})
	}
	if err != nil {
		// Nothing is queued yet; what was recorded for the queues before
		// the failing one stays unanswered (the publisher is refused and
		// retries), as a send refused by its store.
		for _, q := range qs {
			q.mu.Unlock()
		}
		b.held.Add(-cost * int64(len(qs)))
		return 0, err
	}
	if b.trace != nil {
		for i := range stored {
			rec := messageRecord(wire.EventPublish, strings.Clone(topic), &stored[i], clientOf(s), "")
			rec.id, rec.time = uint64(len(done)), now // a publish's id field counts its copies
			b.traceEvent(rec)
		}
	}
	copies := make([]message, len(stored))
	for i := range done {
		q := done[i].q
		copy(copies, stored)
		done[i].first = q.enqueueLocked(copies)
		q.sent += uint64(len(copies))
		if b.trace != nil {
			b.trace.addMessages(now, wire.EventSend, q.name, copies, clientOf(s), "", false)
		}
		done[i].dropped = q.trimLocked()
		done[i].dc = b.recordGoneLocked(q, done[i].dropped)
		q.handOverWokenLocked(nil)
	}
	for _, q := range qs {
		q.mu.Unlock()
	}
	for _, d := range done {
		b.gone(d.q, d.dropped, d.dc, wire.EventDrop)
	}
	if err := b.waitPublished(done, stored); err != nil {
		return 0, err
	}
	b.Counters.Sent.Add(uint64(len(ms) * len(done)))
	return len(done), nil
}

// published is the copies of a publish in one queue: their record's
// commit (0 unless the queue is durable) and first id, and what its
// drop-oldest policy dropped to make room, with that record's commit.
type published struct {
	q       *Queue
	c       Commit
	first   uint64
	dropped []message
	dc      Commit
}

// waitPublished waits until the copies of a publish recorded for durable
// queues are durable. If one cannot be made so, every copy nobody has
// taken yet is removed again, from every queue, and the publish fails.
func (b *Broker) waitPublished(done []published, stored []message) error {
	var err error
	for _, d := range done {
		if d.c == 0 {
			continue
		}
		if werr := b.waitSent(d.q, d.c, d.first, stored); werr != nil && err == nil {
			err = werr
		}
	}
	if err == nil {
		return nil
	}
	for _, d := range done {
		if d.c == 0 {
			d.q.withdrawUnsent(d.first, len(stored))
		}
	}
	return err
}

// storedMessages checks messages as a send or publish takes them and
// makes their stored form, enqueued at now by s (published to topic, or
// sent if topic is empty).
func (b *Broker) storedMessages(s *Session, topic string, ms []wire.Message, now int64) ([]message, error) {
	stored := make([]message, len(ms))
	for i := range ms {
		m := &ms[i]
		if len(m.Payload) > b.opts.MaxPayload {
			return nil, fmt.Errorf("payload: %w: %d bytes, limit %d", ErrTooLarge, len(m.Payload), b.opts.MaxPayload)
		}
		if n := uint64(len(m.Payload)) + uint64(len(m.CorrelationID)) + uint64(len(m.ReplyTo)); n > maxRecordBody {
			return nil, fmt.Errorf("message: %w: %d bytes, limit %d", ErrTooLarge, n, maxRecordBody)
		}
		if len(m.CorrelationID) > MaxFieldLen {
			return nil, fmt.Errorf("correlation id: %w: %d bytes, limit %d", ErrTooLarge, len(m.CorrelationID), MaxFieldLen)
		}
		if m.ReplyTo != "" {
			if err := ValidateName(m.ReplyTo); err != nil {
				return nil, fmt.Errorf("reply-to: %w", err)
			}
		}
		stored[i] = newMessage(m, topic, now)
		stored[i].origin = s
	}
	return stored, nil
}
