package server

import (
	"context"
	"crypto/tls"
	"log"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"msw/broker"
	"msw/internal/wire"
)

// Options configure a Server.
type Options struct {
	// Log receives lifecycle lines; nil discards them.
	Log *log.Logger
	// Verbose logs one line per request.
	Verbose bool
	// AllowHosts lists extra Host header names (besides IP literals and
	// localhost) that browsers may use to reach the switch.
	AllowHosts []string
	// OnShutdown is called once when a client asks the switch to stop.
	OnShutdown func()
	// Metrics, if set, are served on /metrics with the broker's figures;
	// give its ObserveReply to the broker as OnReply to fill the RPC
	// histogram.
	Metrics *Metrics
	// HistoryInterval is the time between the samples of queue depths and
	// rates that GET /v1/history serves; 0 means DefaultHistoryInterval.
	HistoryInterval time.Duration
	// UIWrites lets browsers change state (the web page's destroy and ack
	// buttons); without it, a request a browser makes (one with an Origin
	// or Sec-Fetch-Site header) may only read. See browserWrite in ui.go.
	UIWrites bool
	// Token, if set, is the secret every request but the health check
	// must carry (auth.go).
	Token string
	// TLS, if set, is spoken on every TCP listener.
	TLS *tls.Config
	// Limits bound connections, waiting requests and the time a slow
	// client may take (limits.go); zero fields take the defaults.
	Limits Limits
	// Cluster, if set, answers diagnostics and trace for every gateway
	// of the cluster this switch is a gateway of (cluster.go).
	Cluster Cluster
	// KeepMemory: the server never collects and returns the heap to the
	// system when the process goes quiet (trim.go); for a program that
	// serves more than switches (a benchmark with another server in the
	// process) and minds its memory itself.
	KeepMemory bool
}

// Server serves one broker over HTTP on any number of listeners.
type Server struct {
	b         *broker.Broker
	opts      Options
	http      *http.Server
	connInfos sync.Map // net.Conn -> *connInfo
	stop      sync.Once
	trim      trimmer // returns memory to the system when idle (trim.go)

	history *history // samples queue depths and rates (history.go)

	streamsMu     sync.Mutex
	streams       map[*stream]struct{} // open streams (stream.go)
	streamsClosed bool                 // set by Shutdown
	streamsDone   sync.WaitGroup       // one per stream tracked, done when it closed

	conns        atomic.Int64 // open connections, bounded by Limits.MaxConns (limits.go)
	shuttingDown atomic.Bool  // set by closeStreams, read by a stream's flush
	waiting      atomic.Int64 // stream transfers and consumers waiting, bounded by Limits.MaxWaiting
}

// connInfo is what the server knows of one client connection: the
// sessions whose requests it has carried.
type connInfo struct {
	mu       sync.Mutex
	sessions []*broker.Session
}

type connKey struct{}

// New returns a server for b.
func New(b *broker.Broker, opts Options) *Server {
	if opts.Log == nil {
		opts.Log = log.New(discard{}, "", 0)
	}
	opts.Limits.fill(b.Options().MaxWait)
	s := &Server{b: b, opts: opts, history: newHistory(opts.HistoryInterval)}
	l := &opts.Limits
	s.http = &http.Server{
		Handler:           s.guard(s.routes()),
		ReadHeaderTimeout: l.HeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          opts.Log,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			ci := &connInfo{}
			s.connInfos.Store(c, ci)
			return context.WithValue(ctx, connKey{}, ci)
		},
		ConnState: s.connState,
	}
	return s
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Serve accepts connections on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	if !s.opts.KeepMemory {
		s.trim.run()
	}
	s.history.run(s.b)
	_, unix := l.Addr().(*net.UnixAddr)
	l = s.limitListener(l)
	if s.opts.TLS != nil && !unix {
		l = tls.NewListener(l, s.opts.TLS)
	}
	err := s.http.Serve(l)
	if err == http.ErrServerClosed {
		return nil
	}
	return err
}

