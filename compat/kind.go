package compat

import (
	"strconv"
	"strings"
)

// Every message of the original protocol is a Request, naming the queue
// its reply goes to, or a Response, naming the request it answers by
// (queue, id). An msw message carries a reply-to queue and a correlation
// id instead, and the two map onto each other:
//
//   - A request sent over the compat listener keeps its reply-to and gets
//     the correlation id "<queue>/<id>", its own place (requestCorr). An
//     msw server (msw-serve) echoes that in its reply, which a compat
//     client therefore reads as the Response to (queue, id).
//   - A response sent over the compat listener to (queue, id) carries that
//     request's correlation id when the request is still queued, so an
//     msw caller (msw-call) matches it; otherwise "<queue>/<id>".
//   - Read back, a message with a reply-to is a Request; one without,
//     whose correlation id has the "<queue>/<id>" form, is a Response;
//     any other (a one-way msw message, nobody to answer) is a Request
//     with an empty reply queue.

// kind is a message's KIND in the original protocol.
type kind struct {
	request  bool
	replyTo  string // Request
	reqQueue string // Response
	reqID    int64
}

// requestCorr is the correlation id of the request at (queue, id).
func requestCorr(queue string, id int64) string {
	return queue + "/" + strconv.FormatInt(id, 10)
}

// kindOf maps an msw message's reply-to and correlation id to a KIND.
func kindOf(replyTo, corr string) kind {
	if replyTo == "" {
		if i := strings.LastIndexByte(corr, '/'); i >= 0 {
			if id, err := strconv.ParseInt(corr[i+1:], 10, 64); err == nil {
				return kind{reqQueue: corr[:i], reqID: id}
			}
		}
	}
	return kind{request: true, replyTo: replyTo}
}

// append writes KIND: ["Request","<reply queue>"] or
// ["Response",["<request queue>",<request id>]].
func (k kind) append(e *enc) {
	if k.request {
		e.raw(`["Request",`)
		e.str(k.replyTo)
		e.raw("]")
		return
	}
	e.raw(`["Response",`)
	e.messageID(k.reqQueue, k.reqID)
	e.raw("]")
}
