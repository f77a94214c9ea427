package server

// Pushing without a goroutine per consumer. On a switch that holds its
// queues itself (no engine), a consumer does not wait in the broker: it
// registers with the queues it consumes (broker.TakeOrNotify), and the
// goroutine that makes a message ready for it pushes it. An RPC then
// costs the switch no goroutine hand-off between a caller's request
// being read and its push to the server, nor between the reply being
// read and its push to the caller: each stream's reader does the work,
// which is what made the tail at 64 callers (bench/NOTES.md).
//
// Who pushes:
//   - A stream's reader whose send (or reply) made a message ready
//     (broker.PendingSend.Notify with the stream): it notes the consumer
//     and pushes once it has handled every request it has read
//     (settle), so the sends of one read share one push and one write,
//     then flushes every stream it pushed down. It does the same before
//     any request that may wait (pushOthers), and when it stops.
//   - A stream's reader whose ack or reply made room in a window of its
//     own stream's consumer, the same way.
//   - The broker's other wake-ups (a send made over HTTP, a release, a
//     queue made again, the switch closing) come on a goroutine of their
//     own, which pushes and flushes, waiting if it must; so does the
//     stream's committer when a reply it finished made room.
//   - The consumer's own goroutine (watch), which otherwise only waits:
//     once at the start, every consumePoll (so that a session's later
//     subscriptions are found, as a waiting transfer's next poll finds
//     them), and when the consume is cancelled or its stream closes, to
//     finish it.
//
// A consumer's steps never overlap (kick): a kick while a step runs
// makes that goroutine step once more, so a pusher never waits for
// another, and deliveries leave in the order they were taken. A step
// takes what is ready, within the window, pushes it and looks again,
// until nothing is ready (it registers) or the window is full (the next
// ack kicks it).
//
// A reader never waits for another stream's connection: a client that
// stops reading must not hold up those who send to it. It writes a push
// only if the stream's write lock is free and the frames fit its
// buffer, and flushes another stream with one non-blocking system call
// (deadlineWriter.noWait), if the lock is free. What it cannot do so
// goes to a goroutine of the stream's or the consumer's own, which may
// wait (for at most the write timeout, as any push did before).

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"msw/broker"
	"msw/internal/wire"
)

// pusher is the state of a consumer that others push for.
type pusher struct {
	ctx   context.Context // the consume's
	kicks atomic.Int64    // kicks not yet stepped for; a step runs while > 0
	// Under the steps (one at a time, ordered by kicks):
	reg  broker.Notify // registered with the broker, waiting
	over bool          // finished: later kicks do nothing
	// stopped is closed when the consumer has finished.
	stopped chan struct{}
}

func newPusher(ctx context.Context) *pusher {
	return &pusher{ctx: ctx, stopped: make(chan struct{})}
}

// watch is the goroutine of a consumer that others push for: it starts
// the pushing, looks again every consumePoll, and finishes the consumer
// when the consume is cancelled or its stream closes.
func (c *consumer) watch(ctx context.Context, cancel context.CancelFunc) {
	defer c.leave()
	defer cancel()
	c.kick(nil)
	t := time.NewTicker(consumePoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.kick(nil) // the step sees ctx done and finishes
			<-c.push.stopped
			return
		case <-c.push.stopped: // the session or the switch ended it
			return
		case <-t.C:
			c.kick(nil)
		}
	}
}

// notified is what the broker calls when a message may be ready for c,
// and what room made in its window calls. by is the stream whose reader
// calls, whose kick waits until it settles; or nil, from a goroutine
// that may wait (broker.TakeOrNotify).
func (c *consumer) notified(by any) {
	if r, ok := by.(*stream); ok && r != nil {
		r.kickLater(c)
		return
	}
	c.kick(nil)
}

// kick steps c, now or right after the step running elsewhere: kicks
// that come while one runs make one more step, not one each. Run by the
// reader r (not nil), it never waits, and leaves flushes to r.
func (c *consumer) kick(r *stream) {
	if c.push.kicks.Add(1) > 1 {
		return
	}
	c.stepLoop(r, nil)
}