// Handler returns the server's HTTP handler, for tests that serve it
// themselves (connections then carry no sessions until bound).
func (s *Server) Handler() http.Handler { return s.http.Handler }

// Shutdown stops accepting, ends every long-poll and waits (up to ctx) for
// requests in progress and for every stream to close: once it returns,
// no client is still connected to this server.
func (s *Server) Shutdown(ctx context.Context) error {
	s.trim.halt()
	s.history.halt()
	s.b.Close()
	s.closeStreams()
	err := s.http.Shutdown(ctx)
	closed := make(chan struct{})
	go func() {
		s.streamsDone.Wait()
		close(closed)
	}()
	select {
	case <-closed:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	return err
}

func (s *Server) connState(c net.Conn, st http.ConnState) {
	if st != http.StateClosed && st != http.StateHijacked {
		return
	}
	v, ok := s.connInfos.LoadAndDelete(c)
	if !ok {
		return
	}
	ci := v.(*connInfo)
	ci.mu.Lock()
	sessions := ci.sessions
	ci.sessions = nil
	ci.mu.Unlock()
	for _, sess := range sessions {
		sess.DropConn()
	}
}

// bind records that the request's connection carries sess.
func bind(r *http.Request, sess *broker.Session) {
	ci, ok := r.Context().Value(connKey{}).(*connInfo)
	if !ok {
		return
	}
	ci.mu.Lock()
	defer ci.mu.Unlock()
	for _, x := range ci.sessions {
		if x == sess {
			return
		}
	}
	ci.sessions = append(ci.sessions, sess)
	sess.AddConn()
}

// guard refuses requests a web page could have made: a Host that is not
// an IP address, localhost or an allowed name (DNS rebinding), and an
// Origin that is not the switch's own (cross-site requests). Clients that
// are not browsers send no Origin and are not affected. With a token set,
// it also refuses requests without it (auth.go).
func (s *Server) guard(next http.Handler) http.Handler { return s.guardWith(next, true) }

// guardWith is guard, checking the token only if token is set.
func (s *Server) guardWith(next http.Handler, token bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.trim.note()
		if token && !s.authorized(w, r) {
			return
		}
		if !s.hostAllowed(r) {
			writeError(w, &httpError{http.StatusForbidden, wire.CodeForbidden, "host " + r.Host + " not allowed (DNS rebinding guard; see --allow-host)"})
			return
		}
		if o := r.Header.Get("Origin"); o != "" {
			u, err := url.Parse(o)
			if err != nil || u.Host != r.Host {
				writeError(w, &httpError{http.StatusForbidden, wire.CodeForbidden, "cross-origin request from " + o + " refused"})
				return
			}
		}
		if err := s.browserWrite(r); err != nil {
			writeError(w, err)
			return
		}
		if s.opts.Verbose {
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w, status: 200}
			next.ServeHTTP(rec, r)
			d := time.Since(start).Round(time.Microsecond)
			if rec.op != "" {
				// A hot-path operation: named as in wire.HotOps, as
				// the stream's log lines name it.
				s.opts.Log.Printf("%s %s %d %s %s", r.Method, r.URL.RequestURI(), rec.status, d, rec.op)
				return
			}
			s.opts.Log.Printf("%s %s %d %s", r.Method, r.URL.RequestURI(), rec.status, d)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) hostAllowed(r *http.Request) bool {
	if _, unix := r.Context().Value(http.LocalAddrContextKey).(*net.UnixAddr); unix {
		return true
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "" || isIP(host) || strings.EqualFold(host, "localhost") {
		return true
	}
	for _, a := range s.opts.AllowHosts {
		if strings.EqualFold(a, host) {
			return true
		}
	}
	return false
}

// statusRecorder keeps what the -v log line of a request tells.
type statusRecorder struct {
	http.ResponseWriter
	status int
	op     string // the wire.HotOps operation, if the request is one
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// isIP reports whether host is an IP address literal.
func isIP(host string) bool {
	_, err := netip.ParseAddr(host)
	return err == nil
}
