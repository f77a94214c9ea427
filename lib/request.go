package lib

// The one request path. Every request the client makes — over HTTP or on
// the session's stream, from a method of Client, the send lines, the RPC
// loops or a login's restores — goes through do, and do alone decides
// what a failure means:
//
//   - the request never left (a refused dial, a stream that broke before
//     any of it was written): it is sent again, as long as Options.Wait
//     allows the switch to stay unreachable;
//   - the connection broke after the request left, or the switch answered
//     that it is shutting down: the switch restarted, or is restarting.
//     The connections to it are dropped and the request goes again at
//     once on a fresh one (then as Options.Wait allows). Requests that
//     are safe to repeat are repeated; so are sends and transfers, at
//     least once (see "Delivery" in doc.go); anything else fails;
//   - the switch does not know the session (it restarted, or the session
//     ended): the client logs in again, restores its queues and
//     subscriptions, and sends the request in the new session — unless
//     the request is bound to the old one (errStaleSession) or names
//     messages taken in it (ErrSwitchRestarted); so too when a request
//     naming messages finds, on a later attempt, that the client has
//     logged in to a restarted switch meanwhile;
//   - the client was closed: ErrClosed; ctx ended: ctx's error.

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
	"strings"
	"time"

	"msw/internal/wire"
)

// request describes one request to the switch.
type request struct {
	// op is the hot-path operation the request is (its stream op and
	// whether it may be repeated come from the table in internal/wire);
	// zero for a request only HTTP carries.
	op wire.Op
	// method and path are the HTTP request; method is empty for a request
	// only the stream carries.
	method, path string
	// queue and arg are the stream request's queue and argument.
	queue string
	arg   uint64

	query       url.Values
	body        []byte
	contentType string
	accept      string

	// session marks a request carried in the client's session, logging in
	// first if need be; sess carries that token instead (a login's
	// restores, a logout).
	session bool
	sess    string
	// bound, if not zero, is the epoch of the only session the request
	// may be carried in: once that session is gone, the request fails
	// with errStaleSession instead of going in a new one.
	bound uint64

	idempotent bool // safe to send again after it left
	once       bool // one attempt: never wait for the switch
	// namesMessages marks a body that names messages by id. Ids are only
	// good for the life of the switch that gave them out, so such a body
	// is never replayed to a restarted switch: it is replaced by
	// withoutMessages, or, if that is nil, the request fails with
	// ErrSwitchRestarted.
	namesMessages   bool
	withoutMessages []byte
	// life, if not zero, is the switch life (its start) the messages
	// named were taken in (lives.go): an attempt in another life, the
	// first too, is treated as one after a restart.
	life time.Time
	// join lets a quiet send of one message share the request of another
	// quiet send to the same queue (doQuiet, sendjoin.go).
	join bool
}

// opRequest is a request for hot-path operation op on queue (message id
// or argument arg), carried in the client's session.
func opRequest(op wire.Op, queue string, arg uint64, body []byte) *request {
	r := streamRequest(op, queue, arg, body)
	if op.Route != "" {
		r.path = op.Path(queue, arg)
	}
	return &r
}

// streamRequest is opRequest without the HTTP path, for doQuiet, which
// only the stream carries: made on the caller's stack, it costs an RPC
// no allocation (a request and its path were a fifth of the bytes a
// call allocated).
func streamRequest(op wire.Op, queue string, arg uint64, body []byte) request {
	r := request{op: op, method: op.Method, queue: queue, arg: arg, body: body,
		session: true, idempotent: op.Idempotent}
	switch op.Stream {
	case wire.OpSend.Stream, wire.OpPublish.Stream:
		r.contentType = wire.ContentTypeFrames
	case wire.OpTransfer.Stream:
		r.contentType, r.accept = wire.ContentTypeJSON, wire.ContentTypeFrames
	default:
		if body != nil {
			r.contentType = wire.ContentTypeJSON
		}
	}
	return r
}

// resendable reports whether r may be sent again after it left and its
// answer was lost. Every hot-path operation is: acks, releases,
// withdrawals and keep-alives are idempotent, and sends and transfers are
// at least once (a repeated send may enqueue its messages twice; what a
// lost transfer took goes back to its queue).
func (r *request) resendable() bool {
	return r.idempotent || r.op.Stream != 0
}

// answer is the switch's answer to one request, whichever way it went:
// its status and body. No header of an answer matters to the client.
type answer struct {
	status int
	body   []byte
}

// sessionRef is the session a request was sent in.
type sessionRef struct {
	id      string
	epoch   uint64
	started time.Time // when the switch that gave the session started
}

