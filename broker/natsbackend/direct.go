package natsbackend

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"msw/broker"
	"msw/internal/wire"
)

// The direct hand-off (docs/scale-out.md, "Direct hand-off"): a send of
// one message to a cluster queue is first offered, over plain NATS, to a
// gateway with a transfer of that queue waiting, which takes it at once
// instead of its pull; only when none takes it is it stored in the stream.
// An RPC's request so costs no replicated write, pull and ack.
//
// Nothing answered is lost while either gateway lives: the sending
// gateway keeps a copy until the receiving one says it is settled (acked,
// or given back by being stored in the stream), and hears from it every
// keep-alive while its session holds it; a copy not heard of for an ack
// wait (the receiver died) is stored in the stream then.
//
// On the wire: the offer is a request to msw.d.<queue> (gateways with a
// transfer waiting subscribe in one queue group) whose body is the
// messages as a forward carries them (transient.go), with two headers:
// the first message's key (the others' follow it) and the subject of the
// sender's notices. The answer is "ok <id>..." (the ids the receiving
// gateway gave the first messages, as many as its transfers took) or
// "no". Notices to the sender are "done <key>" and "held <key>".
const (
	directSubject   = "msw.d."
	noticeSubject   = "msw.dn."
	hdrDirectKey    = "Msw-Direct-Key"
	hdrDirectNotice = "Msw-Direct-Notice"
	hdrDelivered    = "Msw-Delivered" // deliveries before it was stored
	// directGroup is the queue group of the gateways offered a queue's
	// sends: one of them gets each offer.
	directGroup = "msw"
	// directLinger is how long a gateway stays offered a queue's sends
	// after its last transfer of it stopped waiting.
	directLinger = 5 * time.Second
	// directIDBit marks an id given by a direct hand-off: never a stream
	// sequence.
	directIDBit = 1 << 63
)

// directOfferWait bounds the wait for a gateway's answer to an offer;
// without one the send is stored (and, if the offer was taken after
// all, delivered twice).
var directOfferWait = 2 * time.Second

// direct is an engine's part in the hand-off: as a receiver, the
// transfers waiting on each queue; as a sender, the copies kept.
type direct struct {
	e       *Engine
	notice  string // the subject this gateway hears its notices on
	sub     *nats.Subscription
	done    chan struct{} // closed by close: the sweep stores what is left
	stopped chan struct{} // closed by the sweep when it has
	closed  sync.Once

	mu         sync.Mutex // leaf
	queues     map[string]*directQueue
	transients map[string]int // this gateway's transient queues (exposed)
	copies     map[uint64]*directCopy
	key        uint64
	id         uint64 // the last id given; its high bits are this gateway's
}

// directCopy is the sender's copy of a message handed directly.
type directCopy struct {
	queue    string
	msg      *nats.Msg
	deadline time.Time
	taken    bool // the offer's answer said so: until then it is not stored
}

// startDirect subscribes to this gateway's notices and starts the sweep
// that stores the copies not heard of.
func (e *Engine) startDirect() error {
	d := &direct{
		e:          e,
		notice:     noticeSubject + nats.NewInbox()[len(nats.InboxPrefix):],
		done:       make(chan struct{}),
		stopped:    make(chan struct{}),
		queues:     make(map[string]*directQueue),
		transients: make(map[string]int),
		copies:     make(map[uint64]*directCopy),
		id:         directIDBit | uint64(rand.Uint32()&0x7fff)<<48,
	}
	sub, err := e.nc.Subscribe(d.notice, d.onNotice)
	if err != nil {
		return err
	}
	d.sub = sub
	e.direct = d
	go d.sweep()
	return nil
}

// offer hands ms, in order, to gateways with a transfer of queue
// waiting. The offer is on its way when it returns; the wait returned
// reports the ids they gave the first of the messages: all, some (the
// transfers had room for no more) or none. The rest are to be stored,
// after them. ms are the engine's own (Publish copied them): the
// hand-offs and the copies kept until they are settled share their
// bytes, which nothing writes again.
func (e *Engine) offer(queue string, ms []wire.Message, origin string) func() []uint64 {
	local, later := e.direct.handLocally(queue, ms, origin)
	if later != nil {
		// Waiting here for a transfer: what it does not take is offered
		// to the others after.
		return func() []uint64 {
			local := <-later
			if len(local) == len(ms) {
				return local
			}
			return append(local, e.offerOver(queue, ms[len(local):], origin)()...)
		}
	}
	if len(local) == len(ms) {
		return func() []uint64 { return local }
	}
	wait := e.offerOver(queue, ms[len(local):], origin)
	return func() []uint64 { return append(local, wait()...) }
}

