package lib

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"msw/internal/wire"
)

// Message is what a sender gives the switch: a payload of any bytes, a
// correlation id and an optional reply-to queue.
type Message = wire.Message

// Delivery is a message handed out by the switch, with its queue, id,
// delivery count, origin and enqueue time.
type Delivery = wire.Delivery

// Acks lists message ids by queue name.
type Acks = wire.Acks

// QueueInfo describes a queue.
type QueueInfo = wire.QueueInfo

// Snapshot is the switch's diagnostics view.
type Snapshot = wire.Snapshot

// TraceEvent is one entry of the switch's trace.
type TraceEvent = wire.TraceEvent

// TraceResponse is a batch of trace events.
type TraceResponse = wire.TraceResponse

// JSONDelivery is the JSON form of a delivery, as msw-recv --json prints it.
type JSONDelivery = wire.JSONDelivery

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
	// be reached: 0 tries once, WaitForever never gives up. Only requests
	// that are safe to repeat are retried after they were sent.
	Wait time.Duration
	// KeepaliveInterval is how often a logged-in client tells the switch
	// it is still there; default 30s.
	KeepaliveInterval time.Duration
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

	mu         sync.Mutex
	session    string
	epoch      uint64
	started    time.Time
	grace      time.Duration
	subs       []string
	created    []string
	transients []string
	closed     bool
	stopKeep   chan struct{}

	loginMu sync.Mutex // one login at a time

	rpc rpcState // Call and Serve (rpc.go)

	sendLines sendLines // concurrent sends, coalesced per queue (coalesce.go)

	streamMu sync.Mutex
	stream   *streamConn // the session's stream (stream.go), or nil
	noStream atomic.Bool // the switch has no stream: HTTP only

	push   pushOptions // set on the RPC loops' clients (consume.go)
	consMu sync.Mutex
	cons   *consumer
}

// New returns a client for the switch at opts.Addr. It does not connect.
func New(opts Options) (*Client, error) {
	ep, err := parseAddr(opts.Addr)
	if err != nil {
		return nil, err
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID()
	}
	if opts.KeepaliveInterval <= 0 {
		opts.KeepaliveInterval = 30 * time.Second
	}
	return &Client{
		ep:   ep,
		opts: opts,
		hc:   &http.Client{Transport: ep.transport()},
	}, nil
}

// DefaultClientID is "program[pid]@host" (wire.ClientID), as the switch
// shows clients.
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

// request describes one HTTP request.
type request struct {
	method, path string
	query        url.Values
	body         []byte
	contentType  string
	accept       string
	header       http.Header
	session      bool // carry Msw-Session, logging in first if need be
	idempotent   bool // safe to resend after a transport error
	once         bool // never retry, whatever Options.Wait says
	// namesMessages marks a body that names messages by id. Ids are only
	// good for the life of the switch that gave them out, so such a body
	// is never replayed to a restarted switch: it is replaced by
	// withoutMessages, or, if that is nil, the request fails with
	// ErrSwitchRestarted.
	namesMessages   bool
	withoutMessages []byte
	// stream, if set, is how the request goes on the session's stream
	// (stream.go), with body as its body; path and method are then only
	// for a switch without the stream.
	stream *wire.StreamRequest
}

// ErrSwitchRestarted is returned by a request naming messages (ack,
// release, withdraw) when the switch restarted since they were taken:
// they were lost with it, and their ids now mean other messages.
var ErrSwitchRestarted = errors.New("the switch restarted: the messages taken before are gone")

// sessionRef is the session a request was sent in.
type sessionRef struct {
	id      string
	epoch   uint64
	started time.Time // when the switch that gave the session started
}

