package natsbackend

import (
	"context"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"msw/broker"
	"msw/internal/wire"
)

// The receiving side of the direct hand-off (direct.go). While a transfer
// of a queue waits here, the gateway subscribes to the queue's offers (in
// the gateways' queue group) and to its subject, on which every message
// stored travels too; it lingers directLinger after the last transfer.
//
// The subject tells the gateway when the stream may hold something
// ready: a queue is "clean" once a pull found nothing ready and no store
// has been seen since (nor within readYourSends before: the consumer
// learns of a stored message a moment after it is stored). A transfer of
// a clean queue does not pull: it waits for an offer, a store, or
// directRecheck, after which it looks again, for what it cannot see
// (a message another gateway gave back, or redelivered after the ack
// wait). So an RPC's request handed directly costs the cluster nothing.

// Receiving side timings.
const (
	// directRecheck is how long a queue stays clean without a look.
	directRecheck = time.Second
	// offerGrace is how long an offer waits here for a transfer when none
	// waits: a server's next transfer follows its last at once.
	offerGrace = 25 * time.Millisecond
)

// directQueue is a queue this gateway is offered sends of.
type directQueue struct {
	offers  *nats.Subscription
	stores  []*nats.Subscription // the queue's subjects (subjects.go)
	waiters []*directWaiter
	pending []*pendingOffer
	held    int // messages taken directly and not yet settled
	idle    *time.Timer

	gen       uint64        // stores seen, and messages given back here
	lastStore time.Time     // when the last was seen
	clean     bool          // a pull found nothing at gen
	cleanAt   time.Time     // when
	stored    chan struct{} // closed at the next store seen
}

// directWaiter is a transfer waiting on a queue: offers taken for it, up
// to room, are put in ch.
type directWaiter struct {
	ch   chan broker.Fetched
	room int
}

// pendingOffer is an offer: its messages and the keys of their copies,
// waiting offerGrace for a transfer if none has room.
type pendingOffer struct {
	answer func(ids []uint64) // told the ids given, none if refused
	f      forwarded
	first  uint64 // the first message's key
	notice string
	timer  *time.Timer
	done   bool
}

// enter registers a transfer of up to max messages waiting on queue, and
// has this gateway offered the queue's sends.
func (d *direct) enter(queue string, max int) *directWaiter {
	w := &directWaiter{ch: make(chan broker.Fetched, max), room: max}
	var answers []func()
	d.mu.Lock()
	dq := d.queueLocked(queue)
	if dq.idle != nil {
		dq.idle.Stop()
		dq.idle = nil
	}
	dq.waiters = append(dq.waiters, w)
	for len(dq.pending) > 0 && w.room > 0 {
		po := dq.pending[0]
		dq.pending = dq.pending[1:]
		po.timer.Stop()
		po.done = true
		ids := d.giveLocked(queue, dq, po)
		answers = append(answers, func() { po.answer(ids) })
	}
	d.mu.Unlock()
	for _, a := range answers {
		a()
	}
	return w
}

// queueLocked returns queue's state, subscribing to its offers and
// stores the first time.
func (d *direct) queueLocked(queue string) *directQueue {
	if dq := d.queues[queue]; dq != nil {
		return dq
	}
	dq := &directQueue{stored: make(chan struct{})}
	d.queues[queue] = dq
	if sub, err := d.e.nc.QueueSubscribe(directSubject+escape(queue), directGroup, func(m *nats.Msg) { d.onOffer(queue, m) }); err == nil {
		dq.offers = sub
	}
	if subs, err := d.e.subscribeStored(queue, func(*nats.Msg) { d.dirty(queue) }); err == nil {
		dq.stores = subs
	} else {
		dq.lastStore = time.Now().Add(24 * time.Hour) // blind: never clean
	}
	return dq
}

