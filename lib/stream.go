package lib

// The client's end of the stream (internal/wire/stream.go): once a client
// has a session, its sends, transfers, acks, releases and withdrawals go
// as frames on one upgraded connection instead of one HTTP exchange each
// — on loopback an HTTP exchange costs several times a raw round trip.
// Everything else (login, queues, listings, diagnostics) stays on HTTP.
//
// The stream is bound to the session it was opened for; when the client
// logs in again (the switch restarted, or the session ended), the next
// request opens a new one. Answers are matched to requests by id, so any
// number of requests are in flight at once. Writers append their frames
// to a shared buffer and whoever finds no write in progress writes it
// all, so concurrent requests share system calls. A switch without the
// stream (one answering the upgrade with 404, 405 or 426) is spoken to
// over HTTP alone.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"msw/internal/wire"
)

// errNoStream means the switch does not offer the stream.
var errNoStream = errors.New("switch has no stream endpoint")

// errUnsent is a request that never left: the stream had broken before
// any of it was written, so it is safe to send again on a new one.
var errUnsent = errors.New("stream broke before the request was sent")

// errStreamReplaced ends the requests of a stream whose session the
// client no longer has; do sends them again in the new one, if they may go.
var errStreamReplaced = errors.New("stream of an old session")

// bigBody is the size from which a request body is written straight from
// the caller's buffer instead of being copied into the shared one.
const bigBody = 64 << 10

// settleWait is how long a request other than a transfer still waits for
// its answer after its context ended.
const settleWait = 2 * time.Second

// quietEvery is how many quiet requests may wait unconfirmed before a
// ping is sent along to confirm them (see sendQuiet): it bounds what the
// client remembers, at one answer per quietEvery requests.
const quietEvery = 64

// flusherFrom is how many requests in flight make a writer hand its write
// to the stream's flusher (see write): more than it, and the writer
// queues its frame for the flusher, which the frames of the others join;
// up to it, the writer writes at once, which is quickest for one request
// at a time. (At 4, two to four callers each paid a system call a
// request: 1 is a fifth to a third more calls a second there.)
const flusherFrom = 1

// maxAnswer bounds an answer frame; anything larger is a broken stream.
// Its buffer grows as the bytes arrive (readLoop), so the bound is a
// sanity check, not an allocation.
const maxAnswer = 1 << 30

// answerAlloc is the most a stream answer's length makes the client
// allocate before its bytes have arrived: room for a message of 4 MiB
// and the answer's other fields, so that such an answer is read into one
// allocation. (At 1 MiB, an answer carrying a 1 MiB payload was read
// into 1 MiB and then copied into a larger buffer for its last bytes.)
const answerAlloc = 4<<20 + 64<<10

// streamConn is one stream: a connection bound to one session.
type streamConn struct {
	sess string
	conn net.Conn

	wmu     sync.Mutex
	wcond   sync.Cond     // signalled when a write ends; L is &wmu
	writing bool          // someone is writing wbuf out
	wbuf    []byte        // frames waiting to be written
	wcalls  []*streamCall // the requests whose frames are in wbuf
	spare   []byte
	werr    error
	kick    chan struct{} // wakes the flusher
	qseq    uint64        // quiet requests written so far
	qcalls  []*streamCall // quiet requests written and not yet confirmed, in order
	qwait   atomic.Int32  // len(qcalls), read without wmu
	join    joinable      // the last request in wbuf, if quiet sends may join it

	inflight atomic.Int32 // requests waiting for answers

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]*streamCall
	err     error         // why the stream broke; set once, before done closes
	done    chan struct{} // closed when the stream broke or was closed
}

// streamCall is one request waiting for its answer.
type streamCall struct {
	op        wire.StreamOp
	id        uint64      // its request id
	ch        chan answer // buffered: the reader never blocks on it
	abandoned bool        // the caller left; dispose of the answer
	unsent    atomic.Bool // the stream broke before any of it was written (set by whichever goroutine was writing)
	pushes    *pushQueue  // a consume's: its answers, kept in order
	// quiet, for a quiet request (wire.StreamQuiet), is called once with
	// its outcome: nil once an answer to a later request confirms it,
	// else its failure.
	quiet func(error)
	// crowd, for a quiet request, is how many more its sender has under
	// way (a server's handlers running): a quiet request waits for no
	// answer, so inflight does not count them.
	crowd int32
	// seq is, for a quiet request, its number among the stream's quiet
	// requests; for any other, the number of quiet requests written
	// before it, which its answer confirms.
	seq atomic.Uint64
	// join, for a quiet send, lets later quiet sends to the same queue
	// join its request while it waits in wbuf (sendjoin.go).
	join bool
	// riders are the quiet sends that joined this one's request (their
	// own ids never go on the wire); under wmu.
	riders []*streamCall
}

