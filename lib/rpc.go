package lib

// RPC over named queues, the switch's request/reply pattern.
//
// Caller side. Call works through a session of its own (a child client
// with the same options), so that its transfers never take messages meant
// for the rest of the program. That session owns one transient reply
// queue, created on the first call, and one background loop that takes
// its replies; the stream's reader hands each reply to the call waiting
// for its correlation id (consume.go: the switch pushes replies as they
// come and acks them as it pushes; against a switch without the stream
// the loop long-polls and acks by piggy-backing ids on the next
// transfer). A call that gives up withdraws its request if no server has
// taken it; a switch restart (the session's epoch changes) makes every
// waiting call send its request again.
//
// Server side. Serve also works through a session of its own. The switch
// pushes it requests while fewer than its concurrency are unacked (or its
// loop asks for as many as it has free handler slots); it runs the
// handler for each concurrently, sends the reply, and only then acks the
// request — in one step on the stream — so a server that dies
// mid-request loses nothing: the switch gives the request to the next
// server.
//
// Message ids are per switch instance: after a restart the same queue
// and id may name a different message. Acks, releases and withdrawals are
// therefore bound to the session (epoch) the message was seen in, and
// dropped once that session is gone, instead of being applied in a new
// one.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"msw/internal/wire"
)

// Tuning of the RPC loops.
const (
	// rpcPoll is how long the reply and serve loops long-poll.
	rpcPoll = 30 * time.Second
	// minBackoff and maxBackoff bound the pause between retries while the
	// switch cannot be reached.
	minBackoff = 20 * time.Millisecond
	maxBackoff = time.Second
	// ackDelay is how long a served request's ack waits to ride on the
	// serve loop's next transfer before it is sent on its own.
	ackDelay = 5 * time.Millisecond
	// timeoutSlack is how long past ServeOptions.Timeout a handler that
	// ignores its context is waited for before the timeout reply is sent.
	timeoutSlack = time.Second
	// handlerExitWait bounds how long Serve waits, after cancelling them,
	// for handlers to return before it returns itself.
	handlerExitWait = 5 * time.Second
	// replyWindow is how many replies the switch pushes to a caller
	// before it takes them.
	replyWindow = 1000
)

// StatusTimeout is the failure status of a reply sent because a request
// ran past ServeOptions.Timeout, as timeout(1) exits.
const StatusTimeout = 124

// errClientClosed is returned by calls on a closed client.
var errClientClosed = errors.New("client closed")

// ErrGiveBack, returned by a Handler (or wrapped in its error), gives the
// request back to its queue, to be delivered again (to this server or
// another), instead of sending a reply.
var ErrGiveBack = errors.New("request given back")

// errStaleSession means the session a message was seen in is gone.
var errStaleSession = errors.New("session changed")

// RemoteError is a failure reply: the server's handler failed (for
// msw-serve, the program it ran exited non-zero).
type RemoteError struct {
	// Status is non-zero: the failed program's exit status, 1 when it
	// had none.
	Status int
	// Message is the error text the server sent.
	Message string
}

func (e *RemoteError) Error() string {
	msg := strings.TrimRight(e.Message, "\n")
	if msg == "" {
		return fmt.Sprintf("remote failure with status %d", e.Status)
	}
	return msg
}

// Request is one request being served.
type Request struct {
	Queue         string // the queue it was taken from
	CorrelationID string // echoed in the reply
	ReplyTo       string // where the reply goes; empty: none is sent
	ID            uint64 // message id in the queue
	DeliveryCount uint32 // 1 on first delivery
	Redelivered   bool   // handed out before (to a server that did not ack it)
	Payload       []byte
}

// Handler answers a request. A non-nil error sends a failure reply: the
// Status and Message of a *RemoteError, else status 1 and the error's
// text; ErrGiveBack sends none and gives the request back instead.
type Handler func(ctx context.Context, req *Request) ([]byte, error)

// ServeOptions shape a Serve.
type ServeOptions struct {
	// Concurrency is how many requests are handled at once; default 1.
	Concurrency int
	// Timeout bounds each request; 0 means none. The handler's context
	// expires after Timeout; the failure reply then carries status
	// StatusTimeout unless the handler returns a *RemoteError.
	Timeout time.Duration
	// Grace is how long, once ctx is done, running handlers may finish
	// and reply; after it, their requests are given back to the queue
	// (to be redelivered) and their contexts cancelled. 0 gives them back
	// at once.
	Grace time.Duration
	// Logf, if set, receives one line per notable event: the switch
	// becoming unreachable and reachable again, a reply that could not
	// be delivered.
	Logf func(format string, args ...any)
}