// do sends r and returns the response for a 2xx status; any other status
// becomes an *Error. Connection failures are retried as Options.Wait
// allows, and a lost session is re-established once.
func (c *Client) do(ctx context.Context, r *request) (*http.Response, error) {
	relogged := false
	for {
		var ref sessionRef
		if r.session {
			var err error
			if ref, err = c.ensureRef(ctx); err != nil {
				return nil, err
			}
		}
		resp, err := c.roundTrip(ctx, r, ref.id)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode/100 == 2 {
			return resp, nil
		}
		e := readError(resp)
		if r.session && e.Code == wire.CodeUnknownSession && !relogged {
			relogged = true
			c.dropSession(ref.epoch)
			if r.namesMessages {
				now, err := c.ensureRef(ctx)
				if err != nil {
					return nil, err
				}
				if !now.started.Equal(ref.started) {
					if r.withoutMessages == nil {
						return nil, ErrSwitchRestarted
					}
					r.body = r.withoutMessages
				}
			}
			continue
		}
		return nil, e
	}
}

// roundTrip sends one request, retrying transport failures while allowed.
func (c *Client) roundTrip(ctx context.Context, r *request, sess string) (*http.Response, error) {
	if err := checkQueuePath(r.path); err != nil {
		return nil, err
	}
	var start time.Time
	backoff := 20 * time.Millisecond
	for {
		resp, err := c.exchange(ctx, r, sess)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		uerr := &unreachableError{addr: c.ep.display, err: err}
		if !isDialError(err) && !r.idempotent {
			return nil, uerr
		}
		if start.IsZero() {
			start = time.Now()
		}
		if r.once || c.opts.Wait != WaitForever && time.Since(start)+backoff > c.opts.Wait {
			return nil, uerr
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		backoff = min(backoff*2, time.Second)
	}
}

// exchange makes one attempt at r: on the session's stream if r can go
// there, else as an HTTP request.
func (c *Client) exchange(ctx context.Context, r *request, sess string) (*http.Response, error) {
	if r.stream != nil && sess != "" && !c.noStream.Load() {
		resp, err := c.streamRoundTrip(ctx, r, sess)
		if err == errUnsent {
			// The stream had broken (the switch restarted, say) before
			// the request left: send it on a new one.
			resp, err = c.streamRoundTrip(ctx, r, sess)
		}
		if err != errNoStream {
			return resp, err
		}
	}
	if r.method == "" {
		return nil, errNoStream // a request only the stream can carry
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.ep.base+r.path, bytes.NewReader(r.body))
	if err != nil {
		return nil, err
	}
	if r.query != nil {
		req.URL.RawQuery = r.query.Encode()
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.accept != "" {
		req.Header.Set("Accept", r.accept)
	}
	if sess != "" {
		req.Header.Set(wire.HeaderSession, sess)
	}
	return c.hc.Do(req)
}

// isDialError reports whether err happened before anything was sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func readError(resp *http.Response) *Error {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var we wire.Error
	if json.Unmarshal(body, &we) != nil || we.Message == "" {
		we.Message = fmt.Sprintf("switch answered %s", resp.Status)
	}
	return &Error{Status: resp.StatusCode, Code: we.Code, Message: we.Message}
}

// call does r and decodes a JSON answer into out (if not nil).
func (c *Client) call(ctx context.Context, r *request, out any) error {
	resp, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("switch at %s: bad answer to %s %s: %w", c.ep.display, r.method, r.path, err)
	}
	return nil
}

func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own wire types are marshalled
	}
	return b
}

// ensureSession returns the current session's token and epoch, logging in
// if there is none.
func (c *Client) ensureSession(ctx context.Context) (string, uint64, error) {
	ref, err := c.ensureRef(ctx)
	return ref.id, ref.epoch, err
}

// ensureRef returns the current session, logging in (and restoring
// queues and subscriptions) if there is none.
func (c *Client) ensureRef(ctx context.Context) (sessionRef, error) {
	c.mu.Lock()
	ref, closed := c.ref(), c.closed
	c.mu.Unlock()
	if closed {
		return sessionRef{}, errors.New("client closed")
	}
	if ref.id != "" {
		return ref, nil
	}
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	c.mu.Lock()
	ref = c.ref()
	c.mu.Unlock()
	if ref.id != "" {
		return ref, nil
	}
	return c.login(ctx)
}

// ref describes the current session; c.mu held.
func (c *Client) ref() sessionRef {
	return sessionRef{id: c.session, epoch: c.epoch, started: c.started}
}