// handLocally hands requests whose reply queues live on this gateway to
// transfers waiting here, with no copy kept: should this gateway die,
// the reply queues die with it and their callers send again
// (docs/scale-out.md). It returns the ids of the first messages it
// handed, if any; or, when such requests find no transfer with room, the
// channel that brings those ids (none if no transfer came within
// offerGrace).
func (d *direct) handLocally(queue string, ms []wire.Message, origin string) ([]uint64, <-chan []uint64) {
	po := &pendingOffer{f: forwarded{Origin: origin}}
	d.mu.Lock()
	dq := d.queues[queue]
	for i := range ms {
		if dq == nil || d.transients[ms[i].ReplyTo] == 0 {
			break
		}
		po.f.Messages = append(po.f.Messages, forwardedItem{Message: ms[i], Payload: ms[i].Payload})
	}
	if len(po.f.Messages) == 0 {
		d.mu.Unlock()
		return nil, nil
	}
	if ids := d.giveFirstLocked(queue, dq, po); len(ids) > 0 {
		d.mu.Unlock()
		return ids, nil
	}
	// No room now: wait offerGrace for a transfer, as an offer would.
	ch := make(chan []uint64, 1)
	po.answer = func(ids []uint64) { ch <- ids }
	d.pendLocked(queue, dq, po)
	d.mu.Unlock()
	return nil, ch
}

// own records a transient queue of this gateway made (or gone).
func (d *direct) own(queue string, made bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if made {
		d.transients[queue]++
	} else if d.transients[queue]--; d.transients[queue] <= 0 {
		delete(d.transients, queue)
	}
}

// offerOver offers ms to the gateways over NATS: offer's remote half.
// The offer is published when it returns; the wait returned reports the
// ids given.
func (e *Engine) offerOver(queue string, ms []wire.Message, origin string) func() []uint64 {
	d := e.direct
	d.mu.Lock()
	first := d.key + 1
	d.key += uint64(len(ms))
	// Kept before they are offered (the receiver may settle one before
	// its answer arrives), sharing the payloads of ms. The sweep leaves them
	// until the answer has been read (the wait may come late: it is
	// called in the order of the stream's requests); what was not taken
	// the wait stores itself.
	for i := range ms {
		kept := toMsg(queueSubject+escape(queue), &ms[i], origin)
		kept.Header.Set(hdrDelivered, "1") // stored only if it was delivered
		d.copies[first+uint64(i)] = &directCopy{queue: queue, msg: kept}
	}
	d.mu.Unlock()
	msg := nats.NewMsg(directSubject + escape(queue))
	encodeForwarded(msg, ms, origin)
	msg.Header.Set(hdrDirectKey, strconv.FormatUint(first, 10))
	msg.Header.Set(hdrDirectNotice, d.notice)
	wait := e.request(msg, directOfferWait)
	return func() []uint64 {
		var ids []uint64
		if reply, err := wait(); err == nil {
			if rest, ok := strings.CutPrefix(string(reply.Data), "ok "); ok {
				for _, f := range strings.Fields(rest) {
					id, err := strconv.ParseUint(f, 10, 64)
					if err != nil || len(ids) == len(ms) {
						break
					}
					ids = append(ids, id)
				}
			}
		}
		d.mu.Lock()
		deadline := time.Now().Add(e.o.AckWait)
		for i := range ms {
			k := first + uint64(i)
			if i >= len(ids) {
				delete(d.copies, k)
			} else if c := d.copies[k]; c != nil {
				c.taken, c.deadline = true, deadline
			}
		}
		d.mu.Unlock()
		return ids
	}
}

// directMaxBytes and directMaxMessages bound the sends offered: a batch
// larger is stored at once.
const (
	directMaxBytes    = 64 << 10
	directMaxMessages = 256
)

