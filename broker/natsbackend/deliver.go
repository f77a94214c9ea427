package natsbackend

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"msw/broker"
	"msw/internal/wire"
)

// Headers that carry a message's fields beside its payload.
const (
	hdrCorr   = "Msw-Correlation-Id"
	hdrReply  = "Msw-Reply-To"
	hdrStatus = "Msw-Status"
	hdrOrigin = "Msw-Origin"
)

// Publish appends messages to a queue's stream, in order, and returns
// what waits for their stream sequences, which it reports once every one
// is stored (replicated, with Replicas above 1). A send of a few small
// messages is first offered to the gateways with a transfer of the queue
// waiting (direct.go): those taken (the first ones) have the ids the
// receiving gateway gave them and are not stored, the rest are, by the
// wait, once prior has returned. The offer is on its way when Publish
// returns, and the messages are copied: ms may be reused. A larger send
// is stored before Publish returns, after prior. On an error some of them may have been stored: the sender,
// answered with the error, sends again (at least once).
func (e *Engine) Publish(queue string, ms []wire.Message, origin string, prior func()) func() ([]uint64, error) {
	if _, err := streamOf(queue); err != nil {
		return func() ([]uint64, error) { return nil, err }
	}
	if prior == nil {
		prior = func() {}
	}
	if !offerable(ms) {
		prior()
		ids, err := e.store(queue, ms, origin)
		return func() ([]uint64, error) { return ids, err }
	}
	ms = wire.CloneMessages(ms) // what no transfer takes is stored by the wait; offer keeps them as they are
	offered := e.offer(queue, ms, origin)
	return func() ([]uint64, error) {
		direct := offered()
		if len(direct) == len(ms) {
			return direct, nil
		}
		prior()
		ids, err := e.store(queue, ms[len(direct):], origin)
		if err != nil {
			return nil, err
		}
		return append(direct, ids...), nil
	}
}

// store publishes ms to the queue's stream: Publish without the offer.
// A send of fastBatchMin messages or more goes as a fast batch
// (fastbatch.go), fewer one by one. The origin goes in the subject if
// the stream is known to take it there (subjects.go): a batch looks the
// stream's form up if this gateway does not know it yet, a smaller send
// does not wait for that and uses the header. A stream that no longer
// takes the origin's subject (its config changed by hand) is found by
// no stream answering there, which stored nothing: if its config says
// so, the send is made once more, on the subject it takes.
func (e *Engine) store(queue string, ms []wire.Message, origin string) ([]uint64, error) {
	form, _ := e.forms.known(queue)
	if len(ms) >= fastBatchMin {
		form = e.form(queue)
	}
	ids, err := e.storeAs(queue, form, ms, origin)
	if errors.As(err, new(noStreamError)) && form.origins {
		if now := e.form(queue); !now.origins {
			ids, err = e.storeAs(queue, now, ms, origin)
		}
	}
	if err != nil {
		return nil, err
	}
	e.own.record(e.own.sent, queue, ids[len(ids)-1])
	e.direct.dirty(queue)
	return ids, nil
}

