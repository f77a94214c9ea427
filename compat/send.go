package compat

import (
	"errors"
	"net/http"

	"msw/broker"
	"msw/internal/wire"
)

// Sends. POST /request/<queue>/<reply_to> and
// POST /response/<queue>/<req_queue>/<req_id> enqueue the body, byte for
// byte, and answer [["<queue>",<id>]]; a missing queue is not an error
// in the original: the message is dropped and the answer is [].

// sendRequest enqueues a request whose reply goes to replyTo.
func (s *Server) sendRequest(w http.ResponseWriter, r *http.Request, sess *broker.Session, queue, replyTo string) {
	payload, err := s.readPayload(w, r)
	if err != nil {
		fail(w, err)
		return
	}
	if err := broker.ValidateName(replyTo); err != nil {
		// No reply could reach it; and without one, the request could
		// not be told from a response (kind.go).
		fail(w, badRequest("request to %s: reply queue: %v", queue, err))
		return
	}
	m := wire.Message{Payload: payload, ReplyTo: replyTo}
	id, err := s.b.SendNumbered(sess, queue, m, func(id int64) string { return requestCorr(queue, id) })
	s.sent(w, queue, id, err)
}

// sendResponse enqueues a response to the request (reqQueue, reqID).
func (s *Server) sendResponse(w http.ResponseWriter, r *http.Request, sess *broker.Session, queue, reqQueue, reqIDText string) {
	reqID, err := parseID("request id", reqIDText)
	if err != nil {
		fail(w, err)
		return
	}
	payload, err := s.readPayload(w, r)
	if err != nil {
		fail(w, err)
		return
	}
	corr := requestCorr(reqQueue, reqID)
	if req, ok := s.b.FindCursor(reqQueue, reqID); ok && req.CorrelationID != "" {
		corr = req.CorrelationID // what an msw caller waits for
	}
	first, err := s.b.Send(sess, queue, []wire.Message{{Payload: payload, CorrelationID: corr}})
	var id int64
	if err == nil {
		// Looked up after the send: should the queue be made again in
		// between, the message went with the old one anyway.
		var epoch int64
		epoch, err = s.b.Epoch(queue)
		id = epoch + int64(first)
	}
	s.sent(w, queue, id, err)
}

// sent answers a send: [["<queue>",<id>]], or [] when there is no such
// queue (or no queue could have the name).
func (s *Server) sent(w http.ResponseWriter, queue string, id int64, err error) {
	switch {
	case errors.Is(err, broker.ErrNoSuchQueue), errors.Is(err, broker.ErrBadQueueName):
		reply(w, []byte("[]"))
	case err != nil:
		fail(w, err)
	default:
		var e enc
		e.raw("[")
		e.messageID(queue, id)
		e.raw("]")
		reply(w, e.b)
	}
}
