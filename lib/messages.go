package lib

// Messages: the hot-path operations (internal/wire/ops.go), which go on
// the session's stream when the switch has one.

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
	"unsafe"

	"msw/internal/wire"
)

// Send enqueues one message and returns its id.
//
// Sends to the same queue made at once from many goroutines share
// requests: while one is on the wire, the others wait for it and then go
// together in the next (each still gets its own id). A send whose
// connection broke before its answer came is sent again: see "Delivery"
// in the package documentation.
func (c *Client) Send(ctx context.Context, queue string, m Message) (uint64, error) {
	id, _, err := c.sendCoalesced(ctx, queue, &m)
	return id, err
}

// maxBatchBytes bounds one batch request's body; wire.MaxSendMessages
// its count of messages.
const maxBatchBytes = 4 << 20

// SendBatch enqueues messages in order and returns the id of the first.
// Ids are consecutive within each request; a large batch is split into
// requests of at most a few MiB, each enqueued whole or not at all. One
// request is in flight at a time: BatchSender keeps several.
func (c *Client) SendBatch(ctx context.Context, queue string, ms []Message) (uint64, error) {
	var first uint64
	var buf []byte
	err := eachRequest(ms, func(need int) []byte {
		if buf == nil {
			buf = make([]byte, 0, need)
		}
		return buf[:0]
	}, func(body []byte, n int) error {
		buf = body // grown, perhaps: the next request reuses it
		id, _, err := c.sendFrames(ctx, queue, body, n)
		if err == nil && first == 0 {
			first = id
		}
		return err
	})
	return first, err
}

// eachRequest cuts ms into send requests of at most maxBatchBytes (or
// one message) and wire.MaxSendMessages, in order, and hands each to send
// framed in a buffer from buf, which is asked for with the bytes the
// request will need (about).
func eachRequest(ms []Message, buf func(need int) []byte, send func(body []byte, n int) error) error {
	if len(ms) == 0 {
		return nil
	}
	// Size each buffer up front: growing it from a small start copied
	// each batch about twice over (a quarter of msw-send's CPU in its
	// profile).
	need := func(from int) int {
		n := 0
		for i := from; i < len(ms); i++ {
			n += len(ms[i].Payload) + len(ms[i].CorrelationID) + len(ms[i].ReplyTo) + 48
			if n >= maxBatchBytes {
				return maxBatchBytes + 64
			}
		}
		return n
	}
	b, n := buf(need(0)), 0
	for i := range ms {
		if len(b) > 0 && (len(b)+len(ms[i].Payload)+64 > maxBatchBytes || n == wire.MaxSendMessages) {
			if err := send(b, n); err != nil {
				return err
			}
			b, n = buf(need(i)), 0
		}
		b = wire.AppendSendFrame(b, ms[i].wireMessage())
		n++
	}
	return send(b, n)
}

// sendFrames sends n messages framed in body as one request and returns
// the id of the first and the epoch of the session that carried them.
// Every send goes this way: Send's coalesced batches, SendBatch's, a
// server's replies without the stream.
func (c *Client) sendFrames(ctx context.Context, queue string, body []byte, n int) (uint64, uint64, error) {
	r := opRequest(wire.OpSend, queue, 0, body)
	a, epoch, err := c.do(ctx, r)
	if err != nil {
		return 0, epoch, err
	}
	id, err := c.sentAnswer(r, a, n)
	return id, epoch, err
}

// sentAnswer reads the answer to a send request of n messages: the id of
// the first.
func (c *Client) sentAnswer(r *request, a answer, n int) (uint64, error) {
	var sr wire.SendResponse
	if err := json.Unmarshal(a.body, &sr); err != nil {
		return 0, c.badAnswer(r, err)
	}
	if sr.Count != n {
		return 0, c.badAnswer(r, fmt.Errorf("enqueued %d of %d messages", sr.Count, n))
	}
	return sr.ID, nil
}

