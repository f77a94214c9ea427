package lib

// Pushed deliveries: the RPC loops (rpc.go) do not ask the switch for
// every batch. On the stream they consume (wire.StreamConsume): the switch
// pushes requests to a server as long as fewer than its concurrency are
// unacked, and replies to a caller as they come (acked as pushed: a reply
// queue is the caller's own). A served request is answered and acked in
// one step (wire.StreamReply). Against a switch without the stream the
// loops fall back to long-polling transfers.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"msw/internal/wire"
)

// pushOptions make a client's transferIn consume pushed deliveries.
type pushOptions struct {
	window  int  // most unacked messages pushed; 0: no push
	autoAck bool // the switch acks as it pushes
	// deliver, if set, takes each pushed delivery, with the epoch of the
	// session it was pushed in, on the stream's reader goroutine instead
	// of queueing it for transferIn: one hand-off fewer per message. It
	// must not block.
	deliver func(*Delivery, uint64)
}

// maxWindow is the largest window the switch takes; a server with more
// handlers than that is pushed no more than that many requests at once.
const maxWindow = wire.MaxConsumeWindow

// pushQueue holds a consume's answers until they are taken.
type pushQueue struct {
	mu      sync.Mutex
	items   []answer
	notify  chan struct{}           // a new answer
	deliver func(*Delivery, uint64) // see pushOptions
	epoch   uint64                  // of the session pushing, for deliver
}

func newPushQueue(deliver func(*Delivery, uint64), epoch uint64) *pushQueue {
	return &pushQueue{notify: make(chan struct{}, 1), deliver: deliver, epoch: epoch}
}

// put takes an answer from the stream's reader.
func (q *pushQueue) put(a answer) {
	if q.deliver != nil && a.status == http.StatusOK && deliverEach(a.body, q.deliver, q.epoch) {
		return
	}
	q.mu.Lock()
	q.items = append(q.items, a)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *pushQueue) pop() (answer, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return answer{}, false
	}
	a := q.items[0]
	q.items[0] = answer{}
	q.items = q.items[1:]
	return a, true
}

// consumer is a client's consume on its stream.
type consumer struct {
	sc      *streamConn
	id      uint64
	epoch   uint64 // of the session it consumes in
	pushes  *pushQueue
	backlog []Delivery // pushed, not yet taken
	err     error      // why it ended
}

// consumer returns the client's consumer for its current session,
// starting one if need be.
func (c *Client) consumer(ctx context.Context) (*consumer, error) {
	c.consMu.Lock()
	defer c.consMu.Unlock()
	ref, err := c.ensureRef(ctx)
	if err != nil {
		return nil, err
	}
	if k := c.cons; k != nil {
		if k.epoch == ref.epoch && k.err == nil && k.sc.alive() {
			return k, nil
		}
		k.cancel()
		c.cons = nil
	}
	sc, refusal, err := c.streamFor(ctx, ref.id)
	if err != nil {
		return nil, err
	}
	if sc == nil {
		e := answerError(refusal)
		if e.Code == wire.CodeUnknownSession {
			c.dropSession(ref.epoch)
		}
		return nil, e
	}
	k := &consumer{sc: sc, epoch: ref.epoch, pushes: newPushQueue(c.push.deliver, ref.epoch)}
	call := &streamCall{op: wire.StreamConsume, pushes: k.pushes}
	if k.id, err = sc.register(call); err != nil {
		return nil, err
	}
	var flags byte
	if c.push.autoAck {
		flags |= wire.ConsumeAutoAck
	}
	if err := sc.write(&wire.StreamRequest{Op: wire.StreamConsume, ID: k.id, Arg: uint64(min(c.push.window, maxWindow))}, []byte{flags}, call); err != nil {
		return nil, err
	}
	c.cons = k
	return k, nil
}

// take returns up to max (all if max <= 0) pushed deliveries, waiting up
// to timeout for one.
func (k *consumer) take(ctx context.Context, max int, timeout time.Duration) ([]Delivery, error) {
	var timer *time.Timer
	for {
		if n := len(k.backlog); n > 0 {
			if max > 0 && n > max {
				n = max
			}
			out := k.backlog[:n:n]
			k.backlog = k.backlog[n:]
			return out, nil
		}
		if k.err != nil {
			return nil, k.err
		}
		if a, ok := k.pushes.pop(); ok {
			if a.status != http.StatusOK {
				k.err = answerError(a)
				continue
			}
			if err := k.decode(a.body); err != nil {
				k.err = err
			}
			continue
		}
		if !k.sc.alive() {
			k.err = k.sc.err
			continue
		}
		if timeout <= 0 {
			return nil, nil
		}
		if timer == nil {
			timer = time.NewTimer(timeout)
			defer timer.Stop()
		}
		select {
		case <-k.pushes.notify:
		case <-k.sc.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return nil, nil
		}
	}
}