// offerable reports whether ms are few and small enough to offer.
func offerable(ms []wire.Message) bool {
	if len(ms) > directMaxMessages {
		return false
	}
	size := 0
	for i := range ms {
		size += len(ms[i].Payload)
	}
	return size <= directMaxBytes
}

// onNotice settles or holds a copy.
func (d *direct) onNotice(m *nats.Msg) {
	verb, k, _ := strings.Cut(string(m.Data), " ")
	key, err := strconv.ParseUint(k, 10, 64)
	if err != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.copies[key]
	if c == nil {
		return
	}
	switch verb {
	case "done":
		delete(d.copies, key)
	case "held":
		if c.taken {
			c.deadline = time.Now().Add(d.e.o.AckWait)
		}
	}
}

// sweep stores, every tenth of the ack wait, the copies whose receiver
// has not been heard of for an ack wait, until the engine closes; then
// it stores every copy left (their receivers may still settle them: a
// duplicate, never a loss).
func (d *direct) sweep() {
	defer close(d.stopped)
	t := time.NewTicker(d.e.o.AckWait / 10)
	defer t.Stop()
	for {
		select {
		case <-d.done:
			d.store(time.Time{})
			return
		case <-t.C:
			d.store(time.Now())
		}
	}
}

// store publishes to the stream the copies past their deadline (all of
// them for a zero now). One that cannot be stored is kept for the next
// sweep.
func (d *direct) store(now time.Time) {
	var due []uint64
	d.mu.Lock()
	for k, c := range d.copies {
		if c.taken && (now.IsZero() || now.After(c.deadline)) {
			due = append(due, k)
		}
	}
	d.mu.Unlock()
	for _, k := range due {
		d.mu.Lock()
		c := d.copies[k]
		d.mu.Unlock()
		if c == nil {
			continue
		}
		ctx, cancel := d.e.ctx()
		_, err := d.e.js.PublishMsg(ctx, c.msg)
		cancel()
		if err != nil && errors.Is(d.e.publishError(c.queue, err), broker.ErrNoSuchQueue) {
			err = nil // the queue was destroyed, with its messages
		}
		if err == nil {
			d.mu.Lock()
			delete(d.copies, k)
			d.mu.Unlock()
		}
	}
}

// close stops the sweep, storing the copies left.
func (d *direct) close() {
	d.closed.Do(func() {
		close(d.done)
		<-d.stopped
		d.sub.Unsubscribe()
	})
}

// directHandle settles a message handed directly: by notices to its
// sender, and, given back, by storing it in the stream.
type directHandle struct {
	d      *direct
	queue  string
	key    string
	notice string
	msg    *nats.Msg

	once sync.Once
}

// Ack tells the sender the message is settled.
func (h *directHandle) Ack() error {
	h.settled()
	return h.tell("done")
}

// InProgress tells the sender the message is still held here.
func (h *directHandle) InProgress() error { return h.tell("held") }

// tell sends the sender a notice about the message, unless it was handed
// here by this gateway (handLocally), which keeps no copy.
func (h *directHandle) tell(verb string) error {
	if h.notice == "" {
		return nil
	}
	return h.d.e.nc.Publish(h.notice, []byte(verb+" "+h.key))
}

// Nak stores the message in the stream, delivered once, then tells the
// sender it is settled. If it cannot be stored the sender, not told,
// stores its copy after the ack wait.
func (h *directHandle) Nak() error {
	h.settled()
	ctx, cancel := h.d.e.ctx()
	defer cancel()
	_, err := h.d.e.js.PublishMsg(ctx, h.msg)
	switch {
	case err != nil && errors.Is(h.d.e.publishError(h.queue, err), broker.ErrNoSuchQueue):
		// the queue was destroyed, with its messages: settled
	case err != nil:
		return fmt.Errorf("give back: %w", err)
	default:
		h.d.dirty(h.queue)
	}
	return h.tell("done")
}

// settled counts the message no longer held here.
func (h *directHandle) settled() {
	h.once.Do(func() {
		h.d.mu.Lock()
		if dq := h.d.queues[h.queue]; dq != nil {
			dq.held--
		}
		h.d.mu.Unlock()
	})
}