// login starts a session and restores the client's state in it. loginMu held.
func (c *Client) login(ctx context.Context) (sessionRef, error) {
	var lr wire.LoginResponse
	err := c.call(ctx, &request{
		method: "POST", path: wire.PathSession, contentType: wire.ContentTypeJSON,
		body: jsonBody(wire.LoginRequest{ClientID: c.opts.ClientID}),
	}, &lr)
	if err != nil {
		return sessionRef{}, err
	}
	c.mu.Lock()
	created := slices.Clone(c.created)
	transients := slices.Clone(c.transients)
	subs := slices.Clone(c.subs)
	c.mu.Unlock()
	hdr := func(r *request) *request {
		r.header = http.Header{wire.HeaderSession: {lr.Session}}
		r.idempotent = true
		return r
	}
	for _, q := range created {
		if err := c.call(ctx, hdr(&request{method: "PUT", path: queuePath(q)}), nil); err != nil {
			return sessionRef{}, fmt.Errorf("restoring queue %s: %w", q, err)
		}
	}
	for _, q := range transients {
		err := c.call(ctx, hdr(&request{method: "POST", path: wire.PathTransient, contentType: wire.ContentTypeJSON,
			body: jsonBody(wire.TransientRequest{Name: q})}), nil)
		if err != nil {
			return sessionRef{}, fmt.Errorf("restoring transient queue %s: %w", q, err)
		}
	}
	if len(subs) > 0 {
		err := c.call(ctx, hdr(&request{method: "POST", path: wire.PathSubscribe, contentType: wire.ContentTypeJSON,
			body: jsonBody(wire.QueuesRequest{Queues: subs})}), nil)
		if err != nil {
			return sessionRef{}, fmt.Errorf("restoring subscriptions: %w", err)
		}
	}
	c.mu.Lock()
	c.session = lr.Session
	c.epoch++
	c.started = lr.SwitchStarted
	c.grace = time.Duration(lr.GraceMillis) * time.Millisecond
	ref := c.ref()
	if c.stopKeep == nil {
		c.stopKeep = make(chan struct{})
		go c.keepalive(c.stopKeep)
	}
	c.mu.Unlock()
	return ref, nil
}

// dropSession forgets the session of the given epoch, so that the next
// request logs in again.
func (c *Client) dropSession(epoch uint64) {
	c.mu.Lock()
	if c.epoch == epoch {
		c.session = ""
	}
	c.mu.Unlock()
}

// keepalive tells the switch the client is alive while it has a session,
// so that connections never all sit idle long enough to be closed.
func (c *Client) keepalive(stop chan struct{}) {
	t := time.NewTicker(c.opts.KeepaliveInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		c.mu.Lock()
		has := c.session != ""
		c.mu.Unlock()
		if !has {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c.call(ctx, &request{method: "POST", path: wire.PathKeepalive, session: true,
			stream: &wire.StreamRequest{Op: wire.StreamPing}}, nil)
		cancel()
	}
}

// Login makes sure the client has a session, waiting for the switch as
// Options.Wait allows. Other methods log in by themselves; Login is for
// a client that wants to know the switch is there before it goes on.
func (c *Client) Login(ctx context.Context) error {
	_, _, err := c.ensureSession(ctx)
	return err
}

// Close ends the client's session at once: the messages it holds go back
// to their queues and its transient queues are destroyed.
func (c *Client) Close() error {
	c.rpc.close()
	c.mu.Lock()
	sess := c.session
	c.session = ""
	c.closed = true
	if c.stopKeep != nil {
		close(c.stopKeep)
		c.stopKeep = nil
	}
	c.mu.Unlock()
	var err error
	if sess != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = c.call(ctx, &request{method: "DELETE", path: wire.PathSession, once: true,
			header: http.Header{wire.HeaderSession: {sess}}}, nil)
		if IsCode(err, CodeUnknownSession) || errors.Is(err, ErrUnreachable) {
			err = nil // the session is gone with the switch, or will end with our connections
		}
	}
	c.closeStream()
	c.hc.CloseIdleConnections()
	return err
}