// leave unregisters w and returns the offers taken for it that its
// transfer did not receive. The gateway stays offered the queue's sends
// for directLinger after its last waiter left.
func (d *direct) leave(queue string, w *directWaiter) []broker.Fetched {
	d.mu.Lock()
	dq := d.queues[queue]
	for i, x := range dq.waiters {
		if x == w {
			dq.waiters = append(dq.waiters[:i:i], dq.waiters[i+1:]...)
			break
		}
	}
	w.room = 0
	if len(dq.waiters) == 0 && dq.idle == nil {
		dq.idle = time.AfterFunc(directLinger, func() { d.idle(queue, dq) })
	}
	d.mu.Unlock()
	var out []broker.Fetched
	for {
		select {
		case f := <-w.ch:
			out = append(out, f)
		default:
			return out
		}
	}
}

// idle stops this gateway being offered the queue's sends, if no
// transfer waits on it.
func (d *direct) idle(queue string, dq *directQueue) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(dq.waiters) > 0 || dq.idle == nil || d.queues[queue] != dq {
		return
	}
	dq.idle = nil
	if dq.held > 0 {
		dq.idle = time.AfterFunc(directLinger, func() { d.idle(queue, dq) })
		return
	}
	for _, sub := range append([]*nats.Subscription{dq.offers}, dq.stores...) {
		if sub != nil {
			sub.Unsubscribe()
		}
	}
	delete(d.queues, queue)
}

// onOffer hands the messages of an offer to the waiting transfers with
// room, or keeps it offerGrace for the next, and answers.
func (d *direct) onOffer(queue string, m *nats.Msg) {
	po := &pendingOffer{answer: func(ids []uint64) { accept(m, ids) }, notice: m.Header.Get(hdrDirectNotice)}
	first, err := strconv.ParseUint(m.Header.Get(hdrDirectKey), 10, 64)
	if err == nil {
		po.f, err = decodeForwarded(m)
	}
	if err != nil || po.notice == "" || len(po.f.Messages) == 0 {
		m.Respond([]byte("no"))
		return
	}
	po.first = first
	d.mu.Lock()
	dq := d.queues[queue]
	if dq == nil {
		d.mu.Unlock()
		m.Respond([]byte("no"))
		return
	}
	if ids := d.giveFirstLocked(queue, dq, po); len(ids) > 0 {
		d.mu.Unlock()
		accept(m, ids)
		return
	}
	d.pendLocked(queue, dq, po)
	d.mu.Unlock()
}

// giveFirstLocked is giveLocked unless offers wait for room already: po
// then waits behind them, so that it never overtakes an earlier offer
// (which, refused, is stored by its sender).
func (d *direct) giveFirstLocked(queue string, dq *directQueue, po *pendingOffer) []uint64 {
	if len(dq.pending) > 0 {
		return nil
	}
	return d.giveLocked(queue, dq, po)
}

// pendLocked keeps po offerGrace for a transfer to make room.
func (d *direct) pendLocked(queue string, dq *directQueue, po *pendingOffer) {
	po.timer = time.AfterFunc(offerGrace, func() { d.refuse(queue, po) })
	dq.pending = append(dq.pending, po)
}

// accept answers an offer with the ids of the messages taken, or "no".
func accept(m *nats.Msg, ids []uint64) {
	if len(ids) == 0 {
		m.Respond([]byte("no"))
		return
	}
	b := []byte("ok")
	for _, id := range ids {
		b = strconv.AppendUint(append(b, ' '), id, 10)
	}
	m.Respond(b)
}

// refuse answers an offer that found no transfer in time, and the
// offers of the same sender waiting behind it: their sender stores them
// after it, in order, rather than have one handed over before it is
// stored.
func (d *direct) refuse(queue string, po *pendingOffer) {
	d.mu.Lock()
	if po.done {
		d.mu.Unlock()
		return
	}
	refused := []*pendingOffer{po}
	if dq := d.queues[queue]; dq != nil {
		for i, x := range dq.pending {
			if x != po {
				continue
			}
			kept := dq.pending[:i:i]
			for _, y := range dq.pending[i+1:] {
				if y.notice == po.notice {
					y.timer.Stop()
					refused = append(refused, y)
				} else {
					kept = append(kept, y)
				}
			}
			dq.pending = kept
			break
		}
	}
	for _, x := range refused {
		x.done = true
	}
	d.mu.Unlock()
	for _, x := range refused {
		x.answer(nil)
	}
}

