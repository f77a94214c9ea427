package server

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"msw/internal/wire"
)

// consumer pushes a session's deliveries down its stream as they come
// (wire.StreamConsume), instead of the client asking again after every
// batch: a served request or an RPC reply then costs the switch one
// write and the client none. It keeps at most window pushed messages
// unacked; acks on the stream make room.
//
// On a switch that holds its queues itself, a consumer has no goroutine
// of its own waiting in the broker: whoever makes a message ready for it
// or room in its window pushes (push.go). With an engine (a gateway), a
// transfer may have to wait on the cluster, and a goroutine of the
// consumer's own does it (run).
type consumer struct {
	st      *stream
	id      uint64 // the consume request's
	window  int
	autoAck bool
	more    chan struct{} // room was made (run only)

	mu     sync.Mutex
	pushed map[pushedKey]struct{} // pushed and not yet acked or released

	push *pusher // nil when run waits in the broker
}

type pushedKey struct {
	queue string
	id    uint64
}

// consumePoll is how long a consumer's transfers wait before looking
// again; each look counts as a poll in the diagnostics, as a client's
// long-poll does.
const consumePoll = 30 * time.Second

// consume starts a consumer for request req.
func (st *stream) consume(req *wire.StreamRequest) int {
	if req.Arg == 0 || req.Arg > wire.MaxConsumeWindow {
		return st.answerError(req.ID, badRequest(fmt.Sprintf("consume: window %d: want 1 to %d", req.Arg, wire.MaxConsumeWindow)))
	}
	c := &consumer{
		st:     st,
		id:     req.ID,
		window: int(req.Arg),
		more:   make(chan struct{}, 1),
		pushed: map[pushedKey]struct{}{},
	}
	c.autoAck = len(req.Body) > 0 && req.Body[0]&wire.ConsumeAutoAck != 0
	ctx, cancel := context.WithCancel(st.ctx)
	run := func() { c.run(ctx, cancel) }
	if st.s.b.Local() {
		c.push = newPusher(ctx)
		run = func() { c.watch(ctx, cancel) }
	}
	st.mu.Lock()
	st.consumers = append(st.consumers, c)
	st.mu.Unlock()
	if err := st.wait(req.ID, cancel, run); err != nil {
		cancel()
		st.mu.Lock()
		// A new slice: settled reads the old one without the lock.
		st.consumers = slices.DeleteFunc(slices.Clone(st.consumers), func(x *consumer) bool { return x == c })
		st.mu.Unlock()
		return st.answerError(req.ID, err)
	}
	return 0
}

// run pushes until the consume is cancelled, the stream closes, or the
// session cannot take any more (the final answer says why), waiting in
// the broker for messages.
func (c *consumer) run(ctx context.Context, cancel context.CancelFunc) {
	st := c.st
	defer func() {
		cancel()
		c.giveBackIfGone()
		c.leave()
	}()
	b := st.s.b
	maxWait := min(b.Options().MaxWait, consumePoll)
	for {
		room := c.room()
		if room <= 0 {
			select {
			case <-c.more:
				continue
			case <-ctx.Done():
				return
			}
		}
		ds, err := b.Transfer(ctx, st.sess, room, maxWait)
		if ctx.Err() != nil {
			b.Release(st.sess, deliveriesAcks(ds)) // nobody to push them to
			return
		}
		if err != nil {
			st.answerError(c.id, err)
			st.flush()
			return
		}
		if len(ds) == 0 {
			continue
		}
		c.note(ds)
		st.answerDeliveries(c.id, ds, nil)
		st.flush()
	}
}

// giveBackIfGone releases, if the stream is gone, what was pushed down
// it and not yet acked: now rather than when the session ends (it may
// not, if the client reconnects).
func (c *consumer) giveBackIfGone() {
	st := c.st
	if st.ctx.Err() == nil {
		return
	}
	c.mu.Lock()
	acks := wire.Acks{}
	for k := range c.pushed {
		acks[k.queue] = append(acks[k.queue], k.id)
	}
	clear(c.pushed)
	c.mu.Unlock()
	st.s.b.Release(st.sess, acks)
}

