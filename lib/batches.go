package lib

// Batches in flight. A switch with a log answers a send only once its
// record is on stable storage; one batch at a time leaves the connection
// idle for each fsync. A BatchSender keeps a few send requests in flight
// on the session's stream, so that the switch reads the next while the
// last is synced and one fsync covers several (docs/protocol.md, the
// stream's send).
//
// Order is kept by the stream: requests are written, and handled by the
// switch, in the order they were made, and each send names the one
// before it (its argument), so that the switch refuses it (409 aborted)
// if that one failed: a refused batch is never followed by a later one
// in the queue. The answers are read in order too; the first failure
// stops the sender, and Sent says how many messages were accepted before
// it. A request whose answer is lost with its connection, or that the
// switch refused for its session or because it was stopping, is sent
// again through the one request path (do), in order, with those after
// it, one at a time: at least once, as SendBatch.

import (
	"context"
	"net/http"

	"msw/internal/wire"
)

// DefaultBatchWindow is how many send requests a BatchSender keeps in
// flight unless told otherwise: two already let a batch's fsync overlap
// the next batch's arrival; a third covers the answer's way back.
const DefaultBatchWindow = 3

// BatchOptions shape a BatchSender.
type BatchOptions struct {
	// Window is how many send requests may be in flight at once;
	// 0 means DefaultBatchWindow, 1 one at a time as SendBatch.
	Window int
	// OnSent, if set, is called for each request the switch accepted,
	// in order, with the id of its first message and its number of
	// messages (ids are consecutive within a request).
	OnSent func(first uint64, n int)
}

// BatchSender sends batches of messages to one queue, in order, keeping
// several requests in flight. It is used from one goroutine.
type BatchSender struct {
	c     *Client
	queue string
	o     BatchOptions

	flight []*batchRequest // oldest first
	free   [][]byte        // bodies of answered requests, for the next
	sc     *streamConn     // stream of the last request started
	prev   uint64          // its request id, which the next one follows
	redo   bool            // a request in flight is being sent again: so are those after it
	sent   int
	err    error
}

// batchRequest is one send request in flight.
type batchRequest struct {
	body []byte
	n    int
	sc   *streamConn
	call *streamCall
}

// NewBatchSender returns a sender of batches to queue.
func (c *Client) NewBatchSender(queue string, o BatchOptions) *BatchSender {
	if o.Window <= 0 {
		o.Window = DefaultBatchWindow
	}
	return &BatchSender{c: c, queue: queue, o: o}
}

// Send hands ms on to be enqueued after every batch sent before, split
// into requests of a few MiB as SendBatch does, each enqueued whole or
// not at all. It returns once they are on their way, waiting while the
// window is full; its error is the first failure of any batch sent so
// far (after which nothing more is sent), or ctx's. ms's payloads may be
// reused once Send returns.
func (b *BatchSender) Send(ctx context.Context, ms []Message) error {
	if b.err != nil {
		return b.err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return eachRequest(ms, b.buffer, func(body []byte, n int) error {
		return b.send(ctx, &batchRequest{body: body, n: n})
	})
}

// Wait waits for the answers of every request in flight and returns the
// first failure, if any, or ctx's error.
func (b *BatchSender) Wait(ctx context.Context) error {
	for len(b.flight) > 0 && ctx.Err() == nil {
		b.settle(ctx)
	}
	if b.err == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return b.err
}

// Sent returns how many messages the switch has accepted so far: those
// of every batch before the first failure (once Wait returned, all that
// were).
func (b *BatchSender) Sent() int { return b.sent }

// buffer returns a body buffer for a request of about need bytes.
func (b *BatchSender) buffer(need int) []byte {
	if k := len(b.free); k > 0 {
		buf := b.free[k-1]
		b.free = b.free[:k-1]
		if cap(buf) >= need {
			return buf[:0]
		}
	}
	return make([]byte, 0, need)
}

// send puts r in flight, once the window has room, or, when the stream
// cannot carry it, sends it on its own after those in flight.
func (b *BatchSender) send(ctx context.Context, r *batchRequest) error {
	for len(b.flight) >= b.o.Window || (b.redo && len(b.flight) > 0) {
		b.settle(ctx)
	}
	if b.err != nil {
		return b.err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !b.start(ctx, r) {
		for len(b.flight) > 0 {
			b.settle(ctx)
		}
		if b.err == nil {
			b.again(ctx, r)
		}
		return b.err
	}
	b.flight = append(b.flight, r)
	return nil
}

// start writes r on the session's stream, following the request before
// it if that went on the same stream; it reports false if r cannot go
// so (no stream, no usable session, a stream broken already).
func (b *BatchSender) start(ctx context.Context, r *batchRequest) bool {
	c := b.c
	req := opRequest(wire.OpSend, b.queue, 0, r.body)
	if c.noStream.Load() || checkQueuePath(req.path) != nil {
		return false
	}
	ref, err := c.sessionFor(ctx, req)
	if err != nil || ref.id == "" {
		return false
	}
	sc, _, err := c.streamFor(ctx, ref.id)
	if sc == nil || err != nil {
		return false
	}
	var after uint64
	if sc == b.sc {
		after = b.prev
	}
	call, err := sc.start(&wire.StreamRequest{Op: wire.OpSend.Stream, Queue: b.queue, Arg: after}, r.body)
	if err != nil {
		return false
	}
	r.sc, r.call = sc, call
	b.sc, b.prev = sc, call.id
	return true
}

// settle waits for the answer of the oldest request in flight and takes
// it in: counted if accepted, sent again if its fate is unknown or the
// switch refused it for a reason a new attempt cures, else the failure
// that stops the sender.
func (b *BatchSender) settle(ctx context.Context) {
	r := b.flight[0]
	b.flight = b.flight[1:]
	defer func() {
		if len(b.flight) == 0 {
			b.redo = false
		}
	}()
	a, err := r.sc.await(ctx, r.call, &wire.StreamRequest{Op: wire.OpSend.Stream})
	switch {
	case err == nil && a.status/100 == 2:
		if b.err == nil {
			id, err := b.c.sentAnswer(opRequest(wire.OpSend, b.queue, 0, nil), a, r.n)
			b.done(r, id, err)
		}
	case b.err != nil:
		// Stopped already: this one was refused after the failure.
	case ctx.Err() != nil:
		b.err = ctx.Err()
	case err == nil && !b.redo && !resendAsync(answerError(a)):
		b.err = answerError(a)
	case err == nil && a.status != http.StatusConflict && !resendAsync(answerError(a)):
		b.err = answerError(a) // refused for itself, not aborted behind one sent again
	default:
		// Lost with its connection, refused for its session or because
		// the switch was stopping, or aborted behind such a one: send it
		// again, and those after it, in order.
		b.redo = true
		b.again(ctx, r)
	}
}

// again sends r through the one request path, on its own.
func (b *BatchSender) again(ctx context.Context, r *batchRequest) {
	b.sc = nil // the next request follows none: r's id is do's
	id, _, err := b.c.sendFrames(ctx, b.queue, r.body, r.n)
	b.done(r, id, err)
}

// done takes in the outcome of r.
func (b *BatchSender) done(r *batchRequest, id uint64, err error) {
	if err != nil {
		if b.err == nil {
			b.err = err
		}
		return
	}
	b.sent += r.n
	if b.o.OnSent != nil {
		b.o.OnSent(id, r.n)
	}
	if len(b.free) < b.o.Window+1 {
		b.free = append(b.free, r.body)
	}
}
