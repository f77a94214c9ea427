package server

// The stream (docs/protocol.md, "The stream"): a session's send,
// transfer, ack, release and withdraw requests as binary frames on one
// upgraded connection, many in flight at once. Each HTTP exchange costs
// tens of microseconds of parsing, headers and goroutine hand-offs on
// both ends; a stream request costs one frame each way.
//
// One goroutine (the handler's, after the hijack) reads frames and
// answers acks, releases and withdrawals inline, in order: each
// request goes to the function of its op (streamOps), for the hot-path
// operations the same function that serves their HTTP route (ops.go). A
// transfer that finds messages ready is answered inline too; one that
// has to wait gets a goroutine of its own, cancelled by a cancel frame or
// when the stream closes. Answers go through one buffered writer under a
// mutex; the reader flushes when it has no more requests buffered, so
// pipelined requests share writes, and a waiting transfer flushes its
// own answer. A send that waits for the store is finished by the
// stream's committer, in order, while the reader reads on (streamsend.go).

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"msw/broker"
	"msw/internal/wire"
)

// stream is one upgraded connection, bound to one session.
type stream struct {
	s    *Server
	sess *broker.Session
	conn net.Conn
	br   *bufio.Reader
	raw  syscall.RawConn // conn's socket, if it has one (not under TLS): moreArrived

	wmu sync.Mutex
	bw  *bufio.Writer
	dw  *deadlineWriter // what bw writes to
	hdr []byte          // answer head scratch, under wmu
	err error           // first write error, under wmu

	asideFlushes atomic.Int64 // flushes asked of flushAside and not yet done (push.go)

	ctx    context.Context // ends when the stream closes
	cancel context.CancelFunc

	mu        sync.Mutex
	waiting   map[uint64]func() // stop the waiting transfers and consumers, by request id
	consumers []*consumer       // replaced, never changed in place
	async     sync.WaitGroup    // their goroutines

	sends sendPipe // sends waiting for the store (streamsend.go)

	buf  []byte // the frame being handled (reader goroutine only)
	call call   // the request being handled (reader goroutine only)
	// bigFrame: the frame being handled was too large for br's buffer,
	// so part of it may have been read straight from the connection
	// (reader goroutine only; moreArrived).
	bigFrame bool
	// Pushes the reader owes (push.go; reader goroutine only): consumers
	// its requests made messages ready for, and streams it pushed down
	// and has not flushed.
	kicked []*consumer
	dirty  []*stream
}

// openStream upgrades the request's connection to a stream and serves it
// until the client closes it or the server shuts down.
func (s *Server) openStream(w http.ResponseWriter, r *http.Request) {
	sess, err := s.session(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if !headerHas(r.Header, "Connection", "upgrade") || !strings.EqualFold(r.Header.Get("Upgrade"), wire.StreamProtocol) {
		w.Header().Set("Upgrade", wire.StreamProtocol)
		writeError(w, &httpError{http.StatusUpgradeRequired, wire.CodeBadRequest,
			wire.PathStream + " needs Connection: Upgrade and Upgrade: " + wire.StreamProtocol})
		return
	}
	// The stream holds the session from now on: hijacking drops the
	// connection's HTTP binding.
	sess.AddConn()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		sess.DropConn()
		writeError(w, err)
		return
	}
	conn.SetDeadline(time.Time{}) // the HTTP server's timeouts are for HTTP
	st := &stream{
		s:       s,
		sess:    sess,
		conn:    conn,
		br:      brw.Reader,
		waiting: map[uint64]func(){},
	}
	st.raw = rawConn(conn)
	st.dw = &deadlineWriter{conn: conn, s: s, raw: st.raw}
	st.bw = bufio.NewWriterSize(st.dw, 32<<10)
	st.ctx, st.cancel = context.WithCancel(context.Background())
	if !s.track(st) {
		st.cancel()
		conn.Close()
		sess.DropConn()
		return
	}
	if rec, ok := w.(*statusRecorder); ok {
		rec.status = http.StatusSwitchingProtocols // for the log line at the stream's end
	}
	st.bw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + wire.StreamProtocol + "\r\n\r\n")
	st.bw.Flush()
	st.run()
}

// headerHas reports whether a comma-separated header lists token.
func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// track records an open stream, so that Shutdown can end it; it reports
// false if the server is already shutting down.
func (s *Server) track(st *stream) bool {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	if s.streamsClosed {
		return false
	}
	if s.streams == nil {
		s.streams = map[*stream]struct{}{}
	}
	s.streams[st] = struct{}{}
	s.streamsDone.Add(1)
	return true
}