// giveLocked hands the messages of po, in order, to the waiting
// transfers with room, and returns the ids it gave those it could.
func (d *direct) giveLocked(queue string, dq *directQueue, po *pendingOffer) []uint64 {
	var ids []uint64
	now := time.Now()
	for i, it := range po.f.Messages {
		var w *directWaiter
		for _, x := range dq.waiters {
			if x.room > 0 {
				w = x
				break
			}
		}
		if w == nil {
			break
		}
		d.id++
		dl := wire.Delivery{Queue: queue, ID: d.id, DeliveryCount: 1, Origin: po.f.Origin, EnqueuedAt: now, Message: it.Message}
		dl.Payload = it.Payload
		back := toMsg(queueSubject+escape(queue), &dl.Message, dl.Origin)
		back.Header.Set(hdrDelivered, "1") // stored only if it was delivered
		w.room--
		dq.held++
		w.ch <- broker.Fetched{Delivery: dl, Handle: &directHandle{d: d, queue: queue,
			key: strconv.FormatUint(po.first+uint64(i), 10), notice: po.notice, msg: back}}
		ids = append(ids, dl.ID)
	}
	return ids
}

// dirty records that queue's stream may hold something ready: a store
// seen, or a message given back through this gateway.
func (d *direct) dirty(queue string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dq := d.queues[queue]
	if dq == nil {
		return
	}
	dq.gen++
	dq.lastStore = time.Now()
	dq.clean = false
	close(dq.stored)
	dq.stored = make(chan struct{})
}

// look returns what a transfer of queue needs to know: whether it may
// skip pulling (and for how long), the stores seen so far, and the
// channel closed at the next.
func (d *direct) look(queue string) (clean bool, recheck time.Duration, gen uint64, stored <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dq := d.queues[queue]
	if dq == nil {
		return false, 0, 0, nil
	}
	recheck = directRecheck - time.Since(dq.cleanAt)
	return dq.clean && recheck > 0, recheck, dq.gen, dq.stored
}

// found records that a pull of queue that started at gen found nothing
// ready: the queue is clean, unless a store was seen since or just
// before.
func (d *direct) found(queue string, gen uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dq := d.queues[queue]
	if dq != nil && dq.gen == gen && time.Since(dq.lastStore) >= readYourSends {
		dq.clean, dq.cleanAt = true, time.Now()
	}
}

// heldDirect is how many messages of queue this gateway's sessions hold
// from direct hand-offs.
func (d *direct) heldDirect(queue string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if dq := d.queues[queue]; dq != nil {
		return dq.held
	}
	return 0
}

// await waits up to wait for messages of queue, at most max: those a pull
// brings, or those offered directly. A clean queue is not pulled (see
// above).
func (e *Engine) await(ctx context.Context, queue string, max int, wait time.Duration) ([]broker.Fetched, error) {
	w := e.direct.enter(queue, max)
	deadline := time.Now().Add(wait)
	var out []broker.Fetched
	var err error
	for left := wait; left > 0 && len(out) == 0 && err == nil; left = time.Until(deadline) {
		clean, recheck, gen, stored := e.direct.look(queue)
		if !clean {
			// Pulls of pullMaxWait at most: one withdrawn stays in the
			// consumer's list of waiting requests until it expires or
			// the consumer notices.
			out, err = e.take(ctx, queue, max, min(left, pullMaxWait), w.ch, nil)
			if len(out) == 0 && err == nil {
				e.direct.found(queue, gen)
			}
			continue
		}
		t := time.NewTimer(min(left, recheck))
		select {
		case f := <-w.ch:
			out = append(out, f)
		case <-stored:
		case <-t.C:
		case <-ctx.Done():
			err = ctx.Err()
		}
		t.Stop()
	}
	out = append(out, e.direct.leave(queue, w)...)
	if err != nil {
		for _, f := range out {
			f.Handle.Nak()
		}
		return nil, err
	}
	for len(out) > max { // a pull's and offers taken as it ended
		out[len(out)-1].Handle.Nak()
		out = out[:len(out)-1]
	}
	return out, nil
}

// pullMaxWait is the longest a pull of a transfer waits; a transfer that
// waits longer pulls again.
const pullMaxWait = 5 * time.Second