// maxFresh bounds the attempts a request makes at once, on a fresh
// connection or in a fresh session, before it waits for the switch like
// one that cannot reach it.
const maxFresh = 3

// pacer paces the attempts of one request.
type pacer struct {
	wait    time.Duration // Options.Wait
	once    bool
	start   time.Time // of the first wait
	backoff time.Duration
	fresh   int                    // attempts made at once so far
	unsent  bool                   // an attempt was made again because it never left
	waiting func(addr, why string) // Options.Waiting
	told    bool                   // waiting was called
	addr    string                 // the switch's, for Waiting
	err     error                  // the last failure, for Waiting
}

// waitingAfter is how long a request waits for the switch before
// Options.Waiting is called.
const waitingAfter = time.Second

// again reports whether to make another attempt after a failure, having
// paused as need be. fresh marks a failure a new connection or session
// may cure at once. It reports false once Options.Wait is used up or ctx
// ended.
func (p *pacer) again(ctx context.Context, fresh bool) bool {
	if p.once {
		return false
	}
	if fresh && p.fresh < maxFresh {
		p.fresh++
		return ctx.Err() == nil
	}
	if p.start.IsZero() {
		p.start, p.backoff = time.Now(), minBackoff
	}
	pause := p.backoff
	if p.wait != WaitForever {
		// The last pause ends when Wait does, not a backoff before.
		left := p.wait - time.Since(p.start)
		if left <= 0 {
			return false
		}
		pause = min(pause, left)
	}
	if p.waiting != nil && !p.told {
		if until := waitingAfter - time.Since(p.start); until <= pause {
			if !sleepCtx(ctx, max(until, 0)) {
				return false
			}
			p.told = true
			why := "no answer"
			if p.err != nil {
				why = rootCause(p.err)
			}
			p.waiting(p.addr, why)
			pause -= max(until, 0)
		}
	}
	if !sleepCtx(ctx, pause) {
		return false
	}
	p.backoff = min(2*p.backoff, maxBackoff)
	return true
}

// do sends r and returns the answer for a 2xx status, with the epoch of
// the session that carried it; any other status becomes an *Error. See
// the top of this file for what it does when something fails.
func (c *Client) do(ctx context.Context, r *request) (answer, uint64, error) {
	if err := ctx.Err(); err != nil {
		return answer{}, 0, err // a done context sends nothing
	}
	if err := checkQueuePath(r.path); err != nil {
		return answer{}, 0, err
	}
	p := pacer{wait: c.opts.Wait, once: r.once, waiting: c.opts.Waiting, addr: c.ep.display}
	var meant time.Time // the switch a request naming messages first went to
	first := true
	for {
		ref, err := c.sessionFor(ctx, r)
		if err != nil {
			return answer{}, ref.epoch, err
		}
		if r.namesMessages {
			// An attempt after a failed one may find the client logged in
			// to another switch (after unknown_session, or because another
			// request did it): its ids name other messages there, perhaps
			// ones this client holds.
			if first {
				meant, first = ref.started, false
				if !r.life.IsZero() {
					meant = r.life
				}
			}
			if !ref.started.Equal(meant) {
				if r.withoutMessages == nil {
					return answer{}, ref.epoch, ErrSwitchRestarted
				}
				r.body, r.namesMessages = r.withoutMessages, false
			}
		}
		a, err := c.exchange(ctx, r, ref.id)
		if err == nil && a.status/100 == 2 {
			return a, ref.epoch, nil
		}
		if ctx.Err() != nil {
			return answer{}, ref.epoch, ctx.Err()
		}
		if err == nil {
			err = c.refused(ctx, r, ref, answerError(a), &p)
		} else {
			err = c.failed(ctx, r, ref, err, &p)
		}
		if err != nil {
			return answer{}, ref.epoch, err
		}
	}
}

// doQuiet sends r on its session's stream as a quiet request
// (wire.StreamQuiet): the switch answers it only if it fails, and r's
// sender does not wait. done is called once, and must not block: with nil
// when a later answer confirms the switch carried r out, else with what
// went wrong (the failure the switch answered, or the stream's breaking,
// after which whether r was carried out is unknown). doQuiet reports
// the epoch of the session it went in, or false, having sent nothing and
// never to call done, when r cannot go so (a queue name the switch would
// refuse, no stream, no usable session, a stream broken already): the sender
// then makes r through do, which decides what that failure means. crowd
// is how many more requests the sender has under way (sendQuiet).
func (c *Client) doQuiet(ctx context.Context, r *request, crowd int, done func(error)) (uint64, bool) {
	if r.op.Stream == 0 || c.noStream.Load() || wire.ValidateName(r.queue) != nil || ctx.Err() != nil {
		return 0, false
	}
	ref, err := c.sessionFor(ctx, r)
	if err != nil || ref.id == "" {
		return 0, false
	}
	sc, _, err := c.streamFor(ctx, ref.id)
	if sc == nil || err != nil {
		return 0, false
	}
	return ref.epoch, sc.sendQuiet(&wire.StreamRequest{Op: r.op.Stream, Queue: r.queue, Arg: r.arg}, r.body, crowd, r.join, done) == nil
}