// streamFor returns the open stream of session sess, opening it if need
// be. A switch that refuses the upgrade (an ended session, say) gives its
// answer back as refusal, with sc nil.
func (c *Client) streamFor(ctx context.Context, sess string) (sc *streamConn, refusal answer, err error) {
	c.streamMu.Lock()
	defer c.streamMu.Unlock()
	if c.noStream.Load() {
		return nil, answer{}, errNoStream // found out while this waited for the lock
	}
	if sc := c.stream; sc != nil {
		if sc.sess == sess && sc.alive() {
			return sc, answer{}, nil
		}
		sc.fail(errStreamReplaced)
		c.stream = nil
	}
	sc, refusal, err = c.openStream(ctx, sess)
	if sc != nil {
		c.stream = sc
	}
	return sc, refusal, err
}

// openStream dials the switch and upgrades the connection.
func (c *Client) openStream(ctx context.Context, sess string) (*streamConn, answer, error) {
	host := c.ep.tcp
	if c.ep.unix != "" {
		host = "unix"
	}
	conn, err := c.ep.dial(ctx)
	if err != nil {
		return nil, answer{}, err
	}
	auth := ""
	if c.opts.Token != "" {
		auth = "Authorization: Bearer " + c.opts.Token + "\r\n"
	}
	deadline := time.Now().Add(10 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	_, err = fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: %s\r\n%s: %s\r\n%s\r\n",
		wire.PathStream, host, wire.StreamProtocol, wire.HeaderSession, sess, auth)
	br := bufio.NewReaderSize(conn, 64<<10)
	var resp *http.Response
	if err == nil {
		resp, err = http.ReadResponse(br, nil)
	}
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, answer{}, ctx.Err()
		}
		return nil, answer{}, fmt.Errorf("opening the stream: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		conn.Close()
		switch resp.StatusCode {
		case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusUpgradeRequired:
			c.noStream.Store(true)
			return nil, answer{}, errNoStream
		}
		return nil, answer{status: resp.StatusCode, body: body}, nil
	}
	if !stop() {
		conn.Close()
		return nil, answer{}, ctx.Err()
	}
	conn.SetDeadline(time.Time{})
	sc := &streamConn{
		sess:    sess,
		conn:    conn,
		pending: map[uint64]*streamCall{},
		done:    make(chan struct{}),
		kick:    make(chan struct{}, 1),
	}
	sc.wcond.L = &sc.wmu
	go sc.readLoop(br)
	go sc.flusher()
	return sc, answer{}, nil
}

// closeStream closes the client's stream, if it has one.
func (c *Client) closeStream() {
	c.streamMu.Lock()
	sc := c.stream
	c.stream = nil
	c.streamMu.Unlock()
	if sc != nil {
		sc.fail(ErrClosed)
	}
}

// confirmQuiet waits until the quiet requests written on the client's
// stream so far are confirmed or have failed: a ping's answer confirms
// them (sendQuiet). With always, it pings even if none waits, so that
// whatever the switch wrote before it has been read.
func (c *Client) confirmQuiet(ctx context.Context, always bool) {
	c.streamMu.Lock()
	sc := c.stream
	c.streamMu.Unlock()
	if sc != nil && (always || sc.qwait.Load() > 0) {
		sc.roundTrip(ctx, &wire.StreamRequest{Op: wire.StreamPing}, nil)
	}
}

// streamExchange carries r on the stream of session sess. A refused
// upgrade is the request's answer.
func (c *Client) streamExchange(ctx context.Context, r *request, sess string) (answer, error) {
	sc, refusal, err := c.streamFor(ctx, sess)
	if sc == nil {
		return refusal, err
	}
	return sc.roundTrip(ctx, &wire.StreamRequest{Op: r.op.Stream, Queue: r.queue, Arg: r.arg}, r.body)
}

func (sc *streamConn) alive() bool {
	select {
	case <-sc.done:
		return false
	default:
		return true
	}
}

// roundTrip sends one request and waits for its answer. If ctx ends
// first, a transfer is called off (and what it took given back) and
// other requests get a moment to be answered; then the request is
// abandoned.
func (sc *streamConn) roundTrip(ctx context.Context, op *wire.StreamRequest, body []byte) (answer, error) {
	call, err := sc.start(op, body)
	if err != nil {
		return answer{}, err
	}
	return sc.await(ctx, call, op)
}

