package lib

// Quiet sends that join: SendAsync's messages, one per quiet send, were
// one stream request each, and the switch handled each on its own (a
// session look-up, a queue lock, a trace claim, an enqueue of one). When
// many are under way their frames wait in the stream's write buffer for
// the writer at work; a quiet send of one message to the same queue as
// the request last put there now joins it instead: its frame is appended
// to that request's body and the request's length prefix rewritten, so
// that the switch takes them as one batch. Only the last request in the
// buffer can grow (the order of requests on the stream stays the order
// of the writes), and only until the writer takes the buffer.
//
// A joined request is enqueued whole or refused whole. A refusal may be
// one message's (over the payload limit) or the queue's (full); each
// message of a refused joined request fails with a joinedRefusal, and
// SendAsync sends it again on its own so that it gets its own answer, as
// a coalesced batch's messages are (coalesce.go). A stream that breaks
// fails every message of it as it fails any quiet request: each rider is
// registered, counted among the quiet requests and listed with the
// frames written, under its own id that never goes on the wire.

import (
	"encoding/binary"
	"errors"

	"msw/internal/wire"
)

// joinable is the request last put in the stream's write buffer, while
// quiet sends may join it.
type joinable struct {
	head   *streamCall // nil: none may join
	at     int         // offset of its frame in wbuf
	queue  string
	frames int // messages in its body
}

// joins reports whether call, written with req, is a quiet send that may
// join a request or be joined: one asked to (call.join), not following an
// earlier send (req.Arg).
func joins(req *wire.StreamRequest, call *streamCall) bool {
	return call != nil && call.join && req.Op == wire.OpSend.Stream && req.Arg == 0
}

// openLocked records the request just appended to wbuf at offset at: one
// later quiet sends may join if it is a joinable quiet send. wmu held.
func (sc *streamConn) openLocked(at int, req *wire.StreamRequest, call *streamCall) {
	sc.join = joinable{}
	if joins(req, call) {
		sc.join = joinable{head: call, at: at, queue: req.Queue, frames: 1}
	}
}

// joinLocked appends the frame of call, a joinable quiet send, to the
// request that may be joined, if it is one to the same queue with room;
// it reports whether it did. wmu held.
func (sc *streamConn) joinLocked(req *wire.StreamRequest, body []byte, call *streamCall) bool {
	j := &sc.join
	if j.head == nil || !joins(req, call) || req.Queue != j.queue ||
		j.frames >= wire.MaxSendMessages || len(sc.wbuf)-j.at+len(body) > maxBatchBytes {
		return false
	}
	sc.wbuf = append(sc.wbuf, body...)
	binary.BigEndian.PutUint32(sc.wbuf[j.at:], uint32(len(sc.wbuf)-j.at-4))
	j.frames++
	j.head.riders = append(j.head.riders, call)
	// A quiet request of its own in all but its bytes: numbered and
	// confirmed as one (nothing can follow it in wbuf but other riders),
	// and counted for the ping every quietEvery.
	sc.writtenLocked(call)
	return true
}

// answerQuiet hands the switch's answer to quiet request call (err nil
// for a success) and to the sends that joined it, each still waiting.
func (sc *streamConn) answerQuiet(call *streamCall, err error) {
	sc.wmu.Lock()
	riders := call.riders
	call.riders = nil
	sc.wmu.Unlock()
	if err != nil && len(riders) > 0 {
		err = &joinedRefusal{err}
	}
	call.quiet(err)
	if len(riders) == 0 {
		return
	}
	sc.mu.Lock()
	for i, r := range riders {
		if sc.pending[r.id] == r {
			delete(sc.pending, r.id)
		} else {
			riders[i] = nil // the stream broke meanwhile, and failed it
		}
	}
	sc.mu.Unlock()
	for _, r := range riders {
		if r != nil {
			r.quiet(err)
		}
	}
}

// joinedRefusal is the switch's refusal of a request that several quiet
// sends joined: it may have been any one message's, so each is sent
// again on its own.
type joinedRefusal struct{ err error }

func (e *joinedRefusal) Error() string { return e.err.Error() + " (a send that others joined)" }
func (e *joinedRefusal) Unwrap() error { return e.err }

// isJoinedRefusal reports whether err is a joinedRefusal.
func isJoinedRefusal(err error) bool {
	var j *joinedRefusal
	return errors.As(err, &j)
}