// stepLoop steps until no kick is left. A step on a reader that would
// have to wait to write hands what it took, and the loop with it, to a
// goroutine of its own. pending is deliveries taken and not yet written.
func (c *consumer) stepLoop(r *stream, pending []wire.Delivery) {
	p := c.push
	st := c.st
	if pending != nil {
		st.answerDeliveries(c.id, pending, nil)
		st.flush()
	}
	for {
		n := p.kicks.Load()
		if pending = c.step(r); pending != nil {
			go c.stepLoop(nil, pending)
			return
		}
		if p.kicks.Add(-n) == 0 {
			return
		}
	}
}

// step pushes what is ready, within the window, and registers with the
// broker once nothing is. Only stepLoop calls it. On a reader (r not
// nil) it returns the deliveries it took but could not write without
// waiting.
func (c *consumer) step(r *stream) (pending []wire.Delivery) {
	p := c.push
	if p.over {
		return nil
	}
	st := c.st
	b := st.s.b
	woken := b.StopNotify(st.sess, p.reg)
	p.reg = broker.Notify{}
	if p.ctx.Err() != nil {
		c.finish(woken)
		return nil
	}
	pushed := false
	defer func() {
		if pushed && pending == nil {
			if r != nil {
				r.flushLater(st)
			} else {
				st.flush()
			}
		}
	}()
	for {
		room := c.room()
		if room <= 0 {
			return nil // the ack that makes room kicks
		}
		ds, reg, err := b.TakeOrNotify(st.sess, room, c.notified)
		if err != nil {
			st.answerError(c.id, err)
			pushed = true
			c.finish(false)
			return nil
		}
		if len(ds) == 0 {
			p.reg = reg
			return nil
		}
		c.note(ds)
		pushed = true
		if r == nil {
			st.answerDeliveries(c.id, ds, nil)
		} else if !st.tryAnswerDeliveries(c.id, ds) {
			return ds
		}
	}
}

// finish ends c: what it pushed goes back if its stream is gone, and a
// wake-up it took without taking a message goes to another consumer.
func (c *consumer) finish(woken bool) {
	p := c.push
	p.over = true
	st := c.st
	if woken {
		st.s.b.PassWake(st.sess)
	}
	c.giveBackIfGone()
	close(p.stopped)
}

// kickLater notes a consumer to kick when the reader settles. Reader only.
func (st *stream) kickLater(c *consumer) {
	if !slices.Contains(st.kicked, c) {
		st.kicked = append(st.kicked, c)
	}
}

// flushLater notes that the reader pushed down other, to flush when it
// settles. Reader only.
func (st *stream) flushLater(other *stream) {
	if other != st && !slices.Contains(st.dirty, other) {
		st.dirty = append(st.dirty, other)
	}
}

// settle does the pushes the reader owes and flushes its own stream and
// every stream it pushed down: when it has handled all it has read, and
// when it stops. Reader only.
func (st *stream) settle() {
	st.pushOthers()
	st.flush()
}

// pushOthers is settle without the flush of the reader's own stream
// (whose answers wait for the end of the read): before the reader
// handles a request that may wait. Reader only.
func (st *stream) pushOthers() {
	for i, c := range st.kicked {
		c.kick(st)
		st.kicked[i] = nil
	}
	st.kicked = st.kicked[:0]
	for i, o := range st.dirty {
		o.flushFromReader()
		st.dirty[i] = nil
	}
	st.dirty = st.dirty[:0]
}

// flushFromReader flushes st for another stream's reader, which must
// not wait: the write is one non-blocking system call, and whatever the
// socket does not take then goes on a goroutine, as does the whole
// flush if another writer holds the lock.
func (st *stream) flushFromReader() {
	if !st.wmu.TryLock() {
		st.flushAside()
		return
	}
	if st.err == nil && st.bw.Buffered() > 0 && len(st.dw.backlog) == 0 {
		st.dw.noWait = true
		st.err = st.bw.Flush() // never fails: what is not taken is kept
		st.dw.noWait = false
	}
	left := st.err == nil && (st.bw.Buffered() > 0 || len(st.dw.backlog) > 0)
	st.wmu.Unlock()
	if left {
		st.flushAside()
	}
}

// flushAside flushes st on a goroutine of its own; flushes asked for
// while one runs make it flush once more, not one goroutine each.
func (st *stream) flushAside() {
	if st.asideFlushes.Add(1) > 1 {
		return
	}
	go func() {
		for {
			n := st.asideFlushes.Load()
			st.flush()
			if st.asideFlushes.Add(-n) == 0 {
				return
			}
		}
	}()
}