// start sends one request without waiting for its answer: await waits
// for it. Requests started one after another are written, and handled
// by the switch, in that order. The request id is call.id.
func (sc *streamConn) start(op *wire.StreamRequest, body []byte) (*streamCall, error) {
	call := &streamCall{op: op.Op, ch: make(chan answer, 1)}
	id, err := sc.register(call)
	if err != nil {
		return nil, errUnsent
	}
	req := *op
	req.ID = id
	if err := sc.write(&req, body, call); err != nil {
		if call.unsent.Load() {
			return nil, errUnsent
		}
		return nil, err
	}
	return call, nil
}

// await waits for the answer of a request start sent; see roundTrip.
func (sc *streamConn) await(ctx context.Context, call *streamCall, op *wire.StreamRequest) (answer, error) {
	id := call.id
	select {
	case a := <-call.ch:
		return a, nil
	case <-sc.done:
		select {
		case a := <-call.ch:
			return a, nil
		default:
		}
		if call.unsent.Load() {
			return answer{}, errUnsent
		}
		return answer{}, sc.err
	case <-ctx.Done():
		t := time.NewTimer(settleWait)
		defer t.Stop()
		if op.Op == wire.OpTransfer.Stream {
			// Call the transfer off and wait (a little) for the switch to
			// say it has: a caller that goes on to poll or send again
			// then knows this transfer takes nothing more. Whatever it
			// took before the cancel arrived goes back.
			sc.write(&wire.StreamRequest{Op: wire.StreamCancel, Arg: id}, nil, nil)
			select {
			case a := <-call.ch:
				sc.dispose(call, a)
				return answer{}, ctx.Err()
			case <-sc.done:
			case <-t.C:
			}
		} else {
			// The switch answers everything else at once, and the answer
			// says what happened (a send's ids, say, which a caller needs
			// to withdraw the message): wait for it a little.
			select {
			case a := <-call.ch:
				return a, nil
			case <-sc.done:
			case <-t.C:
			}
		}
		sc.abandon(id, call)
		return answer{}, ctx.Err()
	}
}

// register gives call a request id and records it as waiting.
func (sc *streamConn) register(call *streamCall) (uint64, error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.err != nil {
		return 0, sc.err
	}
	sc.nextID++
	call.id = sc.nextID
	sc.pending[sc.nextID] = call
	if call.quiet == nil {
		sc.inflight.Add(1)
	}
	return sc.nextID, nil
}

// abandon leaves a request whose caller gave up: an answer that comes
// anyway is disposed of.
func (sc *streamConn) abandon(id uint64, call *streamCall) {
	sc.mu.Lock()
	_, waiting := sc.pending[id]
	call.abandoned = waiting
	sc.mu.Unlock()
	if !waiting {
		// The answer is in (or on its way to) call.ch.
		select {
		case a := <-call.ch:
			sc.dispose(call, a)
		case <-sc.done:
		}
	}
}

// dispose handles the answer of an abandoned request: messages a
// transfer took for nobody go back to their queues.
func (sc *streamConn) dispose(call *streamCall, a answer) {
	if call.op != wire.OpTransfer.Stream || a.status != http.StatusOK || len(a.body) == 0 {
		return
	}
	acks := wire.Acks{}
	for body := a.body; len(body) > 0; {
		var d wire.Delivery
		var err error
		if body, err = wire.ParseFrame(body, math.MaxInt, &d); err != nil {
			break
		}
		acks[d.Queue] = append(acks[d.Queue], d.ID)
	}
	if len(acks) == 0 {
		return
	}
	rel := &streamCall{op: wire.OpRelease.Stream, ch: make(chan answer, 1), abandoned: true}
	id, err := sc.register(rel)
	if err == nil {
		sc.write(&wire.StreamRequest{Op: wire.OpRelease.Stream, ID: id}, jsonBody(wire.AckRequest{Acks: acks}), rel)
	}
}