func queuePath(name string) string {
	return wire.PathQueuePrefix + url.PathEscape(name)
}

// checkQueuePath refuses a request for a queue whose name the switch would
// refuse, before it is sent: names such as ".." would otherwise be folded
// into another path on the way.
func checkQueuePath(path string) error {
	rest, ok := strings.CutPrefix(path, wire.PathQueuePrefix)
	if !ok {
		return nil
	}
	seg, _, _ := strings.Cut(rest, "/")
	name, err := url.PathUnescape(seg)
	if err == nil {
		err = wire.ValidateName(name)
	}
	if err != nil {
		return &Error{Status: http.StatusBadRequest, Code: CodeBadQueueName, Message: err.Error()}
	}
	return nil
}

func remember(list []string, name string) []string {
	if slices.Contains(list, name) {
		return list
	}
	return append(list, name)
}

// Ping checks that the switch answers, waiting as Options.Wait allows.
func (c *Client) Ping(ctx context.Context) error {
	return c.call(ctx, &request{method: "GET", path: wire.PathHealth, idempotent: true}, nil)
}

// CreateQueue creates a persistent queue if it does not exist. The client
// creates it again if the switch restarts.
func (c *Client) CreateQueue(ctx context.Context, name string) error {
	if err := c.call(ctx, &request{method: "PUT", path: queuePath(name), session: true, idempotent: true}, nil); err != nil {
		return err
	}
	c.mu.Lock()
	c.created = remember(c.created, name)
	c.mu.Unlock()
	return nil
}

// CreateTransient creates a queue owned by the client's session, deleted
// with its messages when the session ends. With an empty name the switch
// picks a fresh one; the name is returned.
func (c *Client) CreateTransient(ctx context.Context, name string) (string, error) {
	var tr wire.TransientResponse
	err := c.call(ctx, &request{method: "POST", path: wire.PathTransient, contentType: wire.ContentTypeJSON,
		body: jsonBody(wire.TransientRequest{Name: name}), session: true, idempotent: name != ""}, &tr)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.transients = remember(c.transients, tr.Name)
	c.mu.Unlock()
	return tr.Name, nil
}

// DestroyQueue deletes a queue and its messages; with ifEmpty, only if it
// holds none (else an Error with CodeQueueNotEmpty).
func (c *Client) DestroyQueue(ctx context.Context, name string, ifEmpty bool) error {
	q := url.Values{}
	if ifEmpty {
		q.Set("if_empty", "1")
	}
	err := c.call(ctx, &request{method: "DELETE", path: queuePath(name), query: q}, nil)
	if err == nil {
		c.mu.Lock()
		c.created = slices.DeleteFunc(c.created, func(s string) bool { return s == name })
		c.transients = slices.DeleteFunc(c.transients, func(s string) bool { return s == name })
		c.subs = slices.DeleteFunc(c.subs, func(s string) bool { return s == name })
		c.mu.Unlock()
	}
	return err
}

// Send enqueues one message and returns its id.
//
// Sends to the same queue made at once from many goroutines share HTTP
// requests: while one is on the wire, the others wait for it and then go
// together in the next (each still gets its own id).
func (c *Client) Send(ctx context.Context, queue string, m Message) (uint64, error) {
	id, _, err := c.sendCoalesced(ctx, queue, &m)
	return id, err
}

// maxBatchBytes bounds one batch request's body.
const maxBatchBytes = 4 << 20

