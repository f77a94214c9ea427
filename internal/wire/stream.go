package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// The stream: one persistent connection carrying a session's hot-path
// requests (send, transfer, ack, release, withdraw) as binary frames,
// many in flight at once, instead of one HTTP exchange each. A client
// opens it with an HTTP/1.1 upgrade:
//
//	GET /v1/stream HTTP/1.1
//	Connection: Upgrade
//	Upgrade: msw-stream/1
//	Msw-Session: TOKEN
//
// and, on "101 Switching Protocols", both sides speak frames. Every frame
// starts with its length (4 bytes, big-endian, not counting themselves).
//
// A request frame is:
//
//	byte     op (a StreamOp)
//	uvarint  request id, chosen by the client, echoed in the answer
//	string   queue (send, withdraw, reply: where the reply goes; empty
//	         otherwise)
//	uvarint  argument (withdraw: message id, or 0 with a correlation id
//	         as the body; cancel: the request id to
//	         cancel; consume: the window; reply: the id of the request
//	         answered; 0 otherwise)
//	rest     body: what the HTTP request would carry (send: a frames
//	         body; transfer: TransferRequest JSON; ack, release:
//	         AckRequest JSON; consume: one flags byte; reply: the request's
//	         queue as a string, then the reply's frame; empty otherwise)
//
// An answer frame is:
//
//	uvarint  request id
//	uvarint  HTTP status the same request would have got
//	rest     the body the HTTP answer would have had (frames for a
//	         transfer, SendResponse JSON for a send, a one-line JSON
//	         Error for a failure, empty for 204)
//
// Answers come in any order. Cancel has no answer of its own: the
// cancelled transfer answers at once with what it has (usually nothing).
//
// Consume turns the session's subscriptions into a push: the switch
// sends deliveries as they come, each batch an answer (200, frames) to
// the consume request, while fewer than window pushed messages are
// unacked; an ack or release of a pushed message (by any request on the
// stream) makes room. With ConsumeAutoAck they are acked as they are
// pushed. A consume ends with a final non-200 answer (the session ended,
// the switch is stopping) or, silently, when cancelled: what it had
// taken but not pushed goes back.
//
// A request whose op byte has StreamQuiet set is answered only if it
// fails: a success writes nothing. Any answer to a later request (written
// after the quiet one) tells the client it succeeded, since the switch
// handles a stream's requests in order and answers a failure at once;
// a ping is the barrier a client sends when it needs to know. Quiet is
// honoured for send, publish, ack, release, withdraw and reply; a
// transfer, consume or ping always answers.
//
// Reply sends one message (the body's frame) to queue and then acks
// message argument of the queue named at the head of the body, in one
// step: the ack is applied only if the reply was enqueued, or if its
// queue no longer exists (the caller is gone); the answer is the send's.

// PathStream is the endpoint a stream is opened on (GET with Upgrade).
const PathStream = "/v1/stream"

// StreamProtocol is the Upgrade token of the stream.
const StreamProtocol = "msw-stream/1"

// StreamOp says what a stream request asks for.
type StreamOp byte

// The stream's operations.
const (
	StreamSend     StreamOp = 1  // enqueue the body's frames into queue
	StreamTransfer StreamOp = 2  // POST /v1/transfer
	StreamAck      StreamOp = 3  // POST /v1/ack
	StreamRelease  StreamOp = 4  // POST /v1/release
	StreamWithdraw StreamOp = 5  // DELETE /v1/queues/{queue}/messages/{argument}
	StreamCancel   StreamOp = 6  // end the transfer with request id argument
	StreamPing     StreamOp = 7  // answers 204: the keep-alive
	StreamConsume  StreamOp = 8  // push deliveries, argument = window
	StreamReply    StreamOp = 9  // send a reply and ack its request
	StreamPublish  StreamOp = 10 // publish the body's frames to topic queue
)

// StreamQuiet, or'ed into a request's op byte, asks for an answer only if
// the request fails.
const StreamQuiet byte = 0x80

// Consume flags, the first byte of a consume request's body.
const (
	// ConsumeAutoAck acks what is pushed as it is pushed: for reply
	// queues, whose messages matter only to the session that owns them.
	ConsumeAutoAck byte = 1
)

// String names the op: the name of its row of HotOps, or of a stream-only
// op.
func (op StreamOp) String() string {
	if o, ok := OpByStream(op); ok {
		return o.Name
	}
	switch op {
	case StreamCancel:
		return "cancel"
	case StreamConsume:
		return "consume"
	case StreamReply:
		return "reply"
	}
	return fmt.Sprintf("op(%d)", byte(op))
}

// MaxStreamHead bounds the part of a request frame before its body.
const MaxStreamHead = 1 + 2*binary.MaxVarintLen64 + binary.MaxVarintLen16 + MaxNameLen

