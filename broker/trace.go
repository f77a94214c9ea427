package broker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"msw/internal/wire"
)

// PreviewLen is how many payload bytes a trace event or snapshot keeps.
const PreviewLen = 64

// traceRecord is a trace event as stored: fixed size, with a bounded
// preview, so the ring never grows with the payloads passing through.
type traceRecord struct {
	kind          string
	queue         string
	from, to      string
	id            uint64
	corr, replyTo string
	size          int
	preview       [PreviewLen]byte
	previewLen    uint8
	reply         bool
	processing    time.Duration
	time          int64
}

// traceRing is a fixed ring of trace records. Writers claim a sequence
// number atomically and fill its slot under the slot's own lock, so
// writers on different queues do not contend.
type traceRing struct {
	next  atomic.Uint64 // last sequence number claimed
	slots []traceSlot

	waiting atomic.Int32
	mu      sync.Mutex
	wake    chan struct{} // closed and replaced when an event is added
}

type traceSlot struct {
	mu  sync.Mutex
	seq uint64
	rec traceRecord
}

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

// wait blocks until an event after `after` exists, the timeout passes or
// ctx is done.
func (r *traceRing) wait(ctx context.Context, after uint64, timeout time.Duration) {
	r.waiting.Add(1)
	defer r.waiting.Add(-1)
	r.mu.Lock()
	ch := r.wake
	r.mu.Unlock()
	if r.next.Load() > after {
		return
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
	}
}

func (rec *traceRecord) event(seq uint64) wire.TraceEvent {
	return wire.TraceEvent{
		Seq:              seq,
		Time:             time.Unix(0, rec.time),
		Kind:             rec.kind,
		Queue:            rec.queue,
		From:             rec.from,
		To:               rec.to,
		MessageID:        rec.id,
		CorrelationID:    rec.corr,
		ReplyTo:          rec.replyTo,
		Size:             rec.size,
		Preview:          previewString(rec.preview[:rec.previewLen]),
		Reply:            rec.reply,
		ProcessingMicros: rec.processing.Microseconds(),
	}
}

// previewString renders a payload prefix as text, with invalid UTF-8 and
// control characters escaped.
func previewString(b []byte) string {
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && n <= 1:
			out = append(out, '\\', 'x', "0123456789abcdef"[b[0]>>4], "0123456789abcdef"[b[0]&15])
		case r < 0x20 || r == 0x7f:
			switch r {
			case '\n':
				out = append(out, '\\', 'n')
			case '\t':
				out = append(out, '\\', 't')
			default:
				out = append(out, '\\', 'x', "0123456789abcdef"[r>>4], "0123456789abcdef"[r&15])
			}
		default:
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return string(out)
}

func messageRecord(kind, queue string, m *message, from, to string) traceRecord {
	rec := traceRecord{
		kind:    kind,
		queue:   queue,
		from:    from,
		to:      to,
		id:      m.id,
		corr:    m.corr(),
		replyTo: m.replyTo(),
	}
	p := m.payload()
	rec.size = len(p)
	rec.previewLen = uint8(copy(rec.preview[:], p))
	return rec
}

// traceMessage records an event about a message, if tracing is on.
func (b *Broker) traceMessage(kind, queue string, m *message, from, to string) {
	if b.trace == nil {
		return
	}
	rec := messageRecord(kind, queue, m, from, to)
	b.traceEvent(rec)
}

// traceEvent stamps and records an event, if tracing is on.
func (b *Broker) traceEvent(rec traceRecord) {
	if b.trace == nil {
		return
	}
	rec.time = time.Now().UnixNano()
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
	if timeout > 0 && b.trace.next.Load() <= after {
		b.trace.wait(ctx, after, timeout)
	}
	return b.trace.read(after, max)
}