// SendBatch enqueues messages in order and returns the id of the first.
// Ids are consecutive within each request; a large batch is split into
// requests of at most a few MiB, each enqueued whole or not at all.
func (c *Client) SendBatch(ctx context.Context, queue string, ms []Message) (uint64, error) {
	var first uint64
	// Size the buffer for the first request up front: growing it from a
	// small start copied each batch about twice over (a quarter of
	// msw-send's CPU in its profile).
	need := 0
	for i := range ms {
		need += len(ms[i].Payload) + len(ms[i].CorrelationID) + len(ms[i].ReplyTo) + 48
		if need >= maxBatchBytes {
			need = maxBatchBytes + 64
			break
		}
	}
	buf := make([]byte, 0, need)
	flush := func() error {
		var sr wire.SendResponse
		err := c.call(ctx, &request{method: "POST", path: queuePath(queue) + "/messages",
			contentType: wire.ContentTypeFrames, body: buf, session: true,
			stream: &wire.StreamRequest{Op: wire.StreamSend, Queue: queue}}, &sr)
		if err != nil {
			return err
		}
		if first == 0 {
			first = sr.ID
		}
		buf = buf[:0]
		return nil
	}
	if len(ms) == 0 {
		return 0, nil
	}
	for i := range ms {
		if len(buf) > 0 && len(buf)+len(ms[i].Payload)+64 > maxBatchBytes {
			if err := flush(); err != nil {
				return first, err
			}
		}
		buf = wire.AppendSendFrame(buf, &ms[i])
	}
	return first, flush()
}

// Subscribe adds queues to those the client's transfers take from. The
// client subscribes again if the session is re-established.
func (c *Client) Subscribe(ctx context.Context, queues ...string) error {
	err := c.call(ctx, &request{method: "POST", path: wire.PathSubscribe, contentType: wire.ContentTypeJSON,
		body: jsonBody(wire.QueuesRequest{Queues: queues}), session: true, idempotent: true}, nil)
	if err != nil {
		return err
	}
	c.mu.Lock()
	for _, q := range queues {
		c.subs = remember(c.subs, q)
	}
	c.mu.Unlock()
	return nil
}

// Unsubscribe stops taking from queues.
func (c *Client) Unsubscribe(ctx context.Context, queues ...string) error {
	c.mu.Lock()
	c.subs = slices.DeleteFunc(c.subs, func(s string) bool { return slices.Contains(queues, s) })
	c.mu.Unlock()
	return c.call(ctx, &request{method: "POST", path: wire.PathUnsubscribe, contentType: wire.ContentTypeJSON,
		body: jsonBody(wire.QueuesRequest{Queues: queues}), session: true, idempotent: true}, nil)
}

// TransferOptions shape one Transfer.
type TransferOptions struct {
	// Max is the most messages to take; 0 means the switch's default.
	Max int
	// Timeout is how long to wait for a first message; the switch clamps
	// it to its maximum (60s by default).
	Timeout time.Duration
	// Acks are acknowledged before taking messages.
	Acks Acks
}

// Transfer waits for messages on the subscribed queues and takes them:
// each stays in flight, held by this client, until acked (Ack, or the
// Acks of a later Transfer) or released. An empty result means the
// timeout passed. If the switch restarted since the messages in Acks were
// taken, those acks are dropped (the messages were lost with it).
//
// If ctx ends first, the transfer is called off at the switch, and
// messages it took anyway go back to their queues. (Against a switch
// without the stream, they stay held by this client until released, or
// until Close gives them back.)
func (c *Client) Transfer(ctx context.Context, o TransferOptions) ([]Delivery, error) {
	tr := wire.TransferRequest{Acks: o.Acks, Max: o.Max, TimeoutMillis: o.Timeout.Milliseconds()}
	r := &request{method: "POST", path: wire.PathTransfer, contentType: wire.ContentTypeJSON,
		accept: wire.ContentTypeFrames, session: true, body: jsonBody(tr),
		stream: &wire.StreamRequest{Op: wire.StreamTransfer}}
	if len(tr.Acks) > 0 {
		tr.Acks = nil
		r.namesMessages, r.withoutMessages = true, jsonBody(tr)
	}
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	return c.readDeliveries(resp)
}

func (c *Client) readDeliveries(resp *http.Response) ([]Delivery, error) {
	defer resp.Body.Close()
	fr := wire.NewFrameReader(resp.Body, 1<<62)
	defer fr.Close()
	var out []Delivery
	for {
		var d Delivery
		err := fr.Next(&d)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, &unreachableError{addr: c.ep.display, err: err}
		}
		out = append(out, d)
	}
}