// write sends one request frame for call (nil for a cancel). Small
// frames are copied into the shared buffer and written by whoever is
// writing; a big body is written from the caller's buffer before write
// returns, so the caller may reuse it. If the stream breaks before a
// frame's first byte is written, its call is marked unsent.
func (sc *streamConn) write(req *wire.StreamRequest, body []byte, call *streamCall) error {
	big := len(body) > bigBody
	sc.wmu.Lock()
	for big && sc.writing && sc.werr == nil {
		sc.wcond.Wait()
	}
	if sc.werr != nil {
		err := sc.werr
		if call != nil {
			call.unsent.Store(true)
		}
		sc.wmu.Unlock()
		return err
	}
	if call != nil && !big && sc.joinLocked(req, body, call) {
		sc.wmu.Unlock()
		return nil // the writer at work takes it along, in the request it joined
	}
	at := len(sc.wbuf)
	sc.wbuf = wire.AppendStreamRequest(sc.wbuf, req, len(body))
	sc.writtenLocked(call)
	var extra []byte
	if big {
		extra = body
		sc.join = joinable{}
	} else {
		sc.wbuf = append(sc.wbuf, body...)
		sc.openLocked(at, req, call)
	}
	if sc.writing {
		sc.wmu.Unlock()
		return nil // the writer at work takes it along
	}
	sc.writing = true
	crowd := sc.inflight.Load()
	if call != nil {
		crowd += call.crowd
	}
	if extra == nil && crowd > flusherFrom {
		// Many requests in flight: let the flusher write, so that the
		// frames others append meanwhile share its system call.
		sc.wmu.Unlock()
		select {
		case sc.kick <- struct{}{}:
		default:
		}
		return nil
	}
	err := sc.drainLocked(extra)
	sc.wmu.Unlock()
	if err != nil {
		sc.fail(err)
	}
	return err
}

// writtenLocked records call (nil for a cancel) as one whose frame is in
// wbuf: marked unsent if the stream breaks before it leaves, and, if
// quiet, numbered among the quiet requests and waiting for confirmation;
// any other is numbered with the quiet requests before it, which its
// answer confirms. wmu held.
func (sc *streamConn) writtenLocked(call *streamCall) {
	sc.wcalls = append(sc.wcalls, call)
	if call == nil {
		return
	}
	if call.quiet != nil {
		sc.qseq++
		sc.qcalls = append(sc.qcalls, call)
		sc.qwait.Add(1)
	}
	call.seq.Store(sc.qseq)
}

// flusher writes what others queued when they handed it the write.
func (sc *streamConn) flusher() {
	for {
		select {
		case <-sc.kick:
		case <-sc.done:
			return
		}
		runtime.Gosched() // let the goroutines it shares the CPU with append theirs
		sc.wmu.Lock()
		err := sc.drainLocked(nil)
		sc.wmu.Unlock()
		if err != nil {
			sc.fail(err)
		}
	}
}

// drainLocked writes the shared buffer (and extra after it) until it
// stays empty, then gives up the writer's role. wmu held, and released
// while writing.
func (sc *streamConn) drainLocked(extra []byte) error {
	var calls []*streamCall
	for len(sc.wbuf) > 0 {
		out := sc.wbuf
		calls, sc.wcalls = sc.wcalls, calls[:0]
		sc.wbuf = sc.spare[:0]
		sc.join = joinable{} // its bytes are leaving: no more joins
		sc.wmu.Unlock()
		var n int64
		var err error
		if extra != nil {
			bufs := net.Buffers{out, extra}
			n, err = bufs.WriteTo(sc.conn)
			extra = nil
		} else {
			var k int
			k, err = sc.conn.Write(out)
			n = int64(k)
		}
		sc.wmu.Lock()
		sc.spare = out[:0]
		if err != nil {
			sc.werr = err
			if n == 0 {
				markUnsent(calls)
			}
			markUnsent(sc.wcalls)
			break
		}
	}
	sc.writing = false
	sc.wcond.Broadcast()
	return sc.werr
}

func markUnsent(calls []*streamCall) {
	for _, c := range calls {
		if c != nil {
			c.unsent.Store(true)
		}
	}
}

// readLoop hands each answer to the request waiting for it.
func (sc *streamConn) readLoop(br *bufio.Reader) {
	var lb [4]byte
	for {
		n, err := wire.ReadStreamLength(br, &lb)
		if err == nil && n > maxAnswer {
			err = fmt.Errorf("answer of %d bytes", n)
		}
		if err != nil {
			sc.fail(err)
			return
		}
		// A buffer of its own (answers are handed on and kept): of the
		// answer's size up to answerAlloc, past that grown with the bytes
		// that arrive, so that a length prefix alone cannot make the
		// client allocate up to maxAnswer. (Grown from nothing, a
		// transfer's answer cost a quarter more than its size.)
		f, err := wire.ReadStreamFrame(br, n, make([]byte, 0, min(n, answerAlloc)))
		if err != nil {
			sc.fail(err)
			return
		}
		id, status, body, err := wire.ParseStreamAnswer(f)
		if err != nil {
			sc.fail(err)
			return
		}
		sc.mu.Lock()
		call := sc.pending[id]
		if call != nil && call.pushes != nil {
			if status != http.StatusOK {
				delete(sc.pending, id) // a consume's last answer
				sc.inflight.Add(-1)
			}
			sc.mu.Unlock()
			call.pushes.put(answer{status, body})
			continue
		}
		if call != nil {
			delete(sc.pending, id)
			if call.quiet == nil {
				sc.inflight.Add(-1)
			}
		}
		abandoned := call != nil && call.abandoned
		sc.mu.Unlock()
		if call != nil && call.quiet == nil && sc.qwait.Load() > 0 {
			sc.confirm(call.seq.Load())
		}
		switch {
		case call == nil:
		case call.quiet != nil:
			// Answered: a quiet request answers only a failure.
			var err error
			if status/100 != 2 {
				err = answerError(answer{status, body})
			}
			sc.answerQuiet(call, err)
		case abandoned:
			sc.dispose(call, answer{status, body})
		default:
			call.ch <- answer{status, body}
		}
	}
}