func (s *Server) untrack(st *stream) {
	s.streamsMu.Lock()
	delete(s.streams, st)
	s.streamsMu.Unlock()
	s.streamsDone.Done()
}

// closeWriteGrace is how long a closing stream may take to write its
// last answers: a client that reads none cannot hold Shutdown up longer.
const closeWriteGrace = time.Second

// closeStreams ends every stream: their waiting transfers have already
// been ended by the broker's Close and answered; this stops their readers,
// and bounds how long their last answers may take to write.
func (s *Server) closeStreams() {
	s.shuttingDown.Store(true)
	s.streamsMu.Lock()
	s.streamsClosed = true
	sts := make([]*stream, 0, len(s.streams))
	for st := range s.streams {
		sts = append(sts, st)
	}
	s.streamsMu.Unlock()
	for _, st := range sts {
		st.conn.SetReadDeadline(time.Now())
		st.conn.SetWriteDeadline(time.Now().Add(closeWriteGrace))
	}
}

// run reads and handles frames until the connection ends.
func (st *stream) run() {
	defer st.close()
	defer st.settle() // pushes owed to consumers, on other streams too
	var lenBuf [4]byte
	limit := wire.MaxRequestLen(st.s.b.Options().MaxPayload)
	var req wire.StreamRequest
	lim := &st.s.opts.Limits
	for {
		// Deadlines only when the reader has to wait for the connection:
		// pipelined frames already buffered cost no system call.
		if st.br.Buffered() < len(lenBuf) {
			st.conn.SetReadDeadline(time.Now().Add(lim.StreamIdleTimeout))
			// closeStreams sets shuttingDown before it cuts the deadline
			// short: read after re-arming it, the flag catches a
			// closeStreams that ran while this frame was handled, whose
			// cut the line above would otherwise have undone.
			if st.s.shuttingDown.Load() {
				return
			}
		}
		n, err := wire.ReadStreamLength(st.br, &lenBuf)
		if err != nil {
			st.logDrop(err, "waiting for a request")
			return
		}
		if st.br.Buffered() < n {
			st.conn.SetReadDeadline(time.Now().Add(lim.FrameTimeout + time.Duration(min(n, limit)/lim.FrameRate)*time.Second))
		}
		if n > limit {
			if !st.refuse(n, limit) {
				return
			}
			if st.br.Buffered() == 0 {
				st.settle()
			}
			continue
		}
		st.bigFrame = n >= st.br.Size()
		f, err := st.readFrame(n)
		if err != nil {
			st.buf = nil // a frame stopped part-way: its buffer goes with it
			st.logDrop(err, "reading a "+strconv.Itoa(n)+"-byte frame")
			return
		}
		if err := wire.ParseStreamRequest(f, &req); err != nil {
			st.s.opts.Log.Printf("stream of session %s: %v; closing it", st.sess.PublicID(), err)
			return
		}
		st.s.trim.note()
		var start time.Time
		if st.s.opts.Verbose {
			start = time.Now()
		}
		status := st.handle(&req)
		if st.s.opts.Verbose {
			st.logRequest(&req, status, time.Since(start))
		}
		if st.br.Buffered() == 0 {
			st.settle()
		}
		if len(st.buf) > 1<<20 && cap(st.buf) > 4*n {
			st.buf = nil // do not keep a big batch's buffer for small frames
		}
	}
}

// logDrop logs why a stream's reader stopped, when a timeout did it
// (not the cut deadline of a switch shutting down).
func (st *stream) logDrop(err error, doing string) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && !st.s.shuttingDown.Load() {
		st.s.opts.Log.Printf("stream of session %s timed out %s; closing it", st.sess.PublicID(), doing)
	}
}

// readFrame reads an n-byte frame into the stream's buffer, grown with
// the bytes that arrive (wire.ReadStreamFrame), never to n at once.
func (st *stream) readFrame(n int) ([]byte, error) {
	grows := cap(st.buf) < n
	f, err := wire.ReadStreamFrame(st.br, n, st.buf)
	if err != nil {
		return nil, err
	}
	if grows {
		st.buf = f // its length, the largest frame yet, decides when to let it go (run)
	}
	return f, nil
}

