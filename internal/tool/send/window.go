package send

import (
	"context"

	"msw/lib"
)

// batchSender is what msw-send hands its batches to: a lib.BatchSender
// (several in flight), or oneAtATime.
type batchSender interface {
	// Send hands a batch on; its error is the first failure so far.
	Send(ctx context.Context, ms []lib.Message) error
	// Wait waits for every batch handed on, and returns the first failure.
	Wait(ctx context.Context) error
	// Sent is how many messages were accepted, in order, before any failure.
	Sent() int
}

// oneAtATime sends each batch with the target's Send and waits for it.
type oneAtATime struct {
	t      Target
	cl     *lib.Client
	arg    string
	onSent func(first uint64, n int)
	sent   int
	err    error
}

func (o *oneAtATime) Send(ctx context.Context, ms []lib.Message) error {
	if o.err != nil {
		return o.err
	}
	id, err := o.t.Send(ctx, o.cl, o.arg, ms)
	if err != nil {
		o.err = err
		return err
	}
	o.sent += len(ms)
	if o.onSent != nil {
		o.onSent(id, len(ms))
	}
	return nil
}

func (o *oneAtATime) Wait(context.Context) error { return o.err }

func (o *oneAtATime) Sent() int { return o.sent }

// window keeps the batches handed to a batchSender until the switch has
// accepted them, so that a failure can be told by the input's line
// numbers.
type window struct {
	snd     batchSender
	batches []sendBatch // handed on, not all accepted yet, in order
	before  int         // messages of the batches before them
}

// send hands b on and forgets the batches accepted meanwhile.
func (w *window) send(ctx context.Context, b sendBatch) error {
	w.batches = append(w.batches, b)
	err := w.snd.Send(ctx, b.msgs)
	for len(w.batches) > 0 && w.before+len(w.batches[0].msgs) <= w.snd.Sent() {
		w.before += len(w.batches[0].msgs)
		w.batches[0] = sendBatch{}
		w.batches = w.batches[1:]
	}
	return err
}

// unsent returns the batch holding the first message not accepted and
// that message's index in it; nil if every batch handed on was.
func (w *window) unsent() (*sendBatch, int) {
	at := w.snd.Sent()
	before := w.before
	for i := range w.batches {
		b := &w.batches[i]
		if at < before+len(b.msgs) {
			return b, at - before
		}
		before += len(b.msgs)
	}
	return nil, 0
}
