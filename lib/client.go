package lib

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"msw/internal/wire"
)

// WaitForever, as Options.Wait, retries connecting for as long as it takes.
const WaitForever time.Duration = -1

// Options configure a Client.
type Options struct {
	// Addr is the switch's address: host:port, http://host:port or
	// unix:/path. Empty means DefaultAddr.
	Addr string
	// ClientID names the client in the switch's diagnostics. Empty means
	// "program[pid]@host".
	ClientID string
	// Wait is how long a request keeps retrying while the switch cannot
	// be reached: 0 tries once, WaitForever never gives up. A request
	// whose connection broke after it was sent (the switch restarted,
	// say) is sent again at once on a new connection, then as Wait
	// allows, if it is safe to repeat or is a send or a transfer (see
	// "Delivery" in the package documentation); other requests fail.
	Wait time.Duration
	// Waiting, if set, is called when a request has waited a second for
	// a switch it cannot reach, with the switch's address and why it
	// cannot be reached ("connection refused"); once for each request
	// that waits that long. Commands use it to say what they wait for.
	Waiting func(addr, why string)
	// KeepaliveInterval is how often a logged-in client tells the switch
	// it is still there; default 30s.
	KeepaliveInterval time.Duration
	// Token is the switch's token, sent with every request, when it was
	// started with one (msw-switch --token-file; commands take it from
	// MSW_TOKEN or --token-file). Without it such a switch answers 401
	// (CodeUnauthorized).
	Token string
	// TLS configures the connection to an https:// address: LoadCA makes
	// one that trusts a switch's own certificate authority. Nil trusts
	// the system's roots.
	TLS *tls.Config
}

// Client talks to one switch. It logs in on first need and keeps one
// session for its whole life: if the switch restarts, or the session was
// ended, the next request logs in again and restores the queues it
// created, its transient queues and its subscriptions. A Client is safe
// for concurrent use.
type Client struct {
	ep   endpoint
	opts Options
	hc   *http.Client

	loginMu sync.Mutex // one login at a time (session.go)

	mu       sync.Mutex
	session  string // the session's token; "" until logged in (again)
	epoch    uint64 // counts logins
	started  time.Time
	lives    map[string]time.Time // queue -> the life its last taken messages came from (lives.go)
	grace    time.Duration
	maxLoad  int         // the switch's payload limit, as its login said
	restore  restoreList // what a login sets up again (session.go)
	closed   bool
	stopKeep chan struct{}          // stops the keep-alive
	caller   atomic.Pointer[caller] // Call's machinery (caller.go), made on first use under mu; read without it
	done     chan struct{}          // closed by Close: ends calls and serves

	sendLines sendLines  // concurrent sends, coalesced per queue (coalesce.go)
	async     asyncSends // SendAsync's sends under way (sendasync.go)

	streamMu sync.Mutex
	stream   *streamConn // the session's stream (stream.go), or nil
	noStream atomic.Bool // the switch has no stream: HTTP only

	push   pushOptions // set on the RPC loops' clients (consume.go)
	consMu sync.Mutex
	cons   *consumer
}

// New returns a client for the switch at opts.Addr. It does not connect.
func New(opts Options) (*Client, error) {
	ep, err := parseAddr(opts.Addr, opts.TLS)
	if err != nil {
		return nil, err
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID()
	}
	if opts.KeepaliveInterval <= 0 {
		opts.KeepaliveInterval = 30 * time.Second
	}
	return newClient(ep, opts), nil
}

func newClient(ep endpoint, opts Options) *Client {
	return &Client{
		ep:   ep,
		opts: opts,
		hc:   &http.Client{Transport: ep.transport()},
		done: make(chan struct{}),
	}
}

// child returns a client with c's options and a session of its own, for
// Call and Serve.
func (c *Client) child() *Client { return newClient(c.ep, c.opts) }

// DefaultClientID is "program[pid]@host", the name the switch shows a
// client by when Options.ClientID is empty.
func DefaultClientID() string {
	host, _ := os.Hostname()
	return wire.ClientID(filepath.Base(os.Args[0]), os.Getpid(), host)
}

// Addr returns the switch's address as given in errors.
func (c *Client) Addr() string { return c.ep.display }

// ClientID returns the name the client logs in with.
func (c *Client) ClientID() string { return c.opts.ClientID }

// Epoch counts the client's logins: it changes when the session had to be
// re-established, for instance because the switch restarted and lost
// what it held.
func (c *Client) Epoch() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// MaxPayload returns the switch's payload limit in bytes, as it said when
// the client last logged in; before the first login (or from a switch
// that does not say), the default limit.
func (c *Client) MaxPayload() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.maxLoad > 0 {
		return c.maxLoad
	}
	return wire.DefaultMaxPayload
}

// Close ends the client's session at once: the messages it holds go back
// to their queues and its transient queues are destroyed. Calls and
// serves in progress, and every later request, fail with ErrClosed.
func (c *Client) Close() error { return c.close(5 * time.Second) }

// close is Close, waiting up to limit for the switch to end the session.
func (c *Client) close(limit time.Duration) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	k := c.caller.Load()
	c.mu.Unlock()
	if k != nil {
		k.close()
	}
	c.mu.Lock()
	sess := c.session
	c.session = ""
	if c.stopKeep != nil {
		close(c.stopKeep)
		c.stopKeep = nil
	}
	c.mu.Unlock()
	err := c.logout(sess, limit)
	c.closeStream()
	c.hc.CloseIdleConnections()
	return err
}

// logout ends session sess, trying once: a switch that cannot be reached
// has lost the session, or ends it once the connections are gone.
func (c *Client) logout(sess string, limit time.Duration) error {
	if sess == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	err := c.call(ctx, &request{method: "DELETE", path: wire.PathSession, sess: sess, once: true}, nil)
	if IsCode(err, CodeUnknownSession) || errors.Is(err, ErrUnreachable) {
		err = nil // the session is gone with the switch, or will end with our connections
	}
	return err
}
