package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"msw/broker"
	"msw/internal/wire"
)

// The hot-path operations (wire.HotOps) each have one function here that
// does the work, whichever way the request came: it reads the request
// through a call, asks the broker, and answers through the call. routes
// registers each operation's HTTP route and stream.handle dispatches its
// stream op to the same function, both from the table, so that adding an
// operation is a row in wire.HotOps and an entry in hotOps.

// opFunc carries out one hot-path request and returns the status it
// answered (0 when the answer comes later: a transfer left waiting on a
// stream).
type opFunc func(s *Server, c *call) int

// hotOps maps each operation of wire.HotOps, by name, to its function.
var hotOps = map[string]opFunc{
	wire.OpSend.Name:      (*Server).send,
	wire.OpTransfer.Name:  (*Server).transfer,
	wire.OpAck.Name:       (*Server).ack,
	wire.OpRelease.Name:   (*Server).release,
	wire.OpWithdraw.Name:  (*Server).withdraw,
	wire.OpKeepalive.Name: (*Server).keepalive,
	wire.OpPublish.Name:   (*Server).publish,
}

// hotOp returns the function of a row of wire.HotOps. A row without one
// is a mistake in the program: the package panics as it initializes
// (streamOps) or New does (routes), so any test finds it.
func hotOp(op wire.Op) opFunc {
	f := hotOps[op.Name]
	if f == nil {
		panic("server: no function for hot-path operation " + op.Name)
	}
	return f
}

// call is one hot-path request, as an HTTP exchange (w and r set) or as
// a stream request (st and req set).
type call struct {
	queue string // the {name} of the route, or the stream request's queue

	w http.ResponseWriter
	r *http.Request

	st  *stream
	req *wire.StreamRequest
}

// httpCalls recycles the calls of HTTP requests: one allocation fewer
// per request. A call is not kept past its function's return.
var httpCalls = sync.Pool{New: func() any { return new(call) }}

// httpOp adapts an operation's function to its HTTP route.
func (s *Server) httpOp(op wire.Op, f opFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if rec, ok := w.(*statusRecorder); ok {
			rec.op = op.Name // for the -v log line
		}
		c := httpCalls.Get().(*call)
		*c = call{queue: r.PathValue("name"), w: w, r: r}
		f(s, c)
		*c = call{}
		httpCalls.Put(c)
	}
}

// session is the request's session. On HTTP, a request without one is
// refused if required, and carries none otherwise; on a stream it is the
// stream's.
func (c *call) session(s *Server, required bool) (*broker.Session, error) {
	switch {
	case c.st != nil:
		return c.st.sess, nil
	case required:
		return s.session(c.r)
	}
	return s.optionalSession(c.r)
}

// decodeJSON decodes the request's JSON body into v.
func (c *call) decodeJSON(v any) error {
	if c.st != nil {
		return decodeJSON(c.req.Body, v)
	}
	return readJSON(c.w, c.r, v)
}

// messageID is the id of the message the request names: the route's
// {id}, or the stream request's argument.
func (c *call) messageID() (uint64, error) {
	if c.st != nil {
		return c.req.Arg, nil
	}
	id, err := strconv.ParseUint(c.r.PathValue("id"), 10, 64)
	if err != nil {
		return 0, badRequest(fmt.Sprintf("message id %q: want a whole number", c.r.PathValue("id")))
	}
	return id, nil
}

// messages decodes the messages of a send: a stream request's frames; on
// HTTP a frames body, or one message made of the body and the headers.
func (c *call) messages(maxPayload int) ([]wire.Message, error) {
	if c.st != nil {
		return decodeSend(c.req.Body, maxPayload)
	}
	if isFrames(c.r.Header.Get("Content-Type")) {
		return readFrames(c.w, c.r, maxPayload)
	}
	return readMessage(c.w, c.r, maxPayload)
}

// answer answers with status and body (JSON, or nil for none). A quiet
// stream request's success is not answered (wire.StreamQuiet).
func (c *call) answer(status int, body []byte) int {
	if c.st != nil {
		if c.req.Quiet && status/100 == 2 {
			return status
		}
		return c.st.answer(c.req.ID, status, body)
	}
	if body == nil {
		c.w.WriteHeader(status)
		return status
	}
	c.w.Header().Set("Content-Type", wire.ContentTypeJSON)
	c.w.WriteHeader(status)
	c.w.Write(body)
	return status
}

