package natsbackend

import (
	"errors"

	"github.com/nats-io/nats.go/jetstream"

	"msw/internal/wire"
)

// Peek and purge work on the messages no gateway has taken yet: those
// past the consumer's delivered floor, every one of them stored after the
// last message handed out. A message given back (nak) and waiting to be
// delivered again sits below the floor, with those in flight: peek does
// not show it and purge keeps it (docs/scale-out.md).

// untaken returns the queue's stream (its state as of now), the first
// sequence no gateway has taken, and the count of messages in flight or
// given back. The consumer may not have counted the latest sends as
// pending yet: the stream's state is what says which messages exist.
func (e *Engine) untaken(queue string) (jetstream.Stream, uint64, int, error) {
	c, err := e.consumer(queue)
	if err != nil {
		return nil, 0, 0, err
	}
	e.acks.await(queue, e.o.Timeout) // what this gateway acked is not held
	ctx, cancel := e.ctx()
	defer cancel()
	ci, err := c.Info(ctx)
	if err == nil {
		var s jetstream.Stream
		if s, err = e.js.Stream(ctx, ci.Stream); err == nil {
			return s, ci.Delivered.Stream + 1, ci.NumAckPending, nil
		}
	}
	if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		e.forget(queue)
		return nil, 0, 0, noQueue(queue)
	}
	return nil, 0, 0, failed("look at", queue, err)
}

// Peek returns up to max of the queue's messages no gateway has taken
// yet, in order, leaving them; their delivery counts are 0.
func (e *Engine) Peek(queue string, max int) ([]wire.Delivery, error) {
	s, seq, _, err := e.untaken(queue)
	if err != nil {
		return nil, err
	}
	// Every subject of the stream (subjects.go) is under this one.
	subject := queueSubject + ">"
	var out []wire.Delivery
	for len(out) < max && seq <= s.CachedInfo().State.LastSeq {
		ctx, cancel := e.ctx()
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		cancel()
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break // taken or deleted meanwhile: the end
		}
		if err != nil {
			return nil, failed("peek at", queue, err)
		}
		d, err := delivery(queue, m.Sequence, 0, m.Time, m.Subject, m.Header, m.Data)
		if err != nil {
			return nil, failed("peek at", queue, err)
		}
		out = append(out, d)
		seq = m.Sequence + 1
	}
	return out, nil
}

// Purge removes the queue's messages no gateway has taken yet and returns
// how many it removed. With nothing in flight or given back that is the
// whole stream, purged at once; else each untaken message is deleted by
// itself, and a message another gateway takes meanwhile may be deleted
// with them (its ack then finds nothing to do).
func (e *Engine) Purge(queue string) (int, error) {
	s, seq, held, err := e.untaken(queue)
	if err != nil {
		return 0, err
	}
	ctx, cancel := e.ctx()
	defer cancel()
	st := s.CachedInfo().State
	if st.Msgs == 0 {
		return 0, nil
	}
	if held == 0 {
		if err := s.Purge(ctx, jetstream.WithPurgeSequence(st.LastSeq+1)); err != nil {
			return 0, failed("purge", queue, err)
		}
		return int(st.Msgs), nil
	}
	n := 0
	for ; seq <= st.LastSeq; seq++ {
		err := s.DeleteMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) || errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) {
			continue // withdrawn before: a gap
		}
		if err != nil {
			return n, failed("purge", queue, err)
		}
		n++
	}
	return n, nil
}