// StreamRequest is a decoded request frame. Its Queue and Body alias the
// frame they were decoded from.
type StreamRequest struct {
	Op    StreamOp
	Quiet bool // answer only a failure (StreamQuiet)
	ID    uint64
	Queue string
	Arg   uint64
	Body  []byte
}

// AppendStreamRequest appends a request frame for r, whose body is
// bodyLen bytes that the caller appends (or writes) right after. The
// length prefix counts them.
func AppendStreamRequest(b []byte, r *StreamRequest, bodyLen int) []byte {
	at := len(b)
	op := byte(r.Op)
	if r.Quiet {
		op |= StreamQuiet
	}
	b = append(b, 0, 0, 0, 0, op)
	b = binary.AppendUvarint(b, r.ID)
	b = appendString(b, r.Queue)
	b = binary.AppendUvarint(b, r.Arg)
	binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4+bodyLen))
	return b
}

// ParseStreamRequest decodes the frame f (without its length prefix).
func ParseStreamRequest(f []byte, r *StreamRequest) error {
	if len(f) == 0 {
		return errors.New("empty stream frame")
	}
	r.Op = StreamOp(f[0] &^ StreamQuiet)
	r.Quiet = f[0]&StreamQuiet != 0
	rest := f[1:]
	var ok bool
	if r.ID, rest, ok = uvarint(rest); !ok {
		return errors.New("stream frame: bad request id")
	}
	n, rest, ok := uvarint(rest)
	if !ok || n > uint64(len(rest)) || n > MaxNameLen {
		return errors.New("stream frame: bad queue")
	}
	r.Queue = string(rest[:n]) // short; a string the broker may keep
	rest = rest[n:]
	if r.Arg, rest, ok = uvarint(rest); !ok {
		return errors.New("stream frame: bad argument")
	}
	r.Body = rest
	return nil
}

// ParseStreamID decodes just the op and request id at the head of a
// frame, for answering a frame that is refused unread.
func ParseStreamID(head []byte) (StreamOp, uint64, bool) {
	if len(head) == 0 {
		return 0, 0, false
	}
	id, _, ok := uvarint(head[1:])
	return StreamOp(head[0] &^ StreamQuiet), id, ok
}

// AppendStreamAnswer appends an answer frame head for request id with the
// given status, whose body is bodyLen bytes appended (or written) after.
func AppendStreamAnswer(b []byte, id uint64, status int, bodyLen int) []byte {
	at := len(b)
	b = append(b, 0, 0, 0, 0)
	b = binary.AppendUvarint(b, id)
	b = binary.AppendUvarint(b, uint64(status))
	binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4+bodyLen))
	return b
}

// ParseStreamAnswer decodes an answer frame f (without its length
// prefix); body aliases f.
func ParseStreamAnswer(f []byte) (id uint64, status int, body []byte, err error) {
	id, rest, ok := uvarint(f)
	if !ok {
		return 0, 0, nil, errors.New("stream answer: bad request id")
	}
	st, rest, ok := uvarint(rest)
	if !ok || st > 999 {
		return 0, 0, nil, errors.New("stream answer: bad status")
	}
	return id, int(st), rest, nil
}

// ReadStreamLength reads a frame's length prefix.
func ReadStreamLength(r io.Reader, buf *[4]byte) (int, error) {
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return 0, err
	}
	return int(binary.BigEndian.Uint32(buf[:])), nil
}

// ReadStreamFrame reads the n-byte frame that follows a length prefix,
// into buf if it is large enough, and returns it. A larger frame's buffer
// grows as its bytes arrive, not to n at once, so that a length prefix
// alone cannot make the reader allocate up to its limit: what is
// allocated stays within about twice what was read. On an error the
// bytes read so far are returned, in a buffer the caller may reuse.
func ReadStreamFrame(r io.Reader, n int, buf []byte) ([]byte, error) {
	if cap(buf) >= n {
		f := buf[:n]
		m, err := io.ReadFull(r, f)
		return f[:m], err
	}
	f := buf[:0]
	for len(f) < n {
		if len(f) == cap(f) {
			f = slices.Grow(f, min(n-len(f), max(len(f), 64<<10)))
		}
		m, err := io.ReadFull(r, f[len(f):min(n, cap(f))])
		f = f[:len(f)+m]
		if err != nil {
			return f, err
		}
	}
	return f, nil
}

func uvarint(b []byte) (uint64, []byte, bool) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, b, false
	}
	return v, b[n:], true
}

// AppendString appends s as a string field (uvarint length, bytes).
func AppendString(b []byte, s string) []byte { return appendString(b, s) }

// CutString decodes a string field at the head of b and returns the rest.
func CutString(b []byte) (string, []byte, bool) {
	n, rest, ok := uvarint(b)
	if !ok || n > uint64(len(rest)) {
		return "", b, false
	}
	return string(rest[:n]), rest[n:], true
}
