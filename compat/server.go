package compat

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"msw/broker"
	"msw/server"
)

// Options configure a Server.
type Options struct {
	// Log receives the HTTP server's own error lines; nil discards them.
	Log *log.Logger
	// OnShutdown is called once when a client sends POST /shutdown.
	OnShutdown func()
}

// Server serves the original protocol for one broker.
type Server struct {
	b       *broker.Broker
	opts    Options
	http    *http.Server
	logins  logins
	polls   polls
	stop    sync.Once
	cancel  context.CancelFunc // ends every request in progress
	started time.Time
}

// New returns a compat server for b. Its requests pass through msw's
// server's browser guard (and so its -v request log), when msw is given.
func New(b *broker.Broker, msw *server.Server, opts Options) *Server {
	if opts.Log == nil {
		opts.Log = log.New(discard{}, "", 0)
	}
	s := &Server{b: b, opts: opts, started: b.Started()}
	s.logins = logins{b: b, byToken: map[string]*broker.Session{}}
	var h http.Handler = http.HandlerFunc(s.route)
	if msw != nil {
		h = msw.Guard(h)
	}
	base, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.http = &http.Server{
		Handler: h,
		// No read, write or idle timeout: a client's event connection
		// sits in 30 s long-polls, its request connection may be idle
		// for hours, and a connection closed under it costs the client
		// its session. Only a request's header must arrive in time, once
		// its first bytes have.
		ReadHeaderTimeout: time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          opts.Log,
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnContext:       s.logins.connContext,
		ConnState:         s.logins.connState,
	}
	return s
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Serve accepts connections on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	err := s.http.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, ends every long-poll and waits (up to ctx) for
// requests in progress.
func (s *Server) Shutdown(ctx context.Context) error {
	s.cancel()
	return s.http.Shutdown(ctx)
}

// CheckAddr checks an address to serve the original protocol on:
// unix:/path (or just an absolute path), or a loopback host:port. The
// protocol has no authentication, so it is never served beyond the host.
func CheckAddr(addr string) error {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if path == "" {
			return errors.New("unix: empty socket path")
		}
		return nil
	}
	if strings.HasPrefix(addr, "/") {
		return nil
	}
	host, _, err := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(addr, "http://"), "/"))
	if err != nil {
		return fmt.Errorf("%q: want unix:/path or a loopback host:port", addr)
	}
	if host == "" || strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q: not a loopback address (the original protocol has no authentication: serve it on a Unix socket or on loopback)", addr)
}

// IsUnix reports whether an address CheckAddr accepts is a Unix socket.
func IsUnix(addr string) bool {
	return strings.HasPrefix(addr, "unix:") || strings.HasPrefix(addr, "/")
}

// CheckLocked checks an address to serve the original protocol on when
// msw's own listeners demand a token: the original protocol carries
// none, so on TCP it would let every local user past the token. A Unix
// socket is guarded by its file permissions (the switch's --socket-mode
// and --socket-group) and is allowed; TCP only if insecure is set (the
// operator's --compat-insecure).
func CheckLocked(addr string, insecure bool) error {
	if IsUnix(addr) || insecure {
		return nil
	}
	return fmt.Errorf("--compat %s: the original protocol has no token, so on TCP any local user would reach the queues without one: serve it on a Unix socket (guarded by --socket-mode and --socket-group), or give --compat-insecure", addr)
}

// Listen opens a listener for an address CheckAddr accepts; Unix sockets
// get the given mode.
func Listen(addr string, mode fs.FileMode) (net.Listener, error) {
	if err := CheckAddr(addr); err != nil {
		return nil, err
	}
	if strings.HasPrefix(addr, "/") {
		addr = "unix:" + addr
	}
	return server.Listen(addr, mode)
}
