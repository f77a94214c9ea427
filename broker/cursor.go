package broker

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"msw/internal/wire"
)

// Cursor reads. Besides competing-consumer delivery (transfer.go), a
// session can read a queue the way the original message-switch's clients
// do: every unacked message above a cursor, ready or held by a consumer,
// without taking any. Nothing is moved in flight, so a cursor reader never
// takes a message from msw's own consumers, and every cursor reader sees
// every message until someone acks it.
//
// Positions are cursor ids: a message's id plus its queue's epoch, the
// queue's creation time in Unix nanoseconds. A queue made again under the
// same name (after a destroy, or a restart that did not keep it) has a
// later epoch, so the cursor ids of a name keep increasing: a reader whose
// cursor belongs to an earlier queue of that name sees every message of
// the new one, instead of skipping the ids it has seen before.
//
// A waiting cursor reader is a watcher of each queue it reads: every send
// wakes all of a queue's watchers (a consumer waiter is woken one per
// message, and a cursor reader must never take that wake from it).

// CursorMessage is a message as a cursor read returns it.
type CursorMessage struct {
	Cursor int64 // the message's cursor id: its queue's epoch plus its id
	wire.Delivery
}

// epoch is the base of q's cursor ids.
func (q *Queue) epoch() int64 { return q.created.UnixNano() }

// Epoch returns the cursor epoch of the named queue: a message's cursor
// id is its id plus this.
func (b *Broker) Epoch(queue string) (int64, error) {
	q, err := b.lookup(queue)
	if err != nil {
		return 0, err
	}
	return q.epoch(), nil
}

// appendCursor appends messages of q to out as cursor messages.
func (q *Queue) appendCursor(out []CursorMessage, ms []message) []CursorMessage {
	for i := range ms {
		out = append(out, CursorMessage{Cursor: q.epoch() + int64(ms[i].id), Delivery: ms[i].delivery(q.name)})
	}
	return out
}

// wakeWatchersLocked wakes every cursor reader waiting on q. q.mu held.
func (q *Queue) wakeWatchersLocked() {
	for _, w := range q.watchers {
		w.wake()
	}
	clear(q.watchers)
	q.watchers = q.watchers[:0]
}