func (k *consumer) decode(body []byte) error {
	var err error
	if k.backlog, err = parseDeliveries(k.backlog, body); err != nil {
		return fmt.Errorf("pushed deliveries: %w", err)
	}
	return nil
}

// deliverEach hands each delivery of a pushed batch to deliver. The
// deliveries alias body, a buffer of their own. It reports false, having
// handed none, if the batch is malformed.
func deliverEach(body []byte, deliver func(*Delivery, uint64), epoch uint64) bool {
	for rest := body; len(rest) > 0; {
		var d wire.Delivery
		var err error
		if rest, err = wire.ParseFrame(rest, math.MaxInt, &d); err != nil {
			return false
		}
	}
	for len(body) > 0 {
		d := new(Delivery) // deliver keeps it
		body, _ = wire.ParseFrame(body, math.MaxInt, asWire(d))
		deliver(d, epoch)
	}
	return true
}

// cancel stops the switch pushing.
func (k *consumer) cancel() {
	k.sc.write(&wire.StreamRequest{Op: wire.StreamCancel, Arg: k.id}, nil, nil)
}

// stopConsuming ends the client's consume and returns what was pushed
// and not taken, with the epoch it was pushed in.
func (c *Client) stopConsuming() ([]Delivery, uint64) {
	c.consMu.Lock()
	k := c.cons
	c.cons = nil
	c.consMu.Unlock()
	if k == nil {
		return nil, 0
	}
	k.cancel()
	for {
		a, ok := k.pushes.pop()
		if !ok {
			break
		}
		if a.status == http.StatusOK {
			k.decode(a.body)
		}
	}
	return k.backlog, k.epoch
}

// transferPushed is transferIn on a consumer: acks (of the session of
// ackEpoch) go on their own, then pushed deliveries are taken.
func (c *Client) transferPushed(ctx context.Context, o TransferOptions, ackEpoch uint64) ([]Delivery, uint64, error) {
	if len(o.Acks) > 0 && ackEpoch != 0 && !c.push.autoAck {
		if err := c.acksIn(ctx, wire.OpAck, o.Acks, ackEpoch, false); err != nil && err != errStaleSession {
			return nil, 0, err
		}
	}
	k, err := c.consumer(ctx)
	if err != nil {
		return nil, 0, c.consumeError(ctx, err)
	}
	ds, err := k.take(ctx, o.Max, o.Timeout)
	if IsCode(err, CodeUnknownSession) {
		c.dropSession(k.epoch)
	}
	return ds, k.epoch, c.consumeError(ctx, err)
}

// consumeError is err as transferIn reports it: the context's error if
// that ended, the switch's own answer, or else the switch unreachable
// (errors.Is still finds errNoStream inside).
func (c *Client) consumeError(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, ErrClosed):
		return err
	}
	if _, ok := err.(*Error); ok {
		return err
	}
	return &unreachableError{addr: c.ep.display, err: err}
}

// opReply is the stream's reply-and-ack, which only the stream carries.
var opReply = wire.Op{Name: "reply", Stream: wire.StreamReply}

// replyAck sends m to replyTo and acks request id of queue reqQueue in
// one step, in the session of epoch (errStaleSession if it is gone).
func (c *Client) replyAck(ctx context.Context, replyTo string, m *Message, reqQueue string, id, epoch uint64) error {
	if c.noStream.Load() {
		return errNoStream
	}
	r := replyRequest(replyTo, m, reqQueue, id, epoch)
	r.path = queuePath(replyTo) // checked as a queue name; never sent over HTTP
	_, _, err := c.do(ctx, &r)
	return err
}

// replyRequest is the reply-and-ack request of replyAck and of a
// server's quiet reply (serveLoop.replyQuiet), made on the caller's
// stack.
func replyRequest(replyTo string, m *Message, reqQueue string, id, epoch uint64) request {
	// The body: the request's queue, then the reply.
	body := wire.AppendString(make([]byte, 0, len(reqQueue)+len(m.Payload)+len(m.CorrelationID)+32), reqQueue)
	r := streamRequest(opReply, replyTo, id, wire.AppendSendFrame(body, m.wireMessage()))
	r.bound = epoch
	return r
}
