package server

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"msw/internal/wire"
)

// Limits bound what one client, or many, can make the server hold: open
// connections, stream requests left waiting, and the time a slow client
// may take over each part of a request. Zero fields take the defaults.
type Limits struct {
	// MaxConns bounds open client connections (streams included). A
	// connection past it is answered 429 limit_reached and closed. The
	// default is DefaultConns().
	MaxConns int
	// MaxWaiting bounds the transfers and consumers left waiting on all
	// streams together; MaxWaitingPerStream those of one stream. A
	// request past either is answered 429 limit_reached.
	MaxWaiting, MaxWaitingPerStream int
	// HeaderTimeout is how long a client may take to send a request's
	// headers; ReadTimeout its whole request, body included.
	HeaderTimeout, ReadTimeout time.Duration
	// WriteTimeout is how long an answer may take to be written (after
	// the longest long-poll), on HTTP and on a stream: a client that
	// stops reading is dropped.
	WriteTimeout time.Duration
	// IdleTimeout closes an HTTP connection with no request in flight;
	// StreamIdleTimeout a stream that has sent nothing (clients send a
	// keep-alive every 30 s).
	IdleTimeout, StreamIdleTimeout time.Duration
	// FrameTimeout is how long a stream frame may take to arrive once
	// its length is read, plus one second per FrameRate bytes: a frame
	// that stops part-way is dropped with its buffer and the stream.
	FrameTimeout time.Duration
	FrameRate    int
}

// Defaults for Limits.
const (
	DefaultMaxConns            = 10000
	DefaultMaxWaiting          = 20000
	DefaultMaxWaitingPerStream = 1000
	DefaultHeaderTimeout       = 10 * time.Second
	DefaultReadTimeout         = 2 * time.Minute
	DefaultIdleTimeout         = 2 * time.Minute
	DefaultStreamIdleTimeout   = 2 * time.Minute
	DefaultFrameTimeout        = 30 * time.Second
	DefaultFrameRate           = 1 << 20
)

// ConnReserve is what the default connection bound leaves of the
// process's open-file limit for the switch's own files: listeners, the
// data directory's segments, the log.
const ConnReserve = 128

// DefaultConns is the connection bound a switch gets unless told one:
// DefaultMaxConns, or the process's open-file limit (RLIMIT_NOFILE, which
// Go raises to its hard limit at start) less ConnReserve where that is
// lower, and never under 16. Past it a connection is refused with a 429
// while the switch still has descriptors to answer with, instead of
// accept failing for everyone.
func DefaultConns() int {
	n := DefaultMaxConns
	if fl := fileLimit(); fl > 0 && fl-ConnReserve < n {
		n = max(fl-ConnReserve, 16)
	}
	return n
}

// fileLimit is the process's limit on open files, 0 if unknown.
func fileLimit() int {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 0
	}
	return int(min(rl.Cur, 1<<30))
}

func (l *Limits) fill(maxWait time.Duration) {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if l.MaxConns <= 0 {
		l.MaxConns = DefaultConns()
	}
	def(&l.MaxWaiting, DefaultMaxWaiting)
	def(&l.MaxWaitingPerStream, DefaultMaxWaitingPerStream)
	def(&l.FrameRate, DefaultFrameRate)
	defDur(&l.HeaderTimeout, DefaultHeaderTimeout)
	defDur(&l.ReadTimeout, DefaultReadTimeout)
	defDur(&l.WriteTimeout, maxWait+30*time.Second)
	defDur(&l.IdleTimeout, DefaultIdleTimeout)
	defDur(&l.StreamIdleTimeout, DefaultStreamIdleTimeout)
	defDur(&l.FrameTimeout, DefaultFrameTimeout)
}

// limitError is a 429 naming the bound reached.
func limitError(what string, limit int) error {
	return &httpError{http.StatusTooManyRequests, wire.CodeLimit,
		"limit reached: " + strconv.Itoa(limit) + " " + what + ", the switch's limit"}
}

// limitListener counts the connections it accepts and turns away those
// past Limits.MaxConns with a one-line 429, so that a flood of idle
// connections cannot take the switch's file descriptors from the clients
// it serves.
type limitListener struct {
	net.Listener
	s *Server
}

func (s *Server) limitListener(l net.Listener) net.Listener { return &limitListener{l, s} }

// refusalWait bounds how long a refused connection is given to take its
// answer.
const refusalWait = time.Second

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		max := int64(l.s.opts.Limits.MaxConns)
		if l.s.conns.Add(1) > max {
			l.s.conns.Add(-1)
			go refuseConn(c, int(max))
			continue
		}
		return &countedConn{Conn: c, s: l.s}, nil
	}
}

// refuseConn answers a connection past the bound and closes it.
func refuseConn(c net.Conn, max int) {
	body := `{"code":"` + wire.CodeLimit + `","error":"limit reached: ` + strconv.Itoa(max) + ` connections, the switch's limit"}` + "\n"
	c.SetDeadline(time.Now().Add(refusalWait))
	c.Write([]byte("HTTP/1.1 429 Too Many Requests\r\nContent-Type: " + wire.ContentTypeJSON +
		"\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body))
	c.Close()
}

// countedConn gives its place back once closed.
type countedConn struct {
	net.Conn
	s    *Server
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.s.conns.Add(-1) })
	return err
}

// Conns returns the number of open client connections.
func (s *Server) Conns() int { return int(s.conns.Load()) }