// TransferOptions shape one Transfer.
type TransferOptions struct {
	// Max is the most messages to take; 0 means the switch's default.
	Max int
	// Timeout is how long to wait for a first message; the switch clamps
	// it to its maximum (60s by default).
	Timeout time.Duration
	// Acks are acknowledged before taking messages.
	Acks Acks
	// Into, if not nil, is a slice of deliveries the caller is done
	// with, typically what its last Transfer returned: Transfer writes
	// its deliveries over them, from the first, when they fit in Into's
	// capacity, instead of allocating a new slice per batch (most of
	// what a reader allocates per message). Only the slice is reused:
	// payloads and strings never alias it, so a Delivery copied out of
	// it stays valid.
	Into []Delivery
}

// transferRequest is the request of a transfer with o's acks, or without
// any.
func transferRequest(o TransferOptions, withAcks bool) *request {
	tr := wire.TransferRequest{Max: o.Max, TimeoutMillis: o.Timeout.Milliseconds()}
	if withAcks {
		tr.Acks = wire.Acks(o.Acks)
	}
	return opRequest(wire.OpTransfer, "", 0, jsonBody(tr))
}

// Transfer waits for messages on the subscribed queues and takes them:
// each stays in flight, held by this client, until acked (Ack, or the
// Acks of a later Transfer) or released. An empty result means the
// timeout passed. If the switch restarted since the messages in Acks were
// taken, those acks are dropped (the messages were lost with it). A
// reader in a loop passes the batch it is done with as o.Into, and the
// next batch is parsed into its slice.
//
// If ctx ends first, the transfer is called off at the switch, and
// messages it took anyway go back to their queues. (Against a switch
// without the stream, they stay held by this client until released, or
// until Close gives them back.)
func (c *Client) Transfer(ctx context.Context, o TransferOptions) ([]Delivery, error) {
	r := transferRequest(o, true)
	if len(o.Acks) > 0 {
		r.namesMessages, r.withoutMessages = true, transferRequest(o, false).body
		r.life = c.lifeOf(o.Acks)
	}
	a, epoch, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	ds, err := c.deliveriesInto(r, a.body, o.Into)
	c.tookIn(epoch, ds)
	return ds, err
}

// deliveries parses an answer of delivery frames.
func (c *Client) deliveries(r *request, body []byte) ([]Delivery, error) {
	return c.deliveriesInto(r, body, nil)
}

// deliveriesInto parses an answer of delivery frames into into's array
// if they fit, else into a new one.
func (c *Client) deliveriesInto(r *request, body []byte, into []Delivery) ([]Delivery, error) {
	out, err := parseDeliveries(into[:0], body)
	if len(out) < len(into) && unsafe.SliceData(out) == unsafe.SliceData(into) {
		clear(into[len(out):]) // what was not written over keeps nothing alive
	}
	if err != nil {
		return out, c.badAnswer(r, err)
	}
	return out, nil
}

// acksRequest is an ack or a release (op) of acks, bound to the switch
// life their messages were taken in (lives.go).
func (c *Client) acksRequest(op wire.Op, acks Acks) *request {
	r := opRequest(op, "", 0, jsonBody(wire.AckRequest{Acks: wire.Acks(acks)}))
	r.namesMessages, r.life = true, c.lifeOf(acks)
	return r
}

// Ack deletes messages; it fails with CodeNoSuchMessage if one of them is
// already gone (all others are still acked), and with ErrSwitchRestarted
// if the switch restarted since they were taken.
func (c *Client) Ack(ctx context.Context, acks Acks) error {
	return c.call(ctx, c.acksRequest(wire.OpAck, acks), nil)
}

// Release gives messages the client holds back to their queues, to be
// delivered again (to this client or another) ahead of new ones.
func (c *Client) Release(ctx context.Context, acks Acks) error {
	return c.call(ctx, c.acksRequest(wire.OpRelease, acks), nil)
}

// Withdraw deletes a message no receiver has taken yet; it fails with
// CodeInFlight if one has, and with ErrSwitchRestarted if the switch
// restarted since it was sent.
func (c *Client) Withdraw(ctx context.Context, queue string, id uint64) error {
	r := opRequest(wire.OpWithdraw, queue, id, nil)
	r.namesMessages = true
	return c.call(ctx, r, nil)
}
