package broker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"msw/internal/wire"
)

// PreviewLen is how many payload bytes a trace event or snapshot keeps.
const PreviewLen = wire.PreviewLen

// traceRecord is a trace event as stored: fixed size, with a bounded
// preview, so the ring never grows with the payloads passing through.
type traceRecord struct {
	kind     string
	queue    string
	from, to string
	id       uint64
	// text is the message's correlation id, reply-to and payload preview
	// (at most PreviewLen bytes), back to back. For a small message it
	// aliases the stored bytes (recording costs no allocation, and keeps
	// at most traceAliasMax bytes alive per slot); otherwise it is a copy.
	text       string
	corrLen    uint16
	replyLen   uint8
	size       int
	reply      bool
	processing time.Duration
	time       int64
}

// traceAliasMax is the largest message whose bytes a trace record may
// keep alive instead of copying its text.
const traceAliasMax = 512

// traceRing is a fixed ring of trace records. Writers claim a sequence
// number atomically and fill its slot under the slot's own lock, so
// writers on different queues do not contend.
type traceRing struct {
	slots []traceSlot

	waiting atomic.Int32
	mu      sync.Mutex
	wake    chan struct{} // closed and replaced when an event is added

	// next is written by every event, from every core: on a cache line
	// of its own, so that reading slots does not miss on it.
	_    [cacheLine]byte
	next atomic.Uint64 // last sequence number claimed
	_    [cacheLine - 8]byte
}

type traceSlot struct {
	traceSlotData
	// Consecutive events go to consecutive slots, usually written from
	// both cores at once: padded to whole cache lines, no two slots share
	// one (BenchmarkTraceRing, with next on a line of its own: 77-79 ->
	// 60-76 ns per event when the cores are not contended otherwise).
	_ [(cacheLine - unsafe.Sizeof(traceSlotData{})%cacheLine) % cacheLine]byte
}

type traceSlotData struct {
	mu  sync.Mutex
	seq uint64
	rec traceRecord
}

// cacheLine is the size of a CPU cache line on the machines we run on.
const cacheLine = 64

func newTraceRing(n int) *traceRing {
	return &traceRing{slots: make([]traceSlot, n), wake: make(chan struct{})}
}

func (r *traceRing) add(rec *traceRecord) {
	seq := r.next.Add(1)
	sl := &r.slots[seq%uint64(len(r.slots))]
	sl.mu.Lock()
	if sl.seq < seq {
		sl.seq = seq
		sl.rec = *rec
	}
	sl.mu.Unlock()
	r.notify()
}

// addMessages records one event per message, claiming their sequence
// numbers with one atomic add and filling each slot in place. from is
// the acting client, or, with fromOrigin, each message's sender.
func (r *traceRing) addMessages(now int64, kind, queue string, ms []message, from, to string, fromOrigin bool) {
	if len(ms) == 0 {
		return
	}
	r.fillMessages(r.claim(len(ms)), now, kind, queue, ms, from, to, fromOrigin)
}

// claim takes the sequence numbers of n events, to be filled in by
// fillMessages: a caller that must order its events before others (a
// send before its messages' delivery) claims them under the lock that
// orders them, and fills them once it has let go of it. A reader waits
// for a claimed event to be filled (read).
func (r *traceRing) claim(n int) uint64 {
	return r.next.Add(uint64(n)) - uint64(n)
}

// fillMessages records the events of ms in the sequence numbers after
// seq, claimed by claim(len(ms)).
func (r *traceRing) fillMessages(seq uint64, now int64, kind, queue string, ms []message, from, to string, fromOrigin bool) {
	for i := range ms {
		seq++
		if fromOrigin {
			from = ms[i].originID()
		}
		sl := &r.slots[seq%uint64(len(r.slots))]
		sl.mu.Lock()
		if sl.seq < seq {
			sl.seq = seq
			setMessageRecord(&sl.rec, kind, queue, &ms[i], from, to)
			sl.rec.time = now
		}
		sl.mu.Unlock()
	}
	r.notify()
}

// notify wakes trace readers waiting for an event.
func (r *traceRing) notify() {
	if r.waiting.Load() > 0 {
		r.mu.Lock()
		close(r.wake)
		r.wake = make(chan struct{})
		r.mu.Unlock()
	}
}

// read returns up to max events with sequence numbers after `after`.
func (r *traceRing) read(after uint64, max int) wire.TraceResponse {
	last := r.next.Load()
	var resp wire.TraceResponse
	size := uint64(len(r.slots))
	if last > size && after < last-size {
		resp.Lost = last - size - after
		after = last - size
	}
	seq := after + 1
	for ; seq <= last && len(resp.Events) < max; seq++ {
		sl := &r.slots[seq%size]
		sl.mu.Lock()
		got, rec := sl.seq, sl.rec
		sl.mu.Unlock()
		if got < seq {
			break // claimed, not yet written
		}
		if got > seq {
			resp.Lost++
			continue
		}
		resp.Events = append(resp.Events, rec.event(seq))
	}
	resp.Next = seq - 1
	return resp
}