// Ack deletes messages; it fails with CodeNoSuchMessage if one of them is
// already gone (all others are still acked), and with ErrSwitchRestarted
// if the switch restarted since they were taken.
func (c *Client) Ack(ctx context.Context, acks Acks) error {
	return c.call(ctx, &request{method: "POST", path: wire.PathAck, contentType: wire.ContentTypeJSON,
		body: jsonBody(wire.AckRequest{Acks: acks}), session: true, idempotent: true, namesMessages: true,
		stream: &wire.StreamRequest{Op: wire.StreamAck}}, nil)
}

// Release gives messages the client holds back to their queues, to be
// delivered again (to this client or another) ahead of new ones.
func (c *Client) Release(ctx context.Context, acks Acks) error {
	return c.call(ctx, &request{method: "POST", path: wire.PathRelease, contentType: wire.ContentTypeJSON,
		body: jsonBody(wire.AckRequest{Acks: acks}), session: true, idempotent: true, namesMessages: true,
		stream: &wire.StreamRequest{Op: wire.StreamRelease}}, nil)
}

// Withdraw deletes a message no receiver has taken yet; it fails with
// CodeInFlight if one has, and with ErrSwitchRestarted if the switch
// restarted since it was sent.
func (c *Client) Withdraw(ctx context.Context, queue string, id uint64) error {
	return c.call(ctx, &request{method: "DELETE", path: queuePath(queue) + "/messages/" + strconv.FormatUint(id, 10),
		session: true, idempotent: true, namesMessages: true,
		stream: &wire.StreamRequest{Op: wire.StreamWithdraw, Queue: queue, Arg: id}}, nil)
}

// Peek returns up to max ready messages of a queue without taking them.
func (c *Client) Peek(ctx context.Context, queue string, max int) ([]Delivery, error) {
	resp, err := c.do(ctx, &request{method: "GET", path: queuePath(queue) + "/messages",
		query: url.Values{"max": {strconv.Itoa(max)}}, accept: wire.ContentTypeFrames, idempotent: true})
	if err != nil {
		return nil, err
	}
	return c.readDeliveries(resp)
}

// List describes the queues whose names start with prefix: all of them,
// or only those someone subscribes to or polled recently.
func (c *Client) List(ctx context.Context, prefix string, all bool) ([]QueueInfo, error) {
	q := url.Values{}
	if prefix != "" {
		q.Set("prefix", prefix)
	}
	if all {
		q.Set("all", "1")
	}
	var qr wire.QueuesResponse
	err := c.call(ctx, &request{method: "GET", path: wire.PathQueues, query: q, idempotent: true}, &qr)
	return qr.Queues, err
}

// Info describes one queue.
func (c *Client) Info(ctx context.Context, queue string) (QueueInfo, error) {
	var qi QueueInfo
	err := c.call(ctx, &request{method: "GET", path: queuePath(queue), idempotent: true}, &qi)
	return qi, err
}

// Diagnostics returns the switch's snapshot, with up to maxMessages
// messages per queue.
func (c *Client) Diagnostics(ctx context.Context, maxMessages int) (*Snapshot, error) {
	var s Snapshot
	err := c.call(ctx, &request{method: "GET", path: wire.PathDiagnostics,
		query: url.Values{"max_messages": {strconv.Itoa(maxMessages)}}, idempotent: true}, &s)
	return &s, err
}

// Trace returns trace events after sequence number after, waiting up to
// timeout for one.
func (c *Client) Trace(ctx context.Context, after uint64, max int, timeout time.Duration) (*TraceResponse, error) {
	var tr TraceResponse
	q := url.Values{"after": {strconv.FormatUint(after, 10)}, "timeout_ms": {strconv.FormatInt(timeout.Milliseconds(), 10)}}
	if max > 0 {
		q.Set("max", strconv.Itoa(max))
	}
	err := c.call(ctx, &request{method: "GET", path: wire.PathTrace, query: q, idempotent: true}, &tr)
	return &tr, err
}

// Shutdown asks the switch to stop.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.call(ctx, &request{method: "POST", path: wire.PathShutdown}, nil)
}