// logRequest is the verbose log line of a stream request: op, queue and
// the status answered (a consume and a waiting transfer answer later).
func (st *stream) logRequest(req *wire.StreamRequest, status int, d time.Duration) {
	queue, answer := req.Queue, strconv.Itoa(status)
	if queue == "" {
		queue = "-"
	}
	switch {
	case req.Op == wire.StreamCancel:
		answer = "cancels " + strconv.FormatUint(req.Arg, 10)
	case status == 0:
		answer = "waiting"
	}
	st.s.opts.Log.Printf("stream %s %s %s %s", req.Op, queue, answer, d.Round(time.Microsecond))
}

// refuse answers a frame over the limit without reading it into memory;
// it reports false if the connection broke.
func (st *stream) refuse(n, limit int) bool {
	head := make([]byte, min(n, 32))
	if _, err := io.ReadFull(st.br, head); err != nil {
		return false
	}
	if _, err := io.CopyN(io.Discard, st.br, int64(n-len(head))); err != nil {
		return false
	}
	_, id, ok := wire.ParseStreamID(head)
	if !ok {
		return false
	}
	st.sends.drain()
	st.sends.fail(id) // a send that follows this one is aborted
	st.answerError(id, &httpError{http.StatusRequestEntityTooLarge, wire.CodeTooLarge,
		"request too large: " + strconv.Itoa(n) + " bytes, limit " + strconv.Itoa(limit)})
	return true
}

// streamFunc carries out one stream request and returns the status
// answered (0 when the answer comes later, or never: a cancel).
type streamFunc func(st *stream, req *wire.StreamRequest) int

// streamOps maps each stream op to what carries it out: the function of
// its row of wire.HotOps (ops.go), shared with HTTP, or one of the ops
// only the stream has.
var streamOps = func() (t [256]streamFunc) {
	for _, op := range wire.HotOps {
		if op.Stream == 0 {
			continue
		}
		f := hotOp(op)
		t[op.Stream] = func(st *stream, req *wire.StreamRequest) int {
			c := &st.call
			*c = call{queue: req.Queue, st: st, req: req}
			return f(st.s, c)
		}
	}
	t[wire.OpSend.Stream] = (*stream).send // pipelined: streamsend.go
	t[wire.StreamCancel] = (*stream).cancelWaiting
	t[wire.StreamConsume] = (*stream).consume
	t[wire.StreamReply] = (*stream).reply
	return t
}()

// handle carries out one request and returns the status answered. Any
// request but a send or a reply first lets the sends before it be
// answered, so that answers leave in request order (streamsend.go).
func (st *stream) handle(req *wire.StreamRequest) int {
	if req.Op != wire.OpSend.Stream && req.Op != wire.StreamReply {
		st.pushOthers() // before anything that may wait
		st.sends.drain()
	}
	if f := streamOps[req.Op]; f != nil {
		return f(st, req)
	}
	return st.answerError(req.ID, badRequest("unknown stream operation "+req.Op.String()))
}

// cancelWaiting ends the waiting transfer or the consume with request id
// req.Arg; the cancel itself has no answer. It returns once that has
// left the broker, so the stream's next request cannot be met by it: a
// release right after a consume's cancel goes to another receiver, not
// back to the consume still waiting in the broker (which would count a
// delivery nobody saw).
func (st *stream) cancelWaiting(req *wire.StreamRequest) int {
	st.mu.Lock()
	stop := st.waiting[req.Arg]
	st.mu.Unlock()
	if stop != nil {
		stop()
	}
	return 0
}

// wait runs f in a goroutine of its own, waiting for request id: until
// f returns, cancelWaiting of id cancels ctx and waits for it. Past the
// stream's or the switch's bound on waiting requests it starts nothing and
// returns a 429 limitError.
func (st *stream) wait(id uint64, cancel context.CancelFunc, f func()) error {
	lim := &st.s.opts.Limits
	done := make(chan struct{})
	st.mu.Lock()
	if len(st.waiting) >= lim.MaxWaitingPerStream {
		st.mu.Unlock()
		return limitError("waiting requests on one stream", lim.MaxWaitingPerStream)
	}
	if st.s.waiting.Add(1) > int64(lim.MaxWaiting) {
		st.s.waiting.Add(-1)
		st.mu.Unlock()
		return limitError("waiting requests", lim.MaxWaiting)
	}
	st.waiting[id] = func() { cancel(); <-done }
	st.mu.Unlock()
	st.async.Add(1)
	go func() {
		defer st.async.Done()
		defer st.s.waiting.Add(-1)
		defer close(done)
		f()
	}()
	return nil
}