// fail breaks the stream: waiting requests fail with err (as the switch
// being unreachable, unless the client closed it), and so do quiet
// requests not yet confirmed: whether the switch carried them out is
// unknown (errUnsent if they never left).
func (sc *streamConn) fail(err error) {
	sc.mu.Lock()
	if sc.err != nil {
		sc.mu.Unlock()
		return
	}
	if err != ErrClosed && err != errStreamReplaced {
		err = &streamLostError{err}
	}
	sc.err = err
	close(sc.done)
	sc.conn.Close()
	var quiet []*streamCall
	for id, call := range sc.pending {
		if call.quiet != nil {
			delete(sc.pending, id)
			quiet = append(quiet, call)
		}
	}
	sc.mu.Unlock()
	for _, call := range quiet {
		if call.unsent.Load() {
			call.quiet(errUnsent)
		} else {
			call.quiet(err)
		}
	}
}

// sendQuiet writes a quiet request (wire.StreamQuiet): the switch answers
// it only if it fails. done is called once, from the stream's reader or
// whoever breaks the stream, and must not block: with nil once the
// answer to a later request confirms the switch carried it out, else with
// its failure. Every quietEvery quiet requests a ping goes along, so that
// none waits long for confirmation while others follow. An error means
// nothing was sent and done will not be called. crowd is how many more
// requests the sender has under way, for write's choice of the flusher.
// With join, a send of one message may go in the request of a quiet send
// to the same queue still waiting to be written (sendjoin.go).
func (sc *streamConn) sendQuiet(req *wire.StreamRequest, body []byte, crowd int, join bool, done func(error)) error {
	call := &streamCall{op: req.Op, quiet: done, crowd: int32(crowd), join: join}
	id, err := sc.register(call)
	if err != nil {
		return errUnsent
	}
	r := *req
	r.ID, r.Quiet = id, true
	if err := sc.write(&r, body, call); err != nil {
		sc.mu.Lock()
		_, mine := sc.pending[id] // else fail has called done
		delete(sc.pending, id)
		sc.mu.Unlock()
		if !mine {
			return nil
		}
		return errUnsent
	}
	if call.seq.Load()%quietEvery == 0 {
		sc.ping()
	}
	return nil
}

// ping sends a ping whose answer nobody waits for: it confirms the quiet
// requests written before it.
func (sc *streamConn) ping() {
	call := &streamCall{op: wire.StreamPing, ch: make(chan answer, 1), abandoned: true}
	if id, err := sc.register(call); err == nil {
		sc.write(&wire.StreamRequest{Op: wire.StreamPing, ID: id}, nil, call)
	}
}

// confirm calls done(nil) for the quiet requests among the first upTo
// written that are still waiting: an answer to a request written after
// them came, so they were carried out.
func (sc *streamConn) confirm(upTo uint64) {
	sc.wmu.Lock()
	n := 0
	for n < len(sc.qcalls) && sc.qcalls[n].seq.Load() <= upTo {
		n++
	}
	if n == 0 {
		sc.wmu.Unlock()
		return
	}
	calls := slices.Clone(sc.qcalls[:n])
	sc.qcalls = slices.Delete(sc.qcalls, 0, n)
	sc.qwait.Add(-int32(n))
	sc.wmu.Unlock()
	sc.mu.Lock()
	for i, call := range calls {
		if sc.pending[call.id] == call {
			delete(sc.pending, call.id)
		} else {
			calls[i] = nil // answered (it failed), or the stream broke
		}
	}
	sc.mu.Unlock()
	for _, call := range calls {
		if call != nil {
			call.quiet(nil)
		}
	}
}

// streamLostError is a stream that broke under its requests.
type streamLostError struct{ err error }

func (e *streamLostError) Error() string {
	if e.err == io.EOF {
		return "connection closed"
	}
	return "connection lost: " + e.err.Error()
}
