package broker

import (
	"sync"
	"sync/atomic"
	"time"
)

// Session is one logged-in client. It lives while it has connections, and
// for a grace period after the last one closes, so that a client that
// reconnects (a keep-alive connection timed out, a pool replaced it) keeps
// its transient queues and the messages it holds.
type Session struct {
	id       string // the bearer token: only the client that logged in knows it
	public   string // the short id diagnostics, the trace and logs show
	clientID string
	started  time.Time
	b        *Broker

	ended    atomic.Bool
	lastPoll atomic.Int64 // Unix nanoseconds
	subs     atomic.Pointer[[]*Queue]
	pendingN atomic.Int32 // len(pending), read without mu on the send path

	mu         sync.Mutex
	conns      int
	grace      *time.Timer
	touched    map[*Queue]struct{} // queues it may hold messages of
	transients map[string]*Queue
	pending    map[replyKey]int64 // requests held, by where their reply goes

	linesMu sync.Mutex             // leaf
	lines   map[string]*remoteSend // engine sends under way, the last of each queue's line (remotesend.go)
}

// replyKey identifies the reply a held request expects.
type replyKey struct{ queue, corr string }

// ID returns the session's token, as clients send it in Msw-Session. It
// is a secret: show PublicID instead.
func (s *Session) ID() string { return s.id }

// PublicID returns the short id that names the session in diagnostics,
// the trace and logs; it grants nothing.
func (s *Session) PublicID() string { return s.public }

// ClientID returns the name the client logged in with.
func (s *Session) ClientID() string { return s.clientID }

// Ended reports whether the session is over.
func (s *Session) Ended() bool { return s.ended.Load() }

// AddConn records that a connection now carries this session's requests.
func (s *Session) AddConn() {
	s.mu.Lock()
	s.conns++
	if s.grace != nil {
		s.grace.Stop()
		s.grace = nil
	}
	s.mu.Unlock()
}

// DropConn records that one of the session's connections closed. When the
// last one has gone, the session ends after the broker's grace period
// unless a connection comes back first.
func (s *Session) DropConn() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns--
	if s.conns <= 0 && !s.ended.Load() {
		s.conns = 0
		s.armGraceLocked()
	}
}

// armGraceLocked starts the timer that ends an unconnected session. s.mu held.
func (s *Session) armGraceLocked() {
	if s.grace != nil {
		s.grace.Stop()
	}
	var t *time.Timer
	t = time.AfterFunc(s.b.opts.Grace, func() {
		s.mu.Lock()
		expired := s.grace == t && s.conns == 0
		s.mu.Unlock()
		if expired {
			s.b.EndSession(s)
		}
	})
	s.grace = t
}

// subscriptions returns the queues the session polls; do not modify.
func (s *Session) subscriptions() []*Queue {
	if p := s.subs.Load(); p != nil {
		return *p
	}
	return nil
}

// noteRequests remembers when requests that want a reply were sent, so the
// reply's processing time can be measured.
func (s *Session) noteRequests(ms []message) {
	var n int
	for i := range ms {
		if ms[i].replyLen() > 0 {
			n++
		}
	}
	if n == 0 {
		return
	}
	s.mu.Lock()
	if s.pending == nil {
		s.pending = make(map[replyKey]int64)
	}
	for i := range ms {
		if ms[i].replyLen() > 0 {
			s.pending[replyKey{ms[i].replyTo(), ms[i].corr()}] = ms[i].enqueued()
		}
	}
	s.pendingN.Store(int32(len(s.pending)))
	s.mu.Unlock()
}

// takeRequest forgets a held request; it returns the request's enqueue time
// and whether there was one.
func (s *Session) takeRequest(queue, corr string) (int64, bool) {
	if s.pendingN.Load() == 0 {
		return 0, false
	}
	s.mu.Lock()
	k := replyKey{queue, corr}
	t, ok := s.pending[k]
	if ok {
		delete(s.pending, k)
		s.pendingN.Store(int32(len(s.pending)))
	}
	s.mu.Unlock()
	return t, ok
}