// rpcState is a Client's RPC machinery.
type rpcState struct {
	mu     sync.Mutex
	caller *caller
	closed bool
	done   chan struct{} // closed by Client.Close
}

func (r *rpcState) doneChan() chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done == nil {
		r.done = make(chan struct{})
	}
	return r.done
}

// close stops the caller and every Serve of the client.
func (r *rpcState) close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	if r.done == nil {
		r.done = make(chan struct{})
	}
	close(r.done)
	k := r.caller
	r.mu.Unlock()
	if k != nil {
		k.close()
	}
}

// child returns a client with c's options and a session of its own.
func (c *Client) child() *Client {
	return &Client{ep: c.ep, opts: c.opts, hc: &http.Client{Transport: c.ep.transport()}}
}

// doIn is do bound to one session: with want non-zero, it fails with
// errStaleSession rather than carry the request in a session other than
// that of epoch want. It returns the epoch the request was carried in.
// With once, a switch that cannot be reached is not waited for (for
// clean-up that is moot when the switch is gone).
func (c *Client) doIn(ctx context.Context, r *request, want uint64, once bool) (*http.Response, uint64, error) {
	relogged := false
	for {
		if want != 0 {
			c.mu.Lock()
			cur, sess := c.epoch, c.session
			c.mu.Unlock()
			if cur != want || sess == "" {
				return nil, cur, errStaleSession
			}
		}
		sess, epoch, err := c.ensureSession(ctx)
		if err != nil {
			return nil, epoch, err
		}
		if want != 0 && epoch != want {
			return nil, epoch, errStaleSession
		}
		var resp *http.Response
		if once {
			resp, err = c.tryOnce(ctx, r, sess)
		} else {
			resp, err = c.roundTrip(ctx, r, sess)
		}
		if err != nil {
			return nil, epoch, err
		}
		if resp.StatusCode/100 == 2 {
			return resp, epoch, nil
		}
		e := readError(resp)
		if e.Code == wire.CodeUnknownSession {
			c.dropSession(epoch)
			if want != 0 {
				return nil, epoch, errStaleSession
			}
			if !relogged {
				relogged = true
				continue
			}
		}
		return nil, epoch, e
	}
}

// tryOnce sends one request in session sess, without retrying.
func (c *Client) tryOnce(ctx context.Context, r *request, sess string) (*http.Response, error) {
	resp, err := c.exchange(ctx, r, sess)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &unreachableError{addr: c.ep.display, err: err}
	}
	return resp, nil
}

// callIn is doIn discarding the answer's body.
func (c *Client) callIn(ctx context.Context, r *request, want uint64, once bool) error {
	resp, _, err := c.doIn(ctx, r, want, once)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// transferIn is Transfer that applies o.Acks only in the session of
// ackEpoch (dropping them if that session is gone). It returns the epoch
// of the session now holding the deliveries.
func (c *Client) transferIn(ctx context.Context, o TransferOptions, ackEpoch uint64) ([]Delivery, uint64, error) {
	if c.push.window > 0 && !c.noStream.Load() {
		ds, epoch, err := c.transferPushed(ctx, o, ackEpoch)
		if !errors.Is(err, errNoStream) {
			return ds, epoch, err
		}
	}
	mk := func(acks Acks) *request {
		return &request{method: "POST", path: wire.PathTransfer, contentType: wire.ContentTypeJSON,
			accept: wire.ContentTypeFrames, stream: &wire.StreamRequest{Op: wire.StreamTransfer},
			body: jsonBody(wire.TransferRequest{Acks: acks, Max: o.Max, TimeoutMillis: o.Timeout.Milliseconds()})}
	}
	var resp *http.Response
	var epoch uint64
	var err error
	if len(o.Acks) > 0 && ackEpoch != 0 {
		resp, epoch, err = c.doIn(ctx, mk(o.Acks), ackEpoch, false)
		if err != nil && err != errStaleSession {
			return nil, epoch, err
		}
	}
	if resp == nil {
		if resp, epoch, err = c.doIn(ctx, mk(nil), 0, false); err != nil {
			return nil, epoch, err
		}
	}
	ds, err := c.readDeliveries(resp)
	return ds, epoch, err
}

// acksIn acks or releases (path) messages seen in the session of epoch.
func (c *Client) acksIn(ctx context.Context, path string, acks Acks, epoch uint64, once bool) error {
	op := wire.StreamAck
	if path == wire.PathRelease {
		op = wire.StreamRelease
	}
	err := c.callIn(ctx, &request{method: "POST", path: path, contentType: wire.ContentTypeJSON,
		body: jsonBody(wire.AckRequest{Acks: acks}), idempotent: true, stream: &wire.StreamRequest{Op: op}}, epoch, once)
	if IsCode(err, CodeNoSuchMessage) {
		return nil
	}
	return err
}

// sendOne enqueues one message, framed so that any correlation id and
// payload bytes go through unchanged. It returns the message's id and the
// epoch of the session that carried it. Concurrent sends to one queue
// (many callers' requests, a server's replies) share requests: see
// coalesce.go.
func (c *Client) sendOne(ctx context.Context, queue string, m *Message) (uint64, uint64, error) {
	return c.sendCoalesced(ctx, queue, m)
}

// closeChild ends a child client's session, trying only briefly: a
// switch that cannot be reached has lost the session anyway, or ends it
// once the connections are gone.
func (c *Client) closeChild() {
	c.mu.Lock()
	sess := c.session
	c.session = ""
	c.mu.Unlock()
	if sess != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if resp, err := c.tryOnce(ctx, &request{method: "DELETE", path: wire.PathSession}, sess); err == nil {
			resp.Body.Close()
		}
		cancel()
	}
	c.Close()
}

