package server

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"msw/broker"
	"msw/internal/wire"
)

// The history sampler reads every queue's depth and its send and ack
// counts at a fixed interval and keeps the last historySamples samples of
// each, for the web page's charts (GET /v1/history). Its memory is
// bounded: at most historyQueues series (transient queues all share one)
// of historySamples samples each, about 1.3 MB when full; queues beyond
// that are counted as untracked, not sampled.
const (
	// DefaultHistoryInterval is the time between samples: 120 samples of
	// 5 seconds show the last 10 minutes.
	DefaultHistoryInterval = 5 * time.Second
	historySamples         = 120
	historyQueues          = 256
)

// history is the sampler and its rings. Its mu is taken before the
// broker's locks (sample reads the queues while holding it), never while
// holding one of them.
type history struct {
	every time.Duration

	mu        sync.Mutex
	series    map[string]*series // by queue name, or wire.HistoryTransient
	last      map[string]totals  // each live queue's counters at the last sample
	untracked int

	start    sync.Once
	stop     chan struct{}
	stopOnce sync.Once
}

// totals are a queue's send and ack counters as last read.
type totals struct{ sent, acked uint64 }

// series is one ring of samples.
type series struct {
	kind    string
	ring    [historySamples]wire.HistorySample
	next, n int  // where the next sample goes; how many the ring holds
	seen    bool // the queue (one transient, for the shared series) exists at this sample
}

func newHistory(every time.Duration) *history {
	if every <= 0 {
		every = DefaultHistoryInterval
	}
	return &history{every: every, series: map[string]*series{}, last: map[string]totals{}}
}

// run starts sampling b on first call.
func (h *history) run(b *broker.Broker) {
	h.start.Do(func() {
		h.stop = make(chan struct{})
		go h.loop(b, h.stop)
	})
}

// halt stops sampling, if it was started.
func (h *history) halt() {
	h.start.Do(func() {}) // a later run must not start it
	h.stopOnce.Do(func() {
		if h.stop != nil {
			close(h.stop)
		}
	})
}

func (h *history) loop(b *broker.Broker, stop chan struct{}) {
	tick := time.NewTicker(h.every)
	defer tick.Stop()
	h.sample(b, time.Now())
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			h.sample(b, now)
		}
	}
}

// sample takes one sample of every queue. Series of queues that no
// longer exist are dropped.
func (h *history) sample(b *broker.Broker, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := now.UnixMilli()
	live := make(map[string]totals, len(h.last))
	untracked := 0
	for _, s := range h.series {
		s.seen = false
	}
	b.Counts(func(c broker.QueueCounts) {
		name, kind := c.Name, wire.KindPersistent
		if c.Transient {
			name, kind = wire.HistoryTransient, wire.KindTransient
		}
		s := h.series[name]
		if s == nil {
			if len(h.series) >= historyQueues {
				untracked++
				return
			}
			s = &series{kind: kind}
			h.series[name] = s
		}
		prev, known := h.last[c.Name]
		live[c.Name] = totals{c.Sent, c.Acked}
		if !known { // first seen: its counts so far belong to no interval
			prev = totals{c.Sent, c.Acked}
		}
		if !s.seen {
			s.seen = true
			s.ring[s.next] = wire.HistorySample{TimeMillis: t}
			s.next = (s.next + 1) % historySamples
			s.n = min(s.n+1, historySamples)
		}
		cur := &s.ring[(s.next+historySamples-1)%historySamples]
		cur.Depth += c.Depth
		cur.InFlight += c.InFlight
		cur.Sent += c.Sent - prev.sent
		cur.Acked += c.Acked - prev.acked
	})
	for name, s := range h.series {
		if !s.seen {
			if name != wire.HistoryTransient {
				delete(h.series, name)
				continue
			}
			// No transient queue now: the shared series records zeros.
			s.ring[s.next] = wire.HistorySample{TimeMillis: t}
			s.next = (s.next + 1) % historySamples
			s.n = min(s.n+1, historySamples)
		}
	}
	h.last = live
	h.untracked = untracked
}

// answer copies the rings out, queues by name, samples oldest first.
func (h *history) answer() wire.HistoryResponse {
	h.mu.Lock()
	defer h.mu.Unlock()
	resp := wire.HistoryResponse{IntervalMillis: h.every.Milliseconds(), Keep: historySamples, Queues: make([]wire.QueueHistory, 0, len(h.series)), Untracked: h.untracked}
	for name, s := range h.series {
		qh := wire.QueueHistory{Queue: name, Kind: s.kind, Samples: make([]wire.HistorySample, s.n)}
		for i := range s.n {
			qh.Samples[i] = s.ring[(s.next-s.n+i+historySamples)%historySamples]
		}
		resp.Queues = append(resp.Queues, qh)
	}
	slices.SortFunc(resp.Queues, func(a, b wire.QueueHistory) int { return strings.Compare(a.Queue, b.Queue) })
	return resp
}

// queueHistory serves GET /v1/history.
func (s *Server) queueHistory(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.history.answer())
}