// transfer answers request id at once if messages are ready, else waits
// for them in a goroutine of its own.
func (st *stream) transfer(id uint64, sess *broker.Session, max int, timeout time.Duration) int {
	b := st.s.b
	ds, err := b.Transfer(st.ctx, sess, max, 0)
	if err != nil || len(ds) > 0 || timeout <= 0 {
		return st.answerDeliveries(id, ds, err)
	}
	ctx, cancel := context.WithCancel(st.ctx)
	if err := st.wait(id, cancel, func() {
		ds, err := b.Transfer(ctx, sess, max, timeout)
		if ctx.Err() != nil && st.ctx.Err() == nil {
			err = nil // cancelled by the client: answer with what it has, nothing
		}
		st.mu.Lock()
		delete(st.waiting, id)
		st.mu.Unlock()
		cancel()
		if st.ctx.Err() != nil {
			b.Release(sess, deliveriesAcks(ds)) // nobody to give them to
			return
		}
		st.answerDeliveries(id, ds, err)
		st.flush()
	}); err != nil {
		cancel()
		return st.answerError(id, err)
	}
	return 0
}

// deliveriesAcks names deliveries by queue and id.
func deliveriesAcks(ds []wire.Delivery) wire.Acks {
	if len(ds) == 0 {
		return nil
	}
	acks := wire.Acks{}
	for i := range ds {
		acks[ds[i].Queue] = append(acks[ds[i].Queue], ds[i].ID)
	}
	return acks
}

func (st *stream) answerDeliveries(id uint64, ds []wire.Delivery, err error) int {
	if err != nil {
		return st.answerError(id, err)
	}
	n := framesSize(ds)
	st.wmu.Lock()
	defer st.wmu.Unlock()
	st.writeDeliveriesLocked(id, ds, n)
	return http.StatusOK
}

// tryAnswerDeliveries is answerDeliveries for a goroutine that must not
// wait for the connection: it writes only if the write lock is free and
// the answer fits the buffer, and reports whether it did.
func (st *stream) tryAnswerDeliveries(id uint64, ds []wire.Delivery) bool {
	if !st.wmu.TryLock() {
		return false
	}
	defer st.wmu.Unlock()
	n := framesSize(ds)
	if st.err == nil && answerHeadMax+n > st.bw.Available() {
		return false
	}
	st.writeDeliveriesLocked(id, ds, n)
	return true
}

// framesSize is the size of deliveries' frames on the wire.
func framesSize(ds []wire.Delivery) int {
	n := 0
	for i := range ds {
		n += wire.FrameSize(&ds[i])
	}
	return n
}

// answerHeadMax is the longest head wire.AppendStreamAnswer writes.
const answerHeadMax = 4 + 2*binary.MaxVarintLen64

// writeDeliveriesLocked writes an answer of deliveries, n bytes of
// frames, straight into the write buffer: no body built first. wmu held.
func (st *stream) writeDeliveriesLocked(id uint64, ds []wire.Delivery, n int) {
	if st.err != nil {
		return
	}
	st.hdr = wire.AppendStreamAnswer(st.hdr[:0], id, http.StatusOK, n)
	st.bw.Write(st.hdr)
	for i := range ds {
		d := &ds[i]
		if len(d.Payload) > st.bw.Available() {
			// Larger than the room left: the payload goes from the
			// message itself (a large write past the buffer), not copied
			// into a slice allocated for the frame.
			st.bw.Write(wire.AppendFrameHead(st.bw.AvailableBuffer(), d))
			_, st.err = st.bw.Write(d.Payload)
			continue
		}
		_, st.err = st.bw.Write(wire.AppendFrame(st.bw.AvailableBuffer(), d))
	}
	st.s.b.Recycle(ds) // written: the next transfer fills them
}

func (st *stream) answerError(id uint64, err error) int {
	status, we := errorAnswer(err)
	body, _ := json.Marshal(we)
	return st.answer(id, status, append(body, '\n'))
}

// answer writes an answer frame; it is sent by the next flush.
func (st *stream) answer(id uint64, status int, body []byte) int {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	if st.err != nil {
		return status
	}
	st.hdr = wire.AppendStreamAnswer(st.hdr[:0], id, status, len(body))
	st.bw.Write(st.hdr)
	_, st.err = st.bw.Write(body)
	return status
}

func (st *stream) flush() {
	st.wmu.Lock()
	if st.err == nil {
		st.err = st.bw.Flush()
	}
	if st.err == nil && len(st.dw.backlog) > 0 {
		st.err = st.dw.writeBacklog()
	}
	st.wmu.Unlock()
}