// fail answers err.
func (c *call) fail(err error) int {
	if c.st != nil {
		return c.st.answerError(c.req.ID, err)
	}
	return writeError(c.w, err)
}

// settled tells the stream's consumers of acks or releases made by the
// request: those of messages pushed to them make room. HTTP requests
// have no consumers to tell; a stream's are handled by its reader.
func (c *call) settled(acks wire.Acks) {
	if c.st != nil {
		c.st.settled(acks, c.st)
	}
}

// transfer takes up to max messages for sess, waiting up to timeout for
// a first one, and answers with them. On HTTP it waits in the request's
// goroutine; a stream answers at once if messages are ready and
// otherwise waits in a goroutine of its own.
func (c *call) transfer(s *Server, sess *broker.Session, max int, timeout time.Duration) int {
	if c.st != nil {
		return c.st.transfer(c.req.ID, sess, max, timeout)
	}
	ds, err := s.b.Transfer(c.r.Context(), sess, max, timeout)
	if err != nil && c.r.Context().Err() == nil {
		return writeError(c.w, err)
	}
	if err := writeDeliveries(c.w, c.r, ds); err != nil {
		// The client did not take its answer: what it was given goes
		// back at once, as from a stream that stops reading, not when
		// its session ends.
		s.b.Release(sess, deliveriesAcks(ds))
	}
	return http.StatusOK
}

// send enqueues the request's messages into the queue named.
func (s *Server) send(c *call) int {
	sess, msgs, err := c.sent(s)
	if err != nil {
		return c.fail(err)
	}
	id, err := s.b.Send(sess, c.queue, msgs)
	if err != nil {
		return c.fail(err)
	}
	return c.answer(http.StatusOK, sendAnswer(id, len(msgs)))
}

// publish enqueues a copy of the request's messages into every queue
// bound to a pattern matching the topic named.
func (s *Server) publish(c *call) int {
	sess, msgs, err := c.sent(s)
	if err != nil {
		return c.fail(err)
	}
	n, err := s.b.Publish(sess, c.queue, msgs)
	if err != nil {
		return c.fail(err)
	}
	body := append(strconv.AppendInt([]byte(`{"queues":`), int64(n), 10), "}\n"...)
	return c.answer(http.StatusOK, body)
}

// sent is the session (if any) and the messages of a send or publish.
func (c *call) sent(s *Server) (*broker.Session, []wire.Message, error) {
	sess, err := c.session(s, false)
	if err != nil {
		return nil, nil, err
	}
	msgs, err := c.messages(s.b.Options().MaxPayload)
	return sess, msgs, err
}

// transfer applies the acks the request carries, then takes messages
// for the session.
func (s *Server) transfer(c *call) int {
	sess, err := c.session(s, true)
	if err != nil {
		return c.fail(err)
	}
	var req wire.TransferRequest
	if err := c.decodeJSON(&req); err != nil {
		return c.fail(err)
	}
	if len(req.Acks) > 0 {
		s.b.Ack(sess, req.Acks) // acks of messages already gone are ignored
		c.settled(req.Acks)
	}
	return c.transfer(s, sess, req.Max, time.Duration(req.TimeoutMillis)*time.Millisecond)
}

// ack deletes messages the session was given.
func (s *Server) ack(c *call) int { return s.settle(c, s.b.Ack) }

// release gives messages back to their queues for another delivery.
func (s *Server) release(c *call) int { return s.settle(c, s.b.Release) }

// settle carries out an ack or a release.
func (s *Server) settle(c *call, op func(*broker.Session, wire.Acks) error) int {
	sess, err := c.session(s, false)
	if err != nil {
		return c.fail(err)
	}
	var req wire.AckRequest
	if err := c.decodeJSON(&req); err != nil {
		return c.fail(err)
	}
	err = op(sess, req.Acks)
	c.settled(req.Acks)
	if err != nil {
		return c.fail(err)
	}
	return c.answer(http.StatusNoContent, nil)
}