// storeAs is store into a stream of the given form.
func (e *Engine) storeAs(queue string, form streamForm, ms []wire.Message, origin string) ([]uint64, error) {
	ids := make([]uint64, len(ms))
	subject, origin := form.address(queue, origin)
	var err error
	switch {
	case len(ms) == 1:
		ids[0], err = e.publishOne(queue, subject, &ms[0], origin)
	case len(ms) >= fastBatchMin:
		err = e.publishBatch(queue, subject, form, ms, origin, ids)
	default:
		err = e.publishAsync(queue, subject, ms, origin, ids)
	}
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// publishOne publishes m and returns its stream sequence once stored.
func (e *Engine) publishOne(queue, subject string, m *wire.Message, origin string) (uint64, error) {
	ctx, cancel := e.ctx()
	defer cancel()
	ack, err := e.js.PublishMsg(ctx, toMsg(subject, m, origin))
	if err != nil {
		return 0, e.publishError(queue, err)
	}
	return ack.Sequence, nil
}

// publishWindow is how many messages of a batch are published and not
// yet acknowledged at most.
const publishWindow = 1000

// publishAsync publishes ms without waiting between them, at most
// publishWindow unacknowledged: before the next it waits for the ack of
// the one a window back, so that the cluster always has a window's worth
// to store (waiting for a whole window's acks before the next left it
// idle between windows). The sequences go to ids.
func (e *Engine) publishAsync(queue, subject string, ms []wire.Message, origin string, ids []uint64) error {
	futs := make([]jetstream.PubAckFuture, len(ms))
	timeout := time.NewTimer(e.o.Timeout)
	defer timeout.Stop()
	wait := func(i int) error {
		// The timeout runs from the last ack: a cluster that stores
		// nothing for that long has failed.
		select {
		case ack := <-futs[i].Ok():
			ids[i] = ack.Sequence
			timeout.Reset(e.o.Timeout)
			return nil
		case err := <-futs[i].Err():
			return e.publishError(queue, err)
		case <-timeout.C:
			return failed("send to", queue, context.DeadlineExceeded)
		}
	}
	for i := range ms {
		if i >= publishWindow {
			if err := wait(i - publishWindow); err != nil {
				return err
			}
		}
		f, err := e.js.PublishMsgAsync(toMsg(subject, &ms[i], origin))
		if err != nil {
			return e.publishError(queue, err)
		}
		futs[i] = f
	}
	for i := max(len(ms)-publishWindow, 0); i < len(ms); i++ {
		if err := wait(i); err != nil {
			return err
		}
	}
	return nil
}

// publishError tells a queue that is gone from a cluster that failed,
// and a publish no stream answered (noStreamError) from others.
func (e *Engine) publishError(queue string, err error) error {
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		e.forms.forget(queue) // no stream on the subject: look again
		if ok, xerr := e.QueueExists(queue); xerr == nil && !ok {
			return noQueue(queue)
		}
		return noStreamError{failed("send to", queue, err)}
	}
	return failed("send to", queue, err)
}

// noStreamError is a publish that no stream answered: nothing of it was
// stored.
type noStreamError struct{ error }

func (e noStreamError) Unwrap() error { return e.error }

func toMsg(subject string, m *wire.Message, origin string) *nats.Msg {
	msg := nats.NewMsg(subject)
	msg.Data = m.Payload
	if m.CorrelationID != "" {
		msg.Header.Set(hdrCorr, m.CorrelationID)
	}
	if m.ReplyTo != "" {
		msg.Header.Set(hdrReply, m.ReplyTo)
	}
	if m.Status != 0 {
		msg.Header.Set(hdrStatus, strconv.Itoa(int(m.Status)))
	}
	if origin != "" {
		msg.Header.Set(hdrOrigin, origin)
	}
	return msg
}

// Fetch takes up to max messages of a queue: those the cluster has ready
// now, or else the first to arrive within wait, or one handed over
// directly by another gateway's send meanwhile (direct.go). A pull that
// ctx cancels is withdrawn, and what it brought given back (pull.go).
func (e *Engine) Fetch(ctx context.Context, queue string, max int, wait time.Duration) ([]broker.Fetched, error) {
	c, err := e.consumer(queue)
	if err != nil {
		return nil, err
	}
	if wait > 0 {
		// The waiting pull brings what is ready at once, too.
		return e.await(ctx, queue, max, wait)
	}
	clean, _, gen, _ := e.direct.look(queue)
	if clean { // nothing ready when last looked, nor stored since
		return nil, nil
	}
	out, err := e.take(ctx, queue, max, 0, nil, nil)
	if len(out) > 0 || err != nil {
		return out, err
	}
	e.direct.found(queue, gen)
	out, err = e.awaitOwnSend(ctx, c, queue)
	if len(out) == 0 || len(out) >= max || err != nil {
		return out, err
	}
	return e.take(ctx, queue, max-len(out), 0, nil, out)
}

