package broker

import (
	"time"

	"msw/internal/wire"
)

// A send in two steps. Send enqueues the messages and records them under
// the queue's lock, then waits, outside every lock, for the record to be
// durable before it answers. SendPending stops before the wait and
// returns it as a PendingSend, so that a caller with more requests behind
// this one (a stream's reader) can go on to the next while the store
// syncs: the records of the requests read meanwhile join the same group
// commit, and each sender is still answered only once its record is
// durable (PendingSend.Wait).

// PendingSend is a send whose messages are queued and whose record is
// buffered in the store: Wait finishes it. A PendingSend is used by one
// goroutine; Wait is called once.
type PendingSend struct {
	b      *Broker
	s      *Session
	q      *Queue // nil when the send is finished already (first is its result)
	c      Commit
	first  uint64
	stored []message
	now    int64
	traced bool        // put traced the send already
	r      *remoteSend // an engine send under way (remotesend.go): the rest is unset
	woken  [2]*waiter  // TakeOrNotify registrations the send woke (Notify)
}

// Notify calls, on the caller's goroutine, the functions of the
// TakeOrNotify registrations the send woke, with by (not nil): a
// consumer's pushes then need no goroutine of their own. Call it before
// anything that may wait. If the caller has not, Wait calls them, with
// nil, each on a goroutine of its own.
func (p *PendingSend) Notify(by any) {
	for i, w := range p.woken {
		if w == nil {
			break
		}
		p.woken[i] = nil
		if by == nil {
			go w.notify(nil)
		} else {
			w.notify(by)
		}
	}
}

// SendPending is Send up to its wait for the store: the messages are
// queued, in order, and their record buffered; the send is acknowledged
// only once Wait returns without error. A caller that sends again before
// waiting keeps its sends in order in the queue and in the log.
func (b *Broker) SendPending(s *Session, queue string, ms []wire.Message) (PendingSend, error) {
	return b.sendPending(s, queue, ms, nil)
}

// Waits reports whether Wait has to wait: for the store (the send was
// recorded in a durable one), or for the engine's answer (Remote).
func (p *PendingSend) Waits() bool { return p.c != 0 || p.r != nil }

// Remote reports whether Wait waits for an engine's answer: the send went
// to a cluster queue or another gateway's transient queue, and its
// messages are on their way (remotesend.go). The caller's buffers may be
// reused at once; its next sends need not wait for this one's answer
// (the session's line keeps their order).
func (p *PendingSend) Remote() bool { return p.r != nil }

// Wait waits until the send is durable (at once without a durable store)
// and returns the first message's id. If it cannot be made durable, the
// messages nobody has taken yet are removed again and the send fails.
func (p *PendingSend) Wait() (uint64, error) {
	if p.r != nil {
		return p.r.first()
	}
	p.Notify(nil)
	if p.q == nil {
		return p.first, nil
	}
	b, s, q, stored, now := p.b, p.s, p.q, p.stored, p.now
	if p.c != 0 {
		if err := b.waitSent(q, p.c, p.first, stored); err != nil {
			return 0, err
		}
	}
	b.Counters.Sent.Add(uint64(len(stored)))
	if p.traced {
		return p.first, nil
	}
	if s != nil {
		for i := range stored {
			t, ok := s.takeRequest(q.name, stored[i].corr())
			if !ok {
				if b.trace != nil {
					b.traceMessageAt(now, wire.EventSend, q.name, &stored[i], s.clientID, "")
				}
				continue
			}
			d := time.Duration(now - t)
			if b.opts.OnReply != nil {
				b.opts.OnReply(d)
			}
			if b.trace != nil {
				r := messageRecord(wire.EventSend, q.name, &stored[i], s.clientID, "")
				r.reply, r.processing, r.time = true, d, now
				b.traceEvent(r)
			}
		}
	} else if b.trace != nil {
		b.trace.addMessages(now, wire.EventSend, q.name, stored, "", "", false)
	}
	return p.first, nil
}

// Withdraw takes the messages of a send whose Wait succeeded out of their
// queue again, as far as nobody has taken them, recording their deletion:
// for a sender that must not have this send carried out after all (a
// stream's send made after one it depends on failed). It reports how
// many it removed.
func (p *PendingSend) Withdraw() int {
	if p.r != nil {
		return p.r.withdraw(p.b)
	}
	q := p.q
	if q == nil || len(p.stored) == 0 {
		return 0
	}
	b := p.b
	var gone []message
	q.mu.Lock()
	for id := p.first; id < p.first+uint64(len(p.stored)); id++ {
		if m, ok := q.removeReadyLocked(id); ok {
			q.droppedLocked(&m)
			gone = append(gone, m)
		}
	}
	var c Commit
	if !q.destroyed {
		c = b.recordGoneLocked(q, gone)
	}
	q.mu.Unlock()
	b.flush(c)
	if len(gone) > 0 && b.trace != nil {
		b.traceMessages(wire.EventWithdraw, q.name, gone, "", "", false)
	}
	return len(gone)
}
