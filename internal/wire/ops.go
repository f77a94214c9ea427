package wire

import (
	"net/url"
	"strconv"
	"strings"
)

// Op describes one hot-path operation once: how it travels as an HTTP
// request, and as which stream op. The client library and the server both
// read these rows, so adding an operation is one row here plus its handler
// on each side.
type Op struct {
	// Name is the operation's short name, as logs and the -v output show it.
	Name string
	// Method and Route are the operation's HTTP request. Route is a
	// net/http ServeMux pattern: {name} stands for a queue name (one
	// path-escaped segment) and {id} for a message id.
	Method, Route string
	// Stream is the operation's stream op; 0 for an operation only HTTP
	// carries.
	Stream StreamOp
	// Idempotent operations may be sent again after a connection broke
	// before their answer came.
	Idempotent bool
}

// The hot-path operations. Operations not listed here (login, queue
// listing, diagnostics, trace, shutdown) are HTTP-only and use the Path
// constants directly.
var (
	OpSend      = Op{Name: "send", Method: "POST", Route: PathQueuePrefix + "{name}" + SuffixMessages, Stream: StreamSend}
	OpTransfer  = Op{Name: "transfer", Method: "POST", Route: PathTransfer, Stream: StreamTransfer}
	OpAck       = Op{Name: "ack", Method: "POST", Route: PathAck, Stream: StreamAck, Idempotent: true}
	OpRelease   = Op{Name: "release", Method: "POST", Route: PathRelease, Stream: StreamRelease, Idempotent: true}
	OpWithdraw  = Op{Name: "withdraw", Method: "DELETE", Route: PathQueuePrefix + "{name}" + SuffixMessages + "/{id}", Stream: StreamWithdraw, Idempotent: true}
	OpKeepalive = Op{Name: "keepalive", Method: "POST", Route: PathKeepalive, Stream: StreamPing, Idempotent: true}
	OpPublish   = Op{Name: "publish", Method: "POST", Route: PathTopicPrefix + "{name}/messages", Stream: StreamPublish}
)

// HotOps lists every row above, in stream-op order.
var HotOps = []Op{OpSend, OpTransfer, OpAck, OpRelease, OpWithdraw, OpKeepalive, OpPublish}

// Pattern is the operation's ServeMux pattern: "METHOD ROUTE".
func (o Op) Pattern() string { return o.Method + " " + o.Route }

// Path fills in the operation's route for one request: {name} becomes the
// path-escaped queue and {id} the message id.
func (o Op) Path(queue string, id uint64) string {
	p := o.Route
	if i := strings.Index(p, "{name}"); i >= 0 {
		p = p[:i] + url.PathEscape(queue) + p[i+len("{name}"):]
	}
	if i := strings.Index(p, "{id}"); i >= 0 {
		p = p[:i] + strconv.FormatUint(id, 10) + p[i+len("{id}"):]
	}
	return p
}

// OpByStream finds the row of a stream op; ok is false for stream-only
// ops (cancel, consume, reply) and unknown ones.
func OpByStream(s StreamOp) (Op, bool) {
	for _, o := range HotOps {
		if o.Stream == s {
			return o, true
		}
	}
	return Op{}, false
}