// maxWithdrawScan bounds how many ready messages a withdrawal by
// correlation id looks through, from the head of the queue.
const maxWithdrawScan = 10_000

// withdraw deletes a ready message from its queue: the one named by id,
// or, on a stream with argument 0, the one whose correlation id is the
// body (an RPC caller giving up on a request it sent quietly, whose id it
// never learnt).
func (s *Server) withdraw(c *call) int {
	id, err := c.messageID()
	if err != nil {
		return c.fail(err)
	}
	if c.st != nil && id == 0 && len(c.req.Body) > 0 {
		id, err = s.correlated(c.queue, string(c.req.Body))
		if err != nil {
			return c.fail(err)
		}
	}
	sess, err := c.session(s, false)
	if err == nil {
		err = s.b.Withdraw(sess, c.queue, id)
	}
	if err != nil {
		return c.fail(err)
	}
	return c.answer(http.StatusNoContent, nil)
}

// correlated finds the id of the ready message of queue with correlation
// id corr, among the first maxWithdrawScan.
func (s *Server) correlated(queue, corr string) (uint64, error) {
	ds, err := s.b.Peek(queue, maxWithdrawScan)
	if err != nil {
		return 0, err
	}
	for i := range ds {
		if ds[i].CorrelationID == corr {
			return ds[i].ID, nil
		}
	}
	return 0, fmt.Errorf("%w: no ready message of %s has correlation id %q", broker.ErrNoSuchMessage, queue, corr)
}

// keepalive tells the switch the session's client is alive; it answers
// whether the session still is.
func (s *Server) keepalive(c *call) int {
	sess, err := c.session(s, true)
	if err == nil && sess.Ended() {
		err = broker.ErrSessionEnded
	}
	if err != nil {
		return c.fail(err)
	}
	return c.answer(http.StatusNoContent, nil)
}

// sendAnswer is the body of a send's answer: wire.SendResponse as JSON.
func sendAnswer(id uint64, count int) []byte {
	body := append(make([]byte, 0, 48), `{"id":`...)
	body = strconv.AppendUint(body, id, 10)
	body = append(body, `,"count":`...)
	body = strconv.AppendInt(body, int64(count), 10)
	return append(body, "}\n"...)
}

// readFrames reads an HTTP send's frames body.
func readFrames(w http.ResponseWriter, r *http.Request, maxPayload int) ([]wire.Message, error) {
	body := http.MaxBytesReader(w, r.Body, int64(wire.MaxRequestLen(maxPayload)))
	fr := wire.NewFrameReader(body, maxPayload)
	defer fr.Close()
	var msgs []wire.Message
	var d wire.Delivery
	for {
		err := fr.Next(&d)
		if err == io.EOF {
			return msgs, nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.Is(err, wire.ErrFrameTooLarge) || errors.As(err, &mbe) {
				return nil, err
			}
			return nil, badRequest(err.Error())
		}
		if len(msgs) == wire.MaxSendMessages {
			return nil, tooManyMessages()
		}
		msgs = append(msgs, d.Message)
	}
}

// tooManyMessages refuses a send of more than wire.MaxSendMessages, as
// soon as the one past the bound is read.
func tooManyMessages() error {
	return fmt.Errorf("send: %w: more than %d messages in one request", broker.ErrTooLarge, wire.MaxSendMessages)
}

// readMessage reads an HTTP send of one message: the body is its
// payload, the Msw- headers its fields.
func readMessage(w http.ResponseWriter, r *http.Request, maxPayload int) ([]wire.Message, error) {
	payload, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(maxPayload)))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = fmt.Errorf("payload: %w: over the limit of %d bytes", broker.ErrTooLarge, maxPayload)
		}
		return nil, err
	}
	m := wire.Message{
		Payload:       payload,
		CorrelationID: r.Header.Get(wire.HeaderCorrelationID),
		ReplyTo:       r.Header.Get(wire.HeaderReplyTo),
	}
	if v := r.Header.Get(wire.HeaderStatus); v != "" {
		st, err := strconv.ParseUint(v, 10, 8)
		if err != nil {
			return nil, badRequest(fmt.Sprintf("%s %q: want 0 to 255", wire.HeaderStatus, v))
		}
		m.Status = uint8(st)
	}
	return []wire.Message{m}, nil
}