// deadlineWriter is what a stream's buffered writer writes to: each
// write must be taken within Limits.WriteTimeout, and one that is not
// closes the connection, so that a client that stops reading its
// answers is dropped (the reader stops, the stream ends, and what was
// pushed down it goes back to its queues).
//
// A writer that must not wait (another stream's reader flushing a push,
// push.go) sets noWait: the write is then one non-blocking system call,
// and what the socket did not take is kept in backlog, to go ahead of
// the next write that may wait (a flush, stream.flush).
type deadlineWriter struct {
	conn net.Conn
	s    *Server
	raw  syscall.RawConn // conn's socket, if it has one (else noWait keeps all)
	// Under the stream's wmu:
	noWait  bool
	backlog []byte
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	if w.noWait {
		n := len(p)
		if len(w.backlog) == 0 {
			p = p[w.writeNow(p):]
		}
		w.backlog = append(w.backlog, p...)
		return n, nil
	}
	if len(w.backlog) > 0 {
		if err := w.writeBacklog(); err != nil {
			return 0, err
		}
	}
	return w.write(p)
}

// write writes p, waiting for at most the write timeout.
func (w *deadlineWriter) write(p []byte) (int, error) {
	if !w.s.shuttingDown.Load() { // Shutdown has set a shorter deadline
		w.conn.SetWriteDeadline(time.Now().Add(w.s.opts.Limits.WriteTimeout))
	}
	n, err := w.conn.Write(p)
	if err != nil {
		w.conn.Close()
	}
	return n, err
}

// writeBacklog writes what no-wait writes left, waiting as write does.
func (w *deadlineWriter) writeBacklog() error {
	_, err := w.write(w.backlog)
	if cap(w.backlog) > 64<<10 {
		w.backlog = nil
	} else {
		w.backlog = w.backlog[:0]
	}
	return err
}

// writeNow writes as much of p as the socket takes without waiting, in
// one system call, and returns how much that was. An error (the socket
// full, or worse) writes nothing: the write that may wait meets it again.
func (w *deadlineWriter) writeNow(p []byte) int {
	if w.raw == nil {
		return 0
	}
	n := 0
	w.raw.Write(func(fd uintptr) bool {
		m, err := syscall.Write(int(fd), p)
		if err == nil && m > 0 {
			n = m
		}
		return true // done, whatever it took: never wait for room
	})
	return n
}

// close ends the stream: waiting transfers stop (what they took goes
// back), the connection closes and the session loses it.
func (st *stream) close() {
	st.sends.stop()
	st.s.streamsMu.Lock()
	shutdown := st.s.streamsClosed
	st.s.streamsMu.Unlock()
	if shutdown {
		// The broker is closed: waiting transfers are answering that.
		st.async.Wait()
	}
	st.cancel()
	st.async.Wait()
	st.flush()
	st.conn.Close()
	st.s.untrack(st)
	st.sess.DropConn()
}

// decodeSend decodes a send request's frames. The messages alias body:
// the broker copies what it keeps, so body may be reused after Send.
func decodeSend(body []byte, maxPayload int) ([]wire.Message, error) {
	var msgs []wire.Message
	var d wire.Delivery
	for n := 1; len(body) > 0; n++ {
		rest, err := wire.ParseFrame(body, maxPayload, &d)
		if err != nil {
			// "frame N: " names the refused message, as on HTTP.
			if errors.Is(err, wire.ErrFrameTooLarge) {
				return nil, fmt.Errorf("frame %d: %w", n, err)
			}
			return nil, badRequest(fmt.Sprintf("frame %d: %v", n, err))
		}
		if msgs == nil {
			msgs = make([]wire.Message, 0, sendCapacity(len(body), len(body)-len(rest)))
		}
		body = rest
		if len(msgs) == wire.MaxSendMessages {
			return nil, tooManyMessages()
		}
		msgs = append(msgs, d.Message)
	}
	return msgs, nil
}

// sendCapacity guesses how many frames a send body of size bytes holds
// from the size of its first frame: a batch's messages are mostly alike.
// Grown by append from nothing, the slice of a batch of 8,192 was a
// fifth of the switch's CPU in msw-send's ingest, copying. A first frame
// smaller than the rest costs at most MaxSendMessages entries, for a body
// that many times the first frame's size.
func sendCapacity(size, first int) int {
	return min(wire.MaxSendMessages, size/max(first, 1)+1)
}

// decodeJSON decodes a control body.
func decodeJSON(body []byte, v any) error {
	if len(body) == 0 {
		return badRequest("empty body: expected a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("bad JSON body: " + err.Error())
	}
	return nil
}
