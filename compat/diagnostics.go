package compat

import (
	"net/http"
	"slices"
	"time"

	"msw/internal/wire"
)

// Diagnostics and listings read the broker like msw's own tools, so msw's
// queues and clients show here as well as the compat ones.

// maxDiagMessages bounds the messages diagnostics lists per queue (the
// oldest first); the original listed them all.
const maxDiagMessages = 1000

// diagnostics answers GET /:
//
//	{"start_time":0,"current_time":<ns>,
//	 "permanent_queues":{"<name>":{"next_transfer_expected":<ns>,"queue_contents":[[ID,ENTRY],...]},...},
//	 "transient_queues":{...}}
//
// Times are nanoseconds since the switch started. next_transfer_expected
// is the end of the latest Transfer naming the queue; for a queue no
// Transfer named, it is now while an msw consumer is subscribed, else the
// queue's last poll, and omitted if it was never polled.
func (s *Server) diagnostics(w http.ResponseWriter) {
	now := time.Now()
	infos := s.b.List("", true)
	names := make(map[string]bool, len(infos))
	for _, qi := range infos {
		names[qi.Name] = true
	}
	expected := s.polls.expected(func(q string) bool { return names[q] })
	var e enc
	e.raw(`{"start_time":0,"current_time":`)
	e.int(sinceStart(now, s.started))
	for _, transient := range []bool{false, true} {
		if transient {
			e.raw(`,"transient_queues":{`)
		} else {
			e.raw(`,"permanent_queues":{`)
		}
		first := true
		for _, qi := range infos {
			if (qi.Kind == "transient") != transient {
				continue
			}
			e.key(qi.Name, first)
			first = false
			s.queueDiagnostics(&e, qi, expected[qi.Name], now)
		}
		e.raw("}")
	}
	e.raw("}")
	reply(w, e.b)
}

// queueDiagnostics appends one queue's entry.
func (s *Server) queueDiagnostics(e *enc, qi wire.QueueInfo, expected, now time.Time) {
	switch {
	case !expected.IsZero():
	case qi.Subscribers > 0:
		expected = now
	default:
		expected = qi.LastTransfer
	}
	e.raw("{")
	if !expected.IsZero() {
		e.key("next_transfer_expected", true)
		e.int(sinceStart(expected, s.started))
		e.raw(",")
	}
	e.raw(`"queue_contents":[`)
	ms, _ := s.b.Contents(qi.Name, maxDiagMessages) // gone since listed: none
	for i := len(ms) - 1; i >= 0; i-- {
		m := &ms[i]
		if i < len(ms)-1 {
			e.raw(",")
		}
		e.raw("[")
		e.messageID(m.Queue, m.Cursor)
		e.raw(`,{"origin":`)
		if m.Origin != "" {
			e.raw(`["Name",`)
		} else {
			e.raw(`["Anonymous",`) // sent by an msw client with no session
		}
		e.str(m.Origin)
		e.raw(`],"time":`)
		e.int(sinceStart(m.EnqueuedAt, s.started))
		e.raw(`,"message":`)
		e.message(m.Payload, kindOf(m.ReplyTo, m.CorrelationID))
		e.raw("}]")
	}
	e.raw("]}")
}

// list answers GET /list/<prefix> (all) and GET /list/alive/<prefix>:
// the names, in descending order. Alive is msw's own liveness: a queue
// someone is subscribed to (a compat poller counts from its first
// Transfer until its session ends), or polled within the last 30 s.
func (s *Server) list(w http.ResponseWriter, prefix string, all bool) {
	infos := s.b.List(prefix, all)
	names := make([]string, len(infos))
	for i, qi := range infos {
		names[i] = qi.Name
	}
	slices.Sort(names)
	slices.Reverse(names)
	var e enc
	e.raw("[")
	for i, n := range names {
		if i > 0 {
			e.raw(",")
		}
		e.str(n)
	}
	e.raw("]")
	reply(w, e.b)
}