// leave takes the finished consumer off its stream.
func (c *consumer) leave() {
	st := c.st
	st.mu.Lock()
	delete(st.waiting, c.id)
	// A new slice: settled reads the old one without the lock.
	st.consumers = slices.DeleteFunc(slices.Clone(st.consumers), func(x *consumer) bool { return x == c })
	st.mu.Unlock()
}

// note notes deliveries about to be pushed, or acks them at once under
// autoAck.
func (c *consumer) note(ds []wire.Delivery) {
	st := c.st
	if c.autoAck {
		st.s.b.Ack(st.sess, deliveriesAcks(ds))
	} else {
		c.mu.Lock()
		for i := range ds {
			c.pushed[pushedKey{ds[i].Queue, ds[i].ID}] = struct{}{}
		}
		c.mu.Unlock()
	}
}

// room is how many more messages may be pushed now.
func (c *consumer) room() int {
	if c.autoAck {
		return c.window
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.window - len(c.pushed)
}

// settled notes acks or releases of messages: those pushed make room.
// r is the stream's reader when it is the caller, else nil (push.go).
func (c *consumer) settled(acks wire.Acks, r *stream) {
	if c.autoAck {
		return
	}
	freed := false
	c.mu.Lock()
	for q, ids := range acks {
		for _, id := range ids {
			freed = c.unpushLocked(q, id) || freed
		}
	}
	c.mu.Unlock()
	if freed {
		c.roomMade(r)
	}
}

// settledOne is settled for one message.
func (c *consumer) settledOne(queue string, id uint64, r *stream) {
	if c.autoAck {
		return
	}
	c.mu.Lock()
	freed := c.unpushLocked(queue, id)
	c.mu.Unlock()
	if freed {
		c.roomMade(r)
	}
}

// unpushLocked forgets a message pushed, and reports whether it was.
// c.mu held.
func (c *consumer) unpushLocked(queue string, id uint64) bool {
	k := pushedKey{queue, id}
	if _, ok := c.pushed[k]; !ok {
		return false
	}
	delete(c.pushed, k)
	return true
}

// roomMade wakes the consumer if it waits for room.
func (c *consumer) roomMade(r *stream) {
	if c.push != nil {
		c.notified(r)
		return
	}
	select {
	case c.more <- struct{}{}:
	default:
	}
}

// settled tells the stream's consumers of acks or releases; r is the
// stream's reader when it is the caller, else nil (push.go).
func (st *stream) settled(acks wire.Acks, r *stream) {
	st.mu.Lock()
	cs := st.consumers
	st.mu.Unlock()
	for _, c := range cs {
		c.settled(acks, r)
	}
}

// settledOne is settled for one message.
func (st *stream) settledOne(queue string, id uint64, r *stream) {
	st.mu.Lock()
	cs := st.consumers
	st.mu.Unlock()
	for _, c := range cs {
		c.settledOne(queue, id, r)
	}
}

// reply carries out a reply request: the reply is enqueued, then (or if
// its queue is gone with its caller) the request is acked. A reply to
// another gateway's caller is on its way when it returns and is finished
// by the committer, as a send is (streamsend.go): a server's replies to
// callers elsewhere travel together, not one round trip after another.
func (st *stream) reply(req *wire.StreamRequest) int {
	b := st.s.b
	ackQueue, rest, ok := wire.CutString(req.Body)
	if !ok {
		return st.answerError(req.ID, badRequest("reply: bad request queue"))
	}
	msgs, err := decodeSend(rest, b.Options().MaxPayload)
	if err == nil && len(msgs) != 1 {
		err = badRequest("reply: want exactly one message")
	}
	if err != nil {
		return st.answerError(req.ID, err)
	}
	ps := pipedSend{id: req.ID, quiet: req.Quiet, n: 1, reply: replyOf{ackQueue, req.Arg}}
	ps.p, ps.err = b.SendPending(st.sess, req.Queue, msgs)
	ps.p.Notify(st)
	return st.pipe(ps)
}