// retryable reports whether err may pass once the switch is back.
func retryable(err error) bool {
	return errors.Is(err, ErrUnreachable) || IsCode(err, CodeShuttingDown) ||
		IsCode(err, CodeUnknownSession) || err == errStaleSession
}

// sleepCtx pauses for d; it reports false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// ---- caller ----

// caller is the Call side of a client.
type caller struct {
	cl     *Client
	prefix string // of correlation ids
	seq    atomic.Uint64
	done   chan struct{} // the parent client closed

	setupMu sync.Mutex
	replyQ  atomic.Pointer[string]
	madeQ   string   // reply queue created but not yet subscribed
	queues  sync.Map // service queues created

	mu      sync.Mutex
	pending map[string]*pendingCall

	ctx      context.Context // the reply loop's
	cancel   context.CancelFunc
	loopDone chan struct{}
}

// pendingCall is a call waiting for its reply.
type pendingCall struct {
	reply  chan Delivery // gets the reply, once
	resend chan struct{} // nudged when the session may have changed
}

// getCaller returns the client's caller, making it on first use.
func (c *Client) getCaller() (*caller, error) {
	r := &c.rpc
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errClientClosed
	}
	if r.caller == nil {
		if r.done == nil {
			r.done = make(chan struct{})
		}
		var rnd [6]byte
		rand.Read(rnd[:])
		ctx, cancel := context.WithCancel(context.Background())
		cl := c.child()
		// Replies are pushed as they come, acked as pushed: the reply
		// queue is this session's own and dies with it.
		cl.push = pushOptions{window: replyWindow, autoAck: true}
		r.caller = &caller{
			cl:       cl,
			prefix:   hex.EncodeToString(rnd[:]) + "-",
			done:     r.done,
			pending:  make(map[string]*pendingCall),
			ctx:      ctx,
			cancel:   cancel,
			loopDone: make(chan struct{}),
		}
		// Replies go straight from the stream to their calls.
		cl.push.deliver = r.caller.dispatch
	}
	return r.caller, nil
}

func (k *caller) close() {
	k.cancel()
	if k.replyQ.Load() != nil {
		<-k.loopDone
	}
	k.cl.closeChild()
}

// setup creates and subscribes the reply queue and starts the reply loop,
// once; it returns the reply queue's name.
func (k *caller) setup(ctx context.Context) (string, error) {
	if q := k.replyQ.Load(); q != nil {
		return *q, nil
	}
	k.setupMu.Lock()
	defer k.setupMu.Unlock()
	if q := k.replyQ.Load(); q != nil {
		return *q, nil
	}
	if k.ctx.Err() != nil {
		return "", errClientClosed
	}
	if k.madeQ == "" {
		name, err := k.cl.CreateTransient(ctx, "")
		if err != nil {
			return "", err
		}
		k.madeQ = name
	}
	if err := k.cl.Subscribe(ctx, k.madeQ); err != nil {
		return "", err
	}
	name := k.madeQ
	k.replyQ.Store(&name)
	go k.loop(name)
	return name, nil
}

