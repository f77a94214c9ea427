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
// their stream sequences once every one is stored (replicated, with
// Replicas above 1). On an error some of them may have been stored: the
// sender, answered with the error, sends again (at least once).
func (e *Engine) Publish(queue string, ms []wire.Message, origin string) ([]uint64, error) {
	if _, err := streamOf(queue); err != nil {
		return nil, err
	}
	subject := queueSubject + escape(queue)
	ids := make([]uint64, len(ms))
	if len(ms) == 1 {
		ctx, cancel := e.ctx()
		defer cancel()
		ack, err := e.js.PublishMsg(ctx, toMsg(subject, &ms[0], origin))
		if err != nil {
			return nil, e.publishError(queue, err)
		}
		ids[0] = ack.Sequence
		return ids, nil
	}
	for from := 0; from < len(ms); from += publishWindow {
		if err := e.publishAsync(queue, subject, ms[from:min(from+publishWindow, len(ms))], origin, ids[from:]); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// publishWindow is how many messages of a batch are published before
// their acks are waited for.
const publishWindow = 1000

// publishAsync publishes ms without waiting between them, then waits for
// every ack, writing the sequences to ids.
func (e *Engine) publishAsync(queue, subject string, ms []wire.Message, origin string, ids []uint64) error {
	futs := make([]jetstream.PubAckFuture, len(ms))
	for i := range ms {
		f, err := e.js.PublishMsgAsync(toMsg(subject, &ms[i], origin))
		if err != nil {
			return e.publishError(queue, err)
		}
		futs[i] = f
	}
	timeout := time.NewTimer(e.o.Timeout)
	defer timeout.Stop()
	for i, f := range futs {
		select {
		case ack := <-f.Ok():
			ids[i] = ack.Sequence
		case err := <-f.Err():
			return e.publishError(queue, err)
		case <-timeout.C:
			return failed("send to", queue, context.DeadlineExceeded)
		}
	}
	return nil
}

// publishError tells a queue that is gone from a cluster that failed.
func (e *Engine) publishError(queue string, err error) error {
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		if ok, xerr := e.QueueExists(queue); xerr == nil && !ok {
			return noQueue(queue)
		}
	}
	return failed("send to", queue, err)
}

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
// now, or else the first to arrive within wait. A pull that ctx cancels
// hands back (naks) anything delivered to it afterwards.
func (e *Engine) Fetch(ctx context.Context, queue string, max int, wait time.Duration) ([]broker.Fetched, error) {
	c, err := e.consumer(queue)
	if err != nil {
		return nil, err
	}
	b, err := c.FetchNoWait(max)
	out, err := e.collect(ctx, queue, b, err, nil)
	if len(out) > 0 || err != nil || wait <= 0 {
		return out, err
	}
	b, err = c.Fetch(1, jetstream.FetchMaxWait(wait))
	if out, err = e.collect(ctx, queue, b, err, nil); len(out) == 0 || max == 1 {
		return out, err
	}
	b, err = c.FetchNoWait(max - 1)
	return e.collect(ctx, queue, b, err, out)
}

// collect appends a pull's messages to out as the broker's.
func (e *Engine) collect(ctx context.Context, queue string, b jetstream.MessageBatch, err error, out []broker.Fetched) ([]broker.Fetched, error) {
	if err != nil {
		return out, e.fetchError(queue, err)
	}
	msgs := b.Messages()
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				if err := b.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && len(out) == 0 {
					return out, e.fetchError(queue, err)
				}
				return out, nil
			}
			f, err := fetched(queue, m)
			if err != nil {
				m.Nak()
				continue
			}
			out = append(out, f)
		case <-ctx.Done():
			go func() {
				for m := range msgs {
					m.Nak()
				}
			}()
			for _, f := range out {
				f.Handle.Nak()
			}
			return nil, ctx.Err()
		}
	}
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
func fetched(queue string, m jetstream.Msg) (broker.Fetched, error) {
	meta, err := m.Metadata()
	if err != nil {
		return broker.Fetched{}, err
	}
	h := m.Headers()
	d := wire.Delivery{
		Queue:         queue,
		ID:            meta.Sequence.Stream,
		DeliveryCount: uint32(meta.NumDelivered),
		Origin:        h.Get(hdrOrigin),
		EnqueuedAt:    meta.Timestamp,
		Message: wire.Message{
			Payload:       m.Data(),
			CorrelationID: h.Get(hdrCorr),
			ReplyTo:       h.Get(hdrReply),
		},
	}
	if s := h.Get(hdrStatus); s != "" {
		n, err := strconv.ParseUint(s, 10, 8)
		if err != nil {
			return broker.Fetched{}, fmt.Errorf("status header %q: %w", s, err)
		}
		d.Status = uint8(n)
	}
	return broker.Fetched{Delivery: d, Handle: m}, nil
}

// Delete removes one message from a queue's stream, whoever holds it.
func (e *Engine) Delete(queue string, id uint64) error {
	stream, err := streamOf(queue)
	if err != nil {
		return err
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