// sessionFor returns the session r goes in: none, the one it names, its
// bound one, or the client's (logging in if need be).
func (c *Client) sessionFor(ctx context.Context, r *request) (sessionRef, error) {
	switch {
	case r.sess != "":
		return sessionRef{id: r.sess}, nil
	case !r.session:
		return sessionRef{}, nil
	case r.bound != 0:
		c.mu.Lock()
		ref, closed := c.ref(), c.closed
		c.mu.Unlock()
		if closed {
			return ref, ErrClosed
		}
		if ref.epoch != r.bound || ref.id == "" {
			return ref, errStaleSession
		}
		return ref, nil
	}
	return c.ensureRef(ctx)
}

// refused decides what to do with a request the switch answered with e:
// nil to try again, or the error to return.
func (c *Client) refused(ctx context.Context, r *request, ref sessionRef, e *Error, p *pacer) error {
	switch {
	case e.Code == CodeUnknownSession && r.session:
		// The session ended, or the switch restarted and lost it.
		c.dropSession(ref.epoch)
		if r.bound != 0 {
			return errStaleSession
		}
		// The next attempt logs in afresh; do then drops the messages a
		// request names if that session is another switch's.
		if p.again(ctx, true) {
			return nil
		}
	case e.Code == CodeShuttingDown:
		// The switch is going away and refused the request whole: the
		// connections to it are of no more use.
		c.dropConnections()
		if p.again(ctx, true) {
			return nil
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return e
}

// failed decides what to do after a request's connection failed: nil to
// try again, or the error to return.
func (c *Client) failed(ctx context.Context, r *request, ref sessionRef, err error, p *pacer) error {
	p.err = err
	switch {
	case errors.Is(err, ErrClosed), err == errNoStream, err == errStaleSession:
		return err
	case isTLSError(err):
		// Trying again cannot help: the switch is not the one trusted.
		return &tlsError{addr: c.ep.display, err: err}
	case err == errUnsent:
		// The stream broke before the request left: send it on a new
		// one (even a request of one attempt: this one never happened).
		if !p.unsent {
			p.unsent = true
			return nil
		}
		if p.again(ctx, true) {
			return nil
		}
	case isDialError(err):
		if p.again(ctx, false) {
			return nil
		}
	default:
		// The connection broke under the request: the switch went away.
		c.dropConnections()
		if r.resendable() && p.again(ctx, true) {
			return nil
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return &unreachableError{addr: c.ep.display, err: err}
}

// dropConnections closes the client's idle HTTP connections and its
// stream if that broke, so that the next attempt dials afresh.
func (c *Client) dropConnections() {
	c.hc.CloseIdleConnections()
	c.streamMu.Lock()
	sc := c.stream
	if sc != nil && !sc.alive() {
		c.stream = nil
	}
	c.streamMu.Unlock()
}

// exchange makes one attempt at r: on the session's stream if r can go
// there, else as an HTTP request.
func (c *Client) exchange(ctx context.Context, r *request, sess string) (answer, error) {
	if r.op.Stream != 0 && sess != "" && !c.noStream.Load() {
		a, err := c.streamExchange(ctx, r, sess)
		if err != errNoStream {
			return a, err
		}
	}
	if r.method == "" {
		return answer{}, errNoStream // a request only the stream can carry
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.ep.base+r.path, bytes.NewReader(r.body))
	if err != nil {
		return answer{}, err
	}
	if r.query != nil {
		req.URL.RawQuery = r.query.Encode()
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
	if c.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.opts.Token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{status: resp.StatusCode, body: body}, nil
}

// isDialError reports whether err happened before anything was sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// call does r and decodes a JSON answer into out (if not nil).
func (c *Client) call(ctx context.Context, r *request, out any) error {
	a, _, err := c.do(ctx, r)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(a.body, out); err != nil {
		return c.badAnswer(r, err)
	}
	return nil
}

// badAnswer is the error of an answer that does not parse.
func (c *Client) badAnswer(r *request, err error) error {
	what := r.method + " " + r.path
	if r.op.Name != "" {
		what = "a " + r.op.Name
	}
	return fmt.Errorf("switch at %s: bad answer to %s: %w", c.ep.display, what, err)
}

func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own wire types are marshalled
	}
	return b
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