// ensureQueue creates a service queue, once per caller.
func (k *caller) ensureQueue(ctx context.Context, queue string) error {
	if _, ok := k.queues.Load(queue); ok {
		return nil
	}
	if err := k.cl.CreateQueue(ctx, queue); err != nil {
		return err
	}
	k.queues.Store(queue, struct{}{})
	return nil
}

// Call sends payload as a request to queue (creating the queue if needed)
// and waits for the reply: the reply's payload, or a *RemoteError for a
// failure reply.
//
// Until the request is sent, an unreachable switch is retried as
// Options.Wait allows. Once it is sent, Call waits for as long as ctx
// allows, riding out switch outages; if the switch restarted and lost the
// request, Call sends it again. When ctx ends first, a request no server
// has taken yet is withdrawn from the queue, and Call returns ctx's error;
// a request already taken is left to finish and its late reply is
// discarded.
//
// Many calls may be in flight at once on one Client; they share one
// reply queue.
func (c *Client) Call(ctx context.Context, queue string, payload []byte) ([]byte, error) {
	k, err := c.getCaller()
	if err != nil {
		return nil, err
	}
	return k.call(ctx, queue, payload)
}

func (k *caller) call(ctx context.Context, queue string, payload []byte) ([]byte, error) {
	replyQ, err := k.setup(ctx)
	if err != nil {
		return nil, err
	}
	if err := k.ensureQueue(ctx, queue); err != nil {
		return nil, err
	}
	corr := k.prefix + strconv.FormatUint(k.seq.Add(1), 36)
	p := &pendingCall{reply: make(chan Delivery, 1), resend: make(chan struct{}, 1)}
	k.mu.Lock()
	k.pending[corr] = p
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		delete(k.pending, corr)
		k.mu.Unlock()
	}()

	m := Message{Payload: payload, CorrelationID: corr, ReplyTo: replyQ}
	id, epoch, err := k.cl.sendOne(ctx, queue, &m)
	if err != nil {
		return nil, err
	}
	for {
		if k.cl.Epoch() != epoch {
			// The session changed: the switch may have restarted and lost
			// the request (and the reply queue, which the client restores).
			if id, epoch, err = k.resend(ctx, queue, &m); err != nil {
				return nil, err
			}
			continue
		}
		select {
		case d := <-p.reply:
			return replyResult(&d)
		case <-p.resend:
		case <-ctx.Done():
			select {
			case d := <-p.reply:
				return replyResult(&d)
			default:
			}
			k.withdraw(queue, id, epoch)
			return nil, ctx.Err()
		case <-k.done:
			return nil, errClientClosed
		}
	}
}

func replyResult(d *Delivery) ([]byte, error) {
	if d.Status != 0 {
		return nil, &RemoteError{Status: int(d.Status), Message: string(d.Payload)}
	}
	if d.Payload == nil {
		return []byte{}, nil
	}
	return d.Payload, nil
}