// ReadCursor returns, for each named queue in turn, its unacked messages
// (ready or in flight) whose cursor ids are above from, in id order,
// leaving them where they are. If there are none it waits up to timeout
// (at most the broker's MaxWait) for a send to any of the queues; a
// missing queue contributes nothing until a queue of that name is made.
// It returns at most MaxTransfer messages and MaxTransferBytes of payload
// (at least one message), the lowest ids first, so a reader that moves
// its cursor to the highest id returned misses nothing. Reading a queue
// subscribes s to it, so listings count the reader among its servers.
func (b *Broker) ReadCursor(ctx context.Context, s *Session, queues []string, from int64, timeout time.Duration) ([]CursorMessage, error) {
	timeout = min(timeout, b.opts.MaxWait)
	var timer *time.Timer
	for {
		if s.ended.Load() {
			return nil, ErrSessionEnded
		}
		if b.closed.Load() {
			return nil, ErrClosed
		}
		var w *waiter
		if timeout > 0 {
			w = newWaiter()
		}
		out, watched := b.readCursor(s, queues, from, w)
		if len(out) > 0 || w == nil {
			return out, nil
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
		w.giveUp()
		b.unwatch(watched, queues, w)
		if timedOut || ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// readCursor is one pass of ReadCursor. With a waiter and nothing found,
// w is left watching every queue read (returned) and waiting for the
// name of every queue missing.
func (b *Broker) readCursor(s *Session, names []string, from int64, w *waiter) ([]CursorMessage, []*Queue) {
	var out []CursorMessage
	var watched []*Queue
	max, budget := b.opts.MaxTransfer, b.opts.MaxTransferBytes
	now := time.Now().UnixNano()
	s.lastPoll.Store(now)
	for _, name := range names {
		if len(out) >= max || budget <= 0 {
			break
		}
		q, err := b.lookup(name)
		if err != nil {
			if w != nil {
				b.waitForName(name, w)
			}
			continue
		}
		if !slices.Contains(s.subscriptions(), q) {
			b.Subscribe(s, []string{name}) // a lost race with destroy only costs the count
		}
		epoch := q.epoch()
		var after uint64
		if from > epoch {
			after = uint64(from - epoch)
		}
		q.mu.Lock()
		if q.destroyed {
			q.mu.Unlock()
			if w != nil {
				b.waitForName(name, w)
			}
			continue
		}
		ms := q.aboveLocked(after, max-len(out), &budget, len(out) == 0)
		if len(ms) == 0 && w != nil {
			q.watchers = append(q.watchers, w)
			watched = append(watched, q)
		}
		q.mu.Unlock()
		q.lastTransfer.Store(now)
		if len(ms) == 0 {
			continue
		}
		b.Counters.Delivered.Add(uint64(len(ms)))
		s.noteRequests(ms)
		out = q.appendCursor(out, ms)
		if b.trace != nil {
			b.trace.addMessages(now, wire.EventDeliver, q.name, ms, "", s.clientID, true)
		}
	}
	if len(out) > 0 && w != nil {
		b.unwatch(watched, names, w)
		watched = nil
	}
	return out, watched
}

// aboveLocked returns q's unacked messages with ids above after, in id
// order: at most max, and no more payload than *budget (which it
// charges) unless first is set and it would return none. Payloads left on
// disk are read back into the copies returned. q.mu held.
func (q *Queue) aboveLocked(after uint64, max int, budget *int, first bool) []message {
	var ms []message
	for i := range q.redeliver {
		if q.redeliver[i].id > after {
			ms = append(ms, q.redeliver[i])
		}
	}
	q.inflight.each(func(h *held) {
		if h.msg.id > after {
			ms = append(ms, h.msg)
		}
	})
	// Fresh messages are in id order: skip to the first above after, and
	// read no more than can be returned.
	start := sort.Search(q.fresh.len(), func(i int) bool { return q.fresh.at(i).id > after })
	for i := start; i < q.fresh.len() && i-start < max; i++ {
		ms = append(ms, *q.fresh.at(i))
	}
	slices.SortFunc(ms, func(a, b message) int { return cmp.Compare(a.id, b.id) })
	for k := range ms {
		if k == max {
			return ms[:k]
		}
		if q.diskCount > 0 {
			// A cursor read takes nothing: read a payload left on disk
			// without keeping it in memory.
			ms[k] = q.b.loadedCopyLocked(q, &ms[k])
		}
		if ms[k].size() > *budget && !(first && k == 0) {
			return ms[:k]
		}
		*budget -= ms[k].size()
	}
	return ms
}

// unwatch removes w from the queues it watches and the names it waits for.
func (b *Broker) unwatch(watched []*Queue, names []string, w *waiter) {
	for _, q := range watched {
		q.mu.Lock()
		q.watchers = slices.DeleteFunc(q.watchers, func(x *waiter) bool { return x == w })
		q.mu.Unlock()
	}
	for _, name := range names {
		b.forgetName(name, w)
	}
}

// Contents returns up to max unacked messages of a queue, ready or in
// flight, in id order, with no more than MaxTransferBytes of payload (at
// least one message). It is a look, not a read: nothing is recorded.
func (b *Broker) Contents(queue string, max int) ([]CursorMessage, error) {
	q, err := b.lookup(queue)
	if err != nil {
		return nil, err
	}
	budget := b.opts.MaxTransferBytes
	q.mu.Lock()
	ms := q.aboveLocked(0, max, &budget, true)
	q.mu.Unlock()
	return q.appendCursor(nil, ms), nil
}

// SendNumbered enqueues one message whose correlation id names its own
// position: number is given the message's cursor id, under the queue's
// lock, and returns the correlation id to store. It returns the cursor
// id. The original protocol's requests are sent this way, so that a reply
// carrying the request's correlation id says which request it answers.
func (b *Broker) SendNumbered(s *Session, queue string, m wire.Message, number func(cursor int64) string) (int64, error) {
	var epoch int64
	first, err := b.send(s, queue, []wire.Message{m}, func(q *Queue, id uint64) string {
		epoch = q.epoch()
		return number(epoch + int64(id))
	})
	if err != nil {
		return 0, err
	}
	return epoch + int64(first), nil
}

// numbering names a message's correlation id after its queue and the id
// it is about to get.
type numbering func(q *Queue, id uint64) string

// apply renames m, about to be enqueued in q as st, after its id. q.mu held.
func (n numbering) apply(q *Queue, m *wire.Message, st *message) error {
	m.CorrelationID = n(q, q.nextID+1)
	if len(m.CorrelationID) > MaxFieldLen {
		return fmt.Errorf("correlation id: %w: %d bytes, limit %d", ErrTooLarge, len(m.CorrelationID), MaxFieldLen)
	}
	origin := st.origin
	*st = newMessage(m, st.topic(), st.enqueued())
	st.origin = origin
	return nil
}

// FindCursor returns the unacked message of a queue with the given cursor
// id, leaving it in place; false if there is none.
func (b *Broker) FindCursor(queue string, cursor int64) (wire.Delivery, bool) {
	q, err := b.lookup(queue)
	if err != nil || cursor <= q.epoch() {
		return wire.Delivery{}, false
	}
	id := uint64(cursor - q.epoch())
	q.mu.Lock()
	defer q.mu.Unlock()
	if h, ok := q.inflight.get(id); ok {
		return h.msg.delivery(q.name), true
	}
	for i := range q.redeliver {
		if q.redeliver[i].id == id {
			return q.redeliver[i].delivery(q.name), true
		}
	}
	if i := q.fresh.find(id); i >= 0 {
		return q.fresh.at(i).delivery(q.name), true
	}
	return wire.Delivery{}, false
}

// AckCursor deletes the message of a queue with the given cursor id,
// whoever holds it; it is not an error if there is none.
func (b *Broker) AckCursor(s *Session, queue string, cursor int64) {
	q, err := b.lookup(queue)
	if err != nil || cursor <= q.epoch() {
		return
	}
	b.ackIn(s, q, []uint64{uint64(cursor - q.epoch())})
}
