package broker

import (
	"errors"
	"fmt"
	"sync"

	"msw/internal/wire"
)

// Sends that go through the engine in two steps, as a durable send does
// (sendpending.go): SendPending puts the messages on their way (an offer
// of a direct hand-off, a forward to another gateway's transient queue)
// and returns; PendingSend.Wait waits for the engine's answer. A stream's
// reader so reads its next request while the cluster answers, and a
// server's replies to a caller on another gateway travel several at once
// instead of one round trip after another (bench/NOTES.md, "Issue 16,
// third pass").
//
// Order. Each session keeps, per queue, a line of its engine sends not
// yet answered. A send of one message starts at once behind them: the
// engine keeps the order of forwards to one queue (they travel on one
// connection, in order, to the one gateway that owns the queue) and of
// one-message offers to one gateway, and stores an offer nobody took only
// once the sends before it are answered (the prior function it is
// given), so that a later one stored is stored after it. A send of
// several messages, which may be split between a hand-off and the
// stream, waits for the line to be answered before it starts. Waiting
// for one send's answer first waits for those before it in its line.

// remoteSend is an engine send under way.
type remoteSend struct {
	s     *Session // whose line it is in; nil for none
	queue string
	q     *Queue      // the engine queue published to; nil for a forward
	prev  *remoteSend // the send of the line before it, if it was under way

	once sync.Once
	wait func() ([]uint64, error) // the engine's answer and the broker's bookkeeping
	ids  []uint64
	err  error
}

// startRemote starts an engine send of s to queue with start, which puts
// the messages on their way and returns the wait for the answer; prior,
// which start calls before it stores anything, waits for the sends of s
// to queue before it. Unless chain is set (a send of one message), it
// first waits for those itself. A nil s has no line.
func (s *Session) startRemote(queue string, chain bool, start func(prior func()) func() ([]uint64, error)) *remoteSend {
	r := &remoteSend{s: s, queue: queue}
	if s == nil {
		r.wait = start(nil)
		return r
	}
	s.linesMu.Lock()
	last := s.lines[queue]
	s.linesMu.Unlock()
	var prior func()
	switch {
	case last == nil:
	case chain:
		r.prev = last
		prior = func() { last.finish() }
	default:
		last.finish()
	}
	r.wait = start(prior)
	s.linesMu.Lock()
	if s.lines == nil {
		s.lines = make(map[string]*remoteSend)
	}
	s.lines[queue] = r
	s.linesMu.Unlock()
	return r
}

// finish waits for the send's answer, after those before it in its line,
// and returns it. Any number of goroutines may call it; one waits.
func (r *remoteSend) finish() ([]uint64, error) {
	r.once.Do(func() {
		if r.prev != nil {
			r.prev.finish()
			r.prev = nil
		}
		r.ids, r.err = r.wait()
		r.wait = nil
		if s := r.s; s != nil {
			s.linesMu.Lock()
			if s.lines[r.queue] == r {
				delete(s.lines, r.queue)
			}
			s.linesMu.Unlock()
		}
	})
	return r.ids, r.err
}

// first is the id of the send's first message.
func (r *remoteSend) first() (uint64, error) {
	ids, err := r.finish()
	if err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, fmt.Errorf("%w: %s: the engine answered no id", ErrStorage, r.queue)
	}
	return ids[0], nil
}

// withdraw deletes from the engine queue the messages of a publish that
// nobody holds here, and reports how many: PendingSend.Withdraw. A
// forward cannot be taken back.
func (r *remoteSend) withdraw(b *Broker) int {
	ids, err := r.finish()
	if err != nil || r.q == nil {
		return 0
	}
	n := 0
	for _, id := range ids {
		if b.withdrawRemote(r.q, id) == nil {
			n++
		}
	}
	return n
}

// sendRemote is send to an engine queue; stored are the messages as the
// broker would queue them, for the trace. Unless lined is false (a send
// already in a line, see forwardFirst) it goes in the line of s.
func (b *Broker) sendRemote(s *Session, q *Queue, ms []wire.Message, stored []message, number numbering, lined bool) (PendingSend, error) {
	if number != nil {
		return PendingSend{}, fmt.Errorf("%s: numbered sends: %w", q.name, ErrNotSupported)
	}
	ls := s
	if !lined {
		ls = nil
	}
	r := ls.startRemote(q.name, len(ms) == 1, func(prior func()) func() ([]uint64, error) {
		wait := b.engine.Publish(q.name, ms, clientOf(s), prior)
		return func() ([]uint64, error) {
			ids, err := wait()
			if errors.Is(err, ErrNoSuchQueue) {
				b.forgetRemote(q)
			}
			if err != nil {
				return nil, err
			}
			b.Counters.Sent.Add(uint64(len(ids)))
			if b.trace != nil {
				for i := range stored {
					stored[i].id = ids[i]
				}
				b.traceMessages(wire.EventSend, q.name, stored, clientOf(s), "", false)
			}
			return ids, nil
		}
	})
	r.q = q
	return PendingSend{b: b, s: s, r: r}, nil
}

// forwardFirst is send to a queue this gateway has not mapped, with an
// engine: most such sends are replies to another gateway's transient
// queue, so it forwards first (one request, answered at once when no
// gateway has the queue), and only if nobody had the queue does the wait
// send it as send would have, looking for the queue in the engine, which
// costs the cluster a look-up (before, every reply forwarded paid one:
// bench scenario 19, two gateways). Sends of more than forwardFirstMax
// bytes (batches, not replies) look in the engine first, as a forward
// must fit in one NATS message. It reports false if it did not forward.
func (b *Broker) forwardFirst(s *Session, queue string, ms []wire.Message) (PendingSend, bool) {
	if b.engine == nil || ValidateName(queue) != nil {
		return PendingSend{}, false
	}
	size := 0
	for i := range ms {
		if size += len(ms[i].Payload); size > forwardFirstMax {
			return PendingSend{}, false
		}
	}
	b.queuesMu.RLock()
	mapped := b.queues[queue] != nil
	b.queuesMu.RUnlock()
	if mapped {
		return PendingSend{}, false
	}
	// The wait may have to send them again, after the caller's buffers
	// are reused.
	kept := wire.CloneMessages(ms)
	r := s.startRemote(queue, true, func(func()) func() ([]uint64, error) {
		wait := b.engine.Forward(queue, ms, clientOf(s))
		return func() ([]uint64, error) {
			id, err := wait()
			if errors.Is(err, ErrNoSuchQueue) {
				// No gateway has it as a transient queue: send it as
				// send does, outside the line (this is its place in it).
				p, err := b.sendPendingLined(s, queue, kept, nil, false)
				if err == nil {
					id, err = p.Wait()
				}
				if err != nil {
					return nil, err
				}
				return []uint64{id}, nil
			}
			if err != nil {
				return nil, err
			}
			return []uint64{id}, nil
		}
	})
	return PendingSend{b: b, s: s, r: r}, true
}