// resend sends a request again after a session change, retrying while the
// switch is away and ctx allows. It returns the new id and the epoch it
// was sent in.
func (k *caller) resend(ctx context.Context, queue string, m *Message) (uint64, uint64, error) {
	backoff := minBackoff
	for {
		id, epoch, err := k.cl.sendOne(ctx, queue, m)
		if err == nil {
			return id, epoch, nil
		}
		if ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		if !retryable(err) {
			return 0, 0, err
		}
		if !sleepCtx(ctx, backoff) {
			return 0, 0, ctx.Err()
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// withdraw deletes a request no server has taken, if it is still in the
// session (switch instance) it was sent in. Errors are ignored: a taken
// request (in_flight) is left to finish.
func (k *caller) withdraw(queue string, id, epoch uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	k.cl.callIn(ctx, &request{method: "DELETE", path: queuePath(queue) + "/messages/" + strconv.FormatUint(id, 10),
		idempotent: true, stream: &wire.StreamRequest{Op: wire.StreamWithdraw, Queue: queue, Arg: id}}, epoch, true)
}

// loop receives replies and hands them to their calls until the caller
// closes.
func (k *caller) loop(replyQ string) {
	defer close(k.loopDone)
	var acks []uint64
	var ackEpoch uint64
	lastEpoch := k.cl.Epoch()
	probe := false
	backoff := minBackoff
	for k.ctx.Err() == nil {
		o := TransferOptions{Timeout: rpcPoll}
		if probe {
			// After a failure, look at once: logging in again there tells
			// the calls to re-send before the loop settles into a long poll.
			o.Timeout = 0
		}
		if len(acks) > 0 {
			o.Acks = Acks{replyQ: acks}
		}
		ds, epoch, err := k.cl.transferIn(k.ctx, o, ackEpoch)
		if len(ds) > 0 || err == nil {
			acks = acks[:0:0]
			ackEpoch = epoch
		}
		if epoch != lastEpoch && epoch != 0 {
			lastEpoch = epoch
			k.nudgeAll()
		}
		for i := range ds {
			acks = append(acks, ds[i].ID)
			k.dispatch(&ds[i])
		}
		if err != nil {
			if k.ctx.Err() != nil {
				return
			}
			probe = true
			if !sleepCtx(k.ctx, backoff) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		probe = false
		backoff = minBackoff
	}
}

// dispatch hands a reply to the call waiting for it; a reply nobody waits
// for (its call gave up, or a duplicate) is dropped.
func (k *caller) dispatch(d *Delivery) {
	k.mu.Lock()
	p := k.pending[d.CorrelationID]
	if p != nil {
		delete(k.pending, d.CorrelationID)
	}
	k.mu.Unlock()
	if p != nil {
		p.reply <- *d
	}
}

// nudgeAll tells every waiting call to check whether the session changed.
func (k *caller) nudgeAll() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range k.pending {
		select {
		case p.resend <- struct{}{}:
		default:
		}
	}
}

// ---- server ----

// Serve serves queue until ctx is done: it creates the queue if needed,
// takes requests (as many at a time as opts.Concurrency has free
// handlers), runs h for each, sends the reply to the request's reply-to
// queue with its correlation id, and acks the request only once the
// reply is sent. A request without a reply-to is handled and acked.
//
// Until it is serving, an unreachable switch is retried as Options.Wait
// allows; then Serve rides out outages and switch restarts until ctx is
// done. It then stops taking requests, lets running handlers finish for
// up to opts.Grace, gives back the requests of those still running, and
// returns nil. Serve works through a session of its own, so one Client
// can serve several queues and make calls at the same time.
func (c *Client) Serve(ctx context.Context, queue string, opts ServeOptions, h Handler) error {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 1
	}
	done := c.rpc.doneChan()
	select {
	case <-done:
		return errClientClosed
	default:
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	closed := make(chan struct{})
	go func() {
		select {
		case <-done:
			close(closed)
			stop()
		case <-ctx.Done():
		}
	}()

	cl := c.child()
	cl.push = pushOptions{window: opts.Concurrency} // never more requests than handlers
	defer cl.closeChild()
	if err := cl.CreateQueue(ctx, queue); err != nil {
		return serveExit(ctx, closed, err)
	}
	if err := cl.Subscribe(ctx, queue); err != nil {
		return serveExit(ctx, closed, err)
	}
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	s := &server{
		cl:       cl,
		queue:    queue,
		opts:     opts,
		h:        h,
		hard:     hard,
		running:  make(map[*job]struct{}),
		freed:    make(chan struct{}, 1),
		finished: make(chan struct{}, 1),
		jobs:     make(chan *job),
		quit:     make(chan struct{}),
	}
	defer close(s.quit)
	s.loop(ctx)
	s.stop(cancelHard)
	select {
	case <-closed:
		return errClientClosed
	default:
		return nil
	}
}

func serveExit(ctx context.Context, closed chan struct{}, err error) error {
	select {
	case <-closed:
		return errClientClosed
	default:
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// server is one Serve.
type server struct {
	cl    *Client
	queue string
	opts  ServeOptions
	h     Handler
	hard  context.Context // handlers' parent: cancelled only after Grace

	handlers sync.WaitGroup // handlers running
	jobs     chan *job      // to an idle worker
	quit     chan struct{}  // closed when Serve returns: idle workers exit
	flushing sync.WaitGroup // flushAcks timers armed or running

	mu         sync.Mutex
	busy       int               // slots in use: handlers not yet returned
	running    map[*job]struct{} // requests not yet answered
	acks       []uint64          // answered, to ack
	ackEpoch   uint64            // the session acks belong to
	inTransfer bool              // the loop is waiting in a transfer
	flushArmed bool
	stopping   bool
	outage     bool
	freed      chan struct{} // a slot was freed
	finished   chan struct{} // a request was answered
}

// job is one request taken.
type job struct {
	req   Request
	epoch uint64       // session it was taken in
	state atomic.Int32 // jobRunning, jobAnswered, jobGivenBack
}

const (
	jobRunning = iota
	jobAnswered
	jobGivenBack
)

func (s *server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// loop takes requests and starts their handlers until ctx is done.
func (s *server) loop(ctx context.Context) {
	backoff := minBackoff
	for ctx.Err() == nil {
		s.mu.Lock()
		free := s.opts.Concurrency - s.busy
		if free <= 0 {
			s.mu.Unlock()
			select {
			case <-s.freed:
			case <-ctx.Done():
			}
			continue
		}
		acks, ackEpoch := s.acks, s.ackEpoch
		s.acks = nil
		s.inTransfer = true
		s.mu.Unlock()

		var o TransferOptions
		o.Max, o.Timeout = free, rpcPoll
		if len(acks) > 0 {
			o.Acks = Acks{s.queue: acks}
		}
		ds, epoch, err := s.cl.transferIn(ctx, o, ackEpoch)

		s.mu.Lock()
		s.inTransfer = false
		if err != nil && len(acks) > 0 {
			s.addAcksLocked(acks, ackEpoch) // may not have been applied
		}
		s.busy += len(ds)
		jobs := make([]*job, len(ds))
		for i := range ds {
			d := &ds[i]
			j := &job{epoch: epoch, req: Request{
				Queue: d.Queue, CorrelationID: d.CorrelationID, ReplyTo: d.ReplyTo,
				ID: d.ID, DeliveryCount: d.DeliveryCount, Redelivered: d.Redelivered(), Payload: d.Payload,
			}}
			if j.req.Payload == nil {
				j.req.Payload = []byte{}
			}
			s.running[j] = struct{}{}
			jobs[i] = j
		}
		wasOut := s.outage
		s.outage = err != nil && ctx.Err() == nil
		s.mu.Unlock()
		for _, j := range jobs {
			s.start(j)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !wasOut {
				s.logf("serving %s: %v; retrying", s.queue, err)
			}
			if !sleepCtx(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		if wasOut {
			s.logf("serving %s again", s.queue)
		}
		backoff = minBackoff
	}
}

// addAcksLocked queues acks of the session of epoch; acks of an older
// session are dropped (their ids mean nothing in a newer one). s.mu held.
func (s *server) addAcksLocked(ids []uint64, epoch uint64) {
	switch {
	case epoch > s.ackEpoch:
		s.acks, s.ackEpoch = append([]uint64(nil), ids...), epoch
	case epoch == s.ackEpoch:
		s.acks = append(s.acks, ids...)
	}
}

// start hands j to an idle worker, or to a new one. Workers live as long
// as the Serve: a goroutine per request grew its stack anew for every
// request (a twentieth of the CPU of a call in the profile).
func (s *server) start(j *job) {
	s.handlers.Add(1)
	select {
	case s.jobs <- j:
	default:
		go s.worker(j)
	}
}

// worker handles j, then whatever it is handed next, until Serve returns.
func (s *server) worker(j *job) {
	for {
		s.handle(j)
		select {
		case j = <-s.jobs:
		case <-s.quit:
			return
		}
	}
}

// handle runs one request's handler, answers and acks it.
func (s *server) handle(j *job) {
	defer s.handlers.Done()
	out, err, late := s.invoke(j)
	if errors.Is(err, ErrGiveBack) {
		if j.state.CompareAndSwap(jobRunning, jobGivenBack) {
			s.giveBack(j)
		}
	} else if j.state.CompareAndSwap(jobRunning, jobAnswered) {
		s.answer(j, out, err)
	}
	if late != nil {
		<-late // the handler keeps its slot until it returns
	}
	s.mu.Lock()
	s.busy--
	s.mu.Unlock()
	select {
	case s.freed <- struct{}{}:
	default:
	}
}

// invoke runs the handler under the request's deadline. If the handler
// overruns Timeout by timeoutSlack, it returns the timeout error and a
// channel closed when the handler finally returns.
func (s *server) invoke(j *job) (out []byte, err error, late chan struct{}) {
	if s.opts.Timeout <= 0 {
		ctx, cancel := context.WithCancel(s.hard)
		defer cancel()
		out, err = s.h(ctx, &j.req)
		return out, err, nil
	}
	ctx, cancel := context.WithTimeout(s.hard, s.opts.Timeout)
	defer cancel()
	type result struct {
		out []byte
		err error
	}
	res := make(chan result, 1)
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		o, e := s.h(ctx, &j.req)
		res <- result{o, e}
	}()
	t := time.NewTimer(s.opts.Timeout + timeoutSlack)
	defer t.Stop()
	select {
	case r := <-res:
		out, err = r.out, r.err
	case <-t.C:
		return nil, s.timeoutError(), returned
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && s.hard.Err() == nil {
		// Its time was up, whatever it returned (a handler's own
		// *RemoteError says more and is kept).
		var re *RemoteError
		if !errors.As(err, &re) && !errors.Is(err, ErrGiveBack) {
			return nil, s.timeoutError(), nil
		}
	}
	return out, err, nil
}

func (s *server) timeoutError() error {
	return &RemoteError{Status: StatusTimeout, Message: fmt.Sprintf("request timed out after %s", s.opts.Timeout)}
}

// answer sends the reply (if the request wants one), then queues the ack.
func (s *server) answer(j *job, out []byte, herr error) {
	ok := true
	if j.req.ReplyTo != "" {
		m := Message{CorrelationID: j.req.CorrelationID, Payload: out}
		if herr != nil {
			st, msg := 1, herr.Error()
			var re *RemoteError
			if errors.As(herr, &re) {
				st, msg = re.Status, re.Message
			}
			m.Status, m.Payload = uint8(min(max(st, 1), 255)), []byte(msg)
		}
		switch s.replyAck(j, &m) {
		case replyAcked:
			s.forget(j)
			return
		case replyGone:
			ok = false
		case replyFailed:
		case replyNotTried:
			ok = s.reply(j, &m)
		}
	}
	s.mu.Lock()
	direct := ok && s.stopping
	if ok && !direct {
		s.addAcksLocked([]uint64{j.req.ID}, j.epoch)
		if s.inTransfer && !s.flushArmed {
			s.flushArmed = true
			s.flushing.Add(1)
			delay := ackDelay
			if s.cl.push.window > 0 && !s.cl.noStream.Load() {
				// Pushed requests: no transfer is coming for the ack to
				// ride on, and the switch pushes the next request only
				// once this one is acked.
				delay = 0
			}
			time.AfterFunc(delay, s.flushAcks)
		}
	}
	if !direct {
		delete(s.running, j)
	}
	s.mu.Unlock()
	if direct {
		// Stopping: ack now, and only then count the request as done, so
		// that the session's end cannot give an answered request back.
		ctx, cancel := context.WithTimeout(s.hard, 5*time.Second)
		s.cl.acksIn(ctx, wire.PathAck, Acks{s.queue: {j.req.ID}}, j.epoch, true)
		cancel()
		s.forget(j)
		return
	}
	s.signalFinished()
}

// giveBack releases a request its handler gave back.
func (s *server) giveBack(j *job) {
	ctx, cancel := context.WithTimeout(s.hard, 5*time.Second)
	s.cl.acksIn(ctx, wire.PathRelease, Acks{s.queue: {j.req.ID}}, j.epoch, false)
	cancel()
	s.forget(j)
}

// forget counts j as done with and tells the serve loop a slot is free.
func (s *server) forget(j *job) {
	s.mu.Lock()
	delete(s.running, j)
	s.mu.Unlock()
	s.signalFinished()
}

// signalFinished wakes the serve loop if it waits for a free slot.
func (s *server) signalFinished() {
	select {
	case s.finished <- struct{}{}:
	default:
	}
}

// Outcomes of replyAck.
const (
	replyNotTried = iota // no stream, or the request's session is gone: reply on its own
	replyAcked           // the reply went out (or its caller is gone) and the request is acked
	replyFailed          // the reply could not go (logged); ack the request as usual
	replyGone            // Serve is being torn down
)

// replyAck sends m and acks the request in one step on the stream, with
// the retries of reply.
func (s *server) replyAck(j *job, m *Message) int {
	backoff := minBackoff
	shrunk := false
	for {
		err := s.cl.replyAck(s.hard, j.req.ReplyTo, m, j.req.Queue, j.req.ID, j.epoch)
		switch {
		case err == nil:
			return replyAcked
		case s.hard.Err() != nil:
			return replyGone
		case errors.Is(err, errNoStream), err == errStaleSession:
			return replyNotTried
		case IsCode(err, CodeNoSuchQueue):
			s.logf("reply to %s (correlation id %s) dropped: the caller is gone", j.req.ReplyTo, j.req.CorrelationID)
			return replyAcked
		case IsCode(err, CodeTooLarge) && !shrunk:
			shrunk = true
			s.logf("reply to %s (correlation id %s): %v", j.req.ReplyTo, j.req.CorrelationID, err)
			m = &Message{CorrelationID: m.CorrelationID, Status: max(m.Status, 1),
				Payload: []byte(fmt.Sprintf("the reply (%d bytes) was refused by the switch: %v\n", len(m.Payload), err))}
			continue
		case !retryable(err):
			s.logf("reply to %s (correlation id %s): %v", j.req.ReplyTo, j.req.CorrelationID, err)
			return replyFailed
		}
		if !sleepCtx(s.hard, backoff) {
			return replyGone
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// reply sends m to the request's reply-to queue, retrying while the
// switch is away. It reports whether the request is done with (the reply
// went out, or can never go: its queue is gone with its caller).
func (s *server) reply(j *job, m *Message) bool {
	backoff := minBackoff
	shrunk := false
	for {
		_, _, err := s.cl.sendOne(s.hard, j.req.ReplyTo, m)
		if err == nil {
			return true
		}
		if s.hard.Err() != nil {
			return false
		}
		if IsCode(err, CodeTooLarge) && !shrunk {
			// The caller must not wait for ever: tell it why instead.
			shrunk = true
			s.logf("reply to %s (correlation id %s): %v", j.req.ReplyTo, j.req.CorrelationID, err)
			m = &Message{CorrelationID: m.CorrelationID, Status: max(m.Status, 1),
				Payload: []byte(fmt.Sprintf("the reply (%d bytes) was refused by the switch: %v\n", len(m.Payload), err))}
			continue
		}
		if !retryable(err) {
			if IsCode(err, CodeNoSuchQueue) {
				s.logf("reply to %s (correlation id %s) dropped: the caller is gone", j.req.ReplyTo, j.req.CorrelationID)
			} else {
				s.logf("reply to %s (correlation id %s): %v", j.req.ReplyTo, j.req.CorrelationID, err)
			}
			return true
		}
		if !sleepCtx(s.hard, backoff) {
			return false
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// flushAcks sends the queued acks on their own if the loop has not taken
// them into a transfer.
func (s *server) flushAcks() {
	defer s.flushing.Done()
	s.mu.Lock()
	s.flushArmed = false
	acks, epoch := s.acks, s.ackEpoch
	if !s.inTransfer || len(acks) == 0 {
		s.mu.Unlock()
		return
	}
	s.acks = nil
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.hard, 10*time.Second)
	defer cancel()
	if err := s.cl.acksIn(ctx, wire.PathAck, Acks{s.queue: acks}, epoch, false); err != nil && retryable(err) && err != errStaleSession {
		s.mu.Lock()
		s.addAcksLocked(acks, epoch)
		s.mu.Unlock()
	}
}

// stop finishes a Serve whose loop has ended: it flushes acks, waits up
// to Grace for running requests, gives back the rest and cancels their
// handlers.
func (s *server) stop(cancelHard context.CancelFunc) {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	if ds, epoch := s.cl.stopConsuming(); len(ds) > 0 {
		// Pushed but never started: back to the queue for other servers.
		ids := make([]uint64, len(ds))
		for i := range ds {
			ids[i] = ds[i].ID
		}
		ctx, cancel := context.WithTimeout(s.hard, 5*time.Second)
		s.cl.acksIn(ctx, wire.PathRelease, Acks{s.queue: ids}, epoch, true)
		cancel()
	}
	s.flushing.Wait()
	s.mu.Lock()
	acks, epoch := s.acks, s.ackEpoch
	s.acks = nil
	s.mu.Unlock()
	if len(acks) > 0 {
		ctx, cancel := context.WithTimeout(s.hard, 5*time.Second)
		s.cl.acksIn(ctx, wire.PathAck, Acks{s.queue: acks}, epoch, true)
		cancel()
	}

	grace := time.NewTimer(s.opts.Grace)
	defer grace.Stop()
	for {
		s.mu.Lock()
		n := len(s.running)
		s.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-s.finished:
			continue
		case <-grace.C:
		}
		break
	}

	// Give back what is still running, by the session it was taken in.
	byEpoch := map[uint64][]uint64{}
	s.mu.Lock()
	for j := range s.running {
		if j.state.CompareAndSwap(jobRunning, jobGivenBack) {
			byEpoch[j.epoch] = append(byEpoch[j.epoch], j.req.ID)
		}
	}
	s.mu.Unlock()
	for epoch, ids := range byEpoch {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.cl.acksIn(ctx, wire.PathRelease, Acks{s.queue: ids}, epoch, true)
		cancel()
	}
	cancelHard()

	// Let cancelled handlers clean up (msw-serve kills its programs).
	returned := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(returned)
	}()
	t := time.NewTimer(handlerExitWait)
	defer t.Stop()
	select {
	case <-returned:
	case <-t.C:
	}
}