// fetchError tells a queue that is gone from a cluster that failed.
func (e *Engine) fetchError(queue string, err error) error {
	if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		e.forget(queue)
		return noQueue(queue)
	}
	if ok, xerr := e.QueueExists(queue); xerr == nil && !ok {
		return noQueue(queue)
	}
	return failed("receive from", queue, err)
}

// fetched renders a pulled message as the broker's delivery.
func (e *Engine) fetched(queue string, m *nats.Msg) (broker.Fetched, error) {
	meta, err := m.Metadata()
	if err != nil {
		return broker.Fetched{}, err
	}
	d, err := delivery(queue, meta.Sequence.Stream, meta.NumDelivered, meta.Timestamp, m.Subject, m.Header, m.Data)
	if err != nil {
		return broker.Fetched{}, err
	}
	return broker.Fetched{Delivery: d, Handle: handle{m, e, queue, d.ID}}, nil
}

// delivery renders a stored message as the broker's delivery: the
// reverse of toMsg. The origin is the header's, or else the subject's
// (subjects.go).
func delivery(queue string, seq, delivered uint64, at time.Time, subject string, h nats.Header, data []byte) (wire.Delivery, error) {
	origin := h.Get(hdrOrigin)
	if origin == "" {
		origin = originOf(subject)
	}
	d := wire.Delivery{
		Queue:         queue,
		ID:            seq,
		DeliveryCount: uint32(delivered),
		Origin:        origin,
		EnqueuedAt:    at,
		Message: wire.Message{
			Payload:       data,
			CorrelationID: h.Get(hdrCorr),
			ReplyTo:       h.Get(hdrReply),
		},
	}
	if n, err := strconv.ParseUint(h.Get(hdrDelivered), 10, 32); err == nil {
		d.DeliveryCount += uint32(n) // handed directly before it was stored
	}
	if s := h.Get(hdrStatus); s != "" {
		n, err := strconv.ParseUint(s, 10, 8)
		if err != nil {
			return wire.Delivery{}, fmt.Errorf("status header %q: %w", s, err)
		}
		d.Status = uint8(n)
	}
	return d, nil
}

// handle settles a message pulled from the cluster. Its Nak waits for
// the cluster's answer, so that a message released is ready again once
// Release returns; Ack and InProgress do not wait (a lost ack means a
// redelivery, never a loss), though this gateway's next look at the queue
// waits for the acks it sent (acks.go).
type handle struct {
	m     *nats.Msg
	e     *Engine
	queue string
	id    uint64
}

// Ack deletes the message.
func (h handle) Ack() error { return h.e.ack(h.queue, h.id, h.m.Reply) }

// InProgress holds the message another ack wait.
func (h handle) InProgress() error { return h.e.nc.Publish(h.m.Reply, []byte("+WPI")) }

// Nak gives the message back and waits until the consumer has it.
func (h handle) Nak() error {
	if _, err := h.e.nc.Request(h.m.Reply, []byte("-NAK"), h.e.o.Timeout); err != nil {
		return fmt.Errorf("nak: %w", err)
	}
	h.e.direct.dirty(h.queue) // ready again: this gateway's transfers look
	return nil
}

// Delete removes one message from a queue's stream, whoever holds it.
func (e *Engine) Delete(queue string, id uint64) error {
	stream, err := streamOf(queue)
	if err != nil {
		return err
	}
	if id&directIDBit != 0 { // handed directly: only its holder settles it
		return fmt.Errorf("%w: %s/%d", broker.ErrNoSuchMessage, queue, id)
	}
	if e.acks.wasAcked(queue, id) { // gone, though the stream may not know yet
		return fmt.Errorf("%w: %s/%d", broker.ErrNoSuchMessage, queue, id)
	}
	ctx, cancel := e.ctx()
	defer cancel()
	s, err := e.js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return noQueue(queue)
	}
	if err == nil {
		err = s.DeleteMsg(ctx, id)
	}
	if errors.Is(err, jetstream.ErrMsgNotFound) || errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) {
		return fmt.Errorf("%w: %s/%d", broker.ErrNoSuchMessage, queue, id)
	}
	if err != nil {
		return failed("delete from", queue, err)
	}
	return nil
}
