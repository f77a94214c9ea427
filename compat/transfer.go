package compat

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"msw/broker"
)

// Transfer. POST /transfer {"from":"<id>","timeout":<s>,"queues":[...]}
// returns every unacked message above the cursor "from" in the queues
// named, waiting up to timeout for one if there are none, and the cursor
// to ask from next. It is a cursor read of the broker (broker/cursor.go):
// nothing is taken, so every poller sees every message until someone
// acks it, and msw's own consumers of the queue still get theirs.

// maxTransferBody bounds a Transfer's JSON body.
const maxTransferBody = 1 << 20

// transferRequest is a Transfer's body. Keys match in any case (as
// encoding/json does), unknown keys are ignored, and "from" and
// "timeout" may be numbers or strings holding numbers.
type transferRequest struct {
	From    json.RawMessage `json:"from"`
	Timeout json.RawMessage `json:"timeout"`
	Queues  *[]string       `json:"queues"`
}

// polls records when each queue is next expected to be polled: the end
// of the latest Transfer naming it (the original's
// next_transfer_expected, shown in diagnostics).
type polls struct {
	mu   sync.Mutex
	next map[string]time.Time
}

func (p *polls) record(queues []string, deadline time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next == nil {
		p.next = map[string]time.Time{}
	}
	for _, q := range queues {
		p.next[q] = deadline
	}
}

// expected returns a queue's next expected poll, and forgets the queues
// that no longer exist (exists says which do).
func (p *polls) expected(exists func(string) bool) map[string]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]time.Time, len(p.next))
	for q, t := range p.next {
		if !exists(q) {
			delete(p.next, q)
			continue
		}
		out[q] = t
	}
	return out
}

func (s *Server) transfer(w http.ResponseWriter, r *http.Request, sess *broker.Session) {
	from, timeout, queues, err := parseTransfer(w, r)
	if err != nil {
		fail(w, err)
		return
	}
	timeout = min(timeout, s.b.Options().MaxWait)
	s.polls.record(queues, time.Now().Add(max(timeout, 0)))
	ms, err := s.b.ReadCursor(r.Context(), sess, queues, from, timeout)
	if r.Context().Err() != nil {
		return // the client has gone
	}
	if err != nil && !errors.Is(err, broker.ErrSessionEnded) {
		fail(w, err)
		return
	}
	next := from
	var e enc
	e.raw(`{"messages":[`)
	for i := range ms {
		if i > 0 {
			e.raw(",")
		}
		e.idMessage(&ms[i])
		next = max(next, ms[i].Cursor)
	}
	e.raw(`],"next":"`)
	e.int(next)
	e.raw(`"}`)
	reply(w, e.b)
}

// parseTransfer reads a Transfer's body: the cursor (-1 when absent),
// the timeout and the queues.
func parseTransfer(w http.ResponseWriter, r *http.Request) (int64, time.Duration, []string, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTransferBody))
	if err != nil {
		return 0, 0, nil, badRequest("transfer: reading the body: %v", err)
	}
	var req transferRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return 0, 0, nil, badRequest("transfer: bad JSON body: %v", err)
	}
	if req.Queues == nil {
		return 0, 0, nil, badRequest(`transfer: no "queues"`)
	}
	from := int64(-1)
	if v, ok := number(req.From); ok {
		if from, err = strconv.ParseInt(v, 10, 64); err != nil {
			return 0, 0, nil, badRequest(`transfer: "from" %s: want a whole number`, req.From)
		}
	}
	var secs float64
	if v, ok := number(req.Timeout); ok {
		if secs, err = strconv.ParseFloat(v, 64); err != nil || math.IsNaN(secs) {
			return 0, 0, nil, badRequest(`transfer: "timeout" %s: want a number of seconds`, req.Timeout)
		}
	}
	return from, seconds(secs), *req.Queues, nil
}

// number returns the text of a JSON number, or of a string holding one;
// false for an absent or null value.
func number(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	return string(raw), true
}

// seconds converts a timeout, clamping what a Duration cannot hold.
func seconds(secs float64) time.Duration {
	if secs >= math.MaxInt64/float64(time.Second) {
		return math.MaxInt64
	}
	return time.Duration(secs * float64(time.Second))
}