// ready reports whether the event after `after` can be read: claimed
// and written (or overwritten since, which read counts as lost).
func (r *traceRing) ready(after uint64) bool {
	seq := after + 1
	if r.next.Load() < seq {
		return false
	}
	sl := &r.slots[seq%uint64(len(r.slots))]
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return sl.seq >= seq
}

// wait blocks until the event after `after` can be read, the timeout
// passes or ctx is done. An event claimed but not yet written does not
// end the wait: read would stop before it and answer nothing, which a
// reader would take for a switch keeping no trace.
func (r *traceRing) wait(ctx context.Context, after uint64, timeout time.Duration) {
	r.waiting.Add(1)
	defer r.waiting.Add(-1)
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		r.mu.Lock()
		ch := r.wake
		r.mu.Unlock()
		if r.ready(after) {
			return
		}
		select {
		case <-ch:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (rec *traceRecord) event(seq uint64) wire.TraceEvent {
	ev := wire.TraceEvent{
		Seq:              seq,
		Time:             time.Unix(0, rec.time),
		Kind:             rec.kind,
		Queue:            rec.queue,
		From:             rec.from,
		To:               rec.to,
		MessageID:        rec.id,
		CorrelationID:    rec.text[:rec.corrLen],
		ReplyTo:          rec.text[rec.corrLen : int(rec.corrLen)+int(rec.replyLen)],
		Size:             rec.size,
		Preview:          wire.Escape([]byte(rec.text[int(rec.corrLen)+int(rec.replyLen):])),
		Reply:            rec.reply,
		ProcessingMicros: rec.processing.Microseconds(),
	}
	if rec.kind == wire.EventPublish {
		ev.Copies, ev.MessageID = int(rec.id), 0 // see Broker.Publish
	}
	return ev
}

func messageRecord(kind, queue string, m *message, from, to string) traceRecord {
	var rec traceRecord
	setMessageRecord(&rec, kind, queue, m, from, to)
	return rec
}

// setMessageRecord fills rec (all but its time) for an event about m.
func setMessageRecord(rec *traceRecord, kind, queue string, m *message, from, to string) {
	p := m.payload()
	body := m.fields()
	n := m.corrLen() + m.replyLen() + min(len(p), PreviewLen)
	var text string
	if len(body) <= traceAliasMax {
		text = unsafe.String(unsafe.SliceData(body), n)
	} else {
		text = string(body[:n])
	}
	*rec = traceRecord{
		kind:     kind,
		queue:    queue,
		from:     from,
		to:       to,
		id:       m.id,
		text:     text,
		corrLen:  uint16(m.corrLen()),
		replyLen: uint8(m.replyLen()),
		size:     len(p),
	}
}

// traceMessage records an event about a message, if tracing is on.
func (b *Broker) traceMessage(kind, queue string, m *message, from, to string) {
	b.traceMessageAt(0, kind, queue, m, from, to)
}

// traceMessageAt is traceMessage with the event's time (Unix nanoseconds;
// 0 for now). Loops over a batch read the clock once for all of it: a
// clock read per event was a fifth of a traced transfer's CPU.
func (b *Broker) traceMessageAt(now int64, kind, queue string, m *message, from, to string) {
	if b.trace == nil {
		return
	}
	rec := messageRecord(kind, queue, m, from, to)
	rec.time = now
	b.traceEvent(rec)
}

// traceMessages records an event per message of a batch, all stamped
// with one clock read; see traceRing.addMessages.
func (b *Broker) traceMessages(kind, queue string, ms []message, from, to string, fromOrigin bool) {
	if b.trace == nil || len(ms) == 0 {
		return
	}
	b.trace.addMessages(time.Now().UnixNano(), kind, queue, ms, from, to, fromOrigin)
}

// traceEvent stamps (unless rec has a time) and records an event, if
// tracing is on.
func (b *Broker) traceEvent(rec traceRecord) {
	if b.trace == nil {
		return
	}
	if rec.time == 0 {
		rec.time = time.Now().UnixNano()
	}
	b.trace.add(&rec)
}

// Trace returns events after sequence number `after`, waiting up to
// timeout for the first one. Tracing off returns no events.
func (b *Broker) Trace(ctx context.Context, after uint64, max int, timeout time.Duration) wire.TraceResponse {
	if b.trace == nil {
		return wire.TraceResponse{Next: after}
	}
	if max <= 0 || max > len(b.trace.slots) {
		max = len(b.trace.slots)
	}
	timeout = min(timeout, b.opts.MaxWait)
	if after > b.trace.next.Load() {
		after = 0 // a reader from before a restart starts again
	}
	if timeout > 0 && !b.trace.ready(after) {
		b.trace.wait(ctx, after, timeout)
	}
	return b.trace.read(after, max)
}
