package compat

import (
	"context"
	"net/http"
	"time"

	"msw/internal/wire"
)

// Trace. GET /trace/<from>/<timeout> waits up to timeout for an event
// with id >= from and returns the buffered ones, oldest first:
//
//	{"events":[[<id>,{"time":<unix s>,"input":"<client>"?,"queue":"<q>","output":"<client>"?,
//	  "message":["Message",ID,MESSAGE] | ["Ack",ID],"processing_time":<ns>?}],...]}
//
// It reads msw's own trace ring (bounded by --trace-size), so it shows
// msw's clients too. An event's id is its sequence number less one (the
// original counts from 0). Only sends, deliveries and acks have a form
// in the original; msw's other events (sessions, queues made and
// destroyed) are skipped, and a wait that finds only those goes on
// waiting. Payloads are the ring's previews (the first bytes, as text),
// and processing_time is on the send of a reply, where msw measures it.

func (s *Server) trace(w http.ResponseWriter, r *http.Request, from int64, timeoutSecs float64) {
	after := uint64(max(from, 0))
	deadline := time.Now().Add(min(seconds(timeoutSecs), s.b.Options().MaxWait))
	var e enc
	e.raw(`{"events":[`)
	if s.b.Options().TraceSize < 0 {
		// Tracing is off: wait out the timeout all the same, so that a
		// following client does not spin.
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
	}
	for n := 0; n == 0; {
		resp := s.b.Trace(r.Context(), after, 0, time.Until(deadline))
		for i := range resp.Events {
			if s.event(&e, &resp.Events[i], n == 0) {
				n++
			}
		}
		if resp.Next <= after || time.Now().After(deadline) || r.Context().Err() != nil {
			break
		}
		after = resp.Next
	}
	if r.Context().Err() == context.Canceled {
		return
	}
	e.raw("]}")
	reply(w, e.b)
}

// event appends one event as [<id>,EVENT], after a comma unless first; it
// reports false (appending nothing) for an event the original has no form
// for.
func (s *Server) event(e *enc, ev *wire.TraceEvent, first bool) bool {
	var input, output string
	switch ev.Kind {
	case wire.EventSend, wire.EventAck:
		input = ev.From
	case wire.EventDeliver:
		output = ev.To
	default:
		return false
	}
	if !first {
		e.raw(",")
	}
	e.raw("[")
	e.int(int64(ev.Seq) - 1)
	e.raw(`,{"time":`)
	e.float(float64(ev.Time.UnixNano()) / 1e9)
	if input != "" {
		e.key("input", false)
		e.str(input)
	}
	e.key("queue", false)
	e.str(ev.Queue)
	if output != "" {
		e.key("output", false)
		e.str(output)
	}
	// The queue's epoch now: a queue destroyed since shows msw's own id.
	epoch, _ := s.b.Epoch(ev.Queue)
	id := epoch + int64(ev.MessageID)
	e.key("message", false)
	if ev.Kind == wire.EventAck {
		e.raw(`["Ack",`)
		e.messageID(ev.Queue, id)
	} else {
		e.raw(`["Message",`)
		e.messageID(ev.Queue, id)
		e.raw(",")
		e.message([]byte(ev.Preview), kindOf(ev.ReplyTo, ev.CorrelationID))
	}
	e.raw("]")
	if ev.ProcessingMicros > 0 {
		e.key("processing_time", false)
		e.int(ev.ProcessingMicros * int64(time.Microsecond))
	}
	e.raw("}]")
	return true
}
