package lib

// RPC over named queues, the switch's request/reply pattern.
//
// Caller side (caller.go). Call works through a session of its own (a child client
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
// Server side (serve.go). Serve also works through a session of its own. The switch
// pushes it requests while fewer than its prefetch (by default its
// concurrency) are unacked (or its loop asks for as many as it may
// hold); it runs the handler for each, as many at once as its
// concurrency allows (the rest wait in order, and a worker whose handler
// returned takes the next), sends the reply, and only then acks the
// request — in one step on the stream — so a server that dies
// mid-request, or with requests waiting, loses nothing: the switch gives
// them to the next server.
//
// Message ids are per switch instance: after a restart the same queue
// and id may name a different message. Acks, releases and withdrawals are
// therefore bound to the session (epoch) the message was seen in, and
// dropped once that session is gone, instead of being applied in a new
// one (bound.go).

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
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

// ErrGiveBack, returned by a Handler (or wrapped in its error), gives the
// request back to its queue, to be delivered again (to this server or
// another), instead of sending a reply.
var ErrGiveBack = errors.New("request given back")

// RemoteError is a failure reply: the server's handler failed (for
// msw-serve, the program it ran exited non-zero).
type RemoteError struct {
	// Status is non-zero: the failed program's exit status, 1 when it
	// had none.
	Status int
	// Message is the error text the server sent.
	Message string
}

// Error returns the server's message, or says its status if it sent none.
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
	Payload       []byte // the request's body
}

// Handler answers a request. A non-nil error sends a failure reply: the
// Status and Message of a *RemoteError, else status 1 and the error's
// text; ErrGiveBack sends none and gives the request back instead.
type Handler func(ctx context.Context, req *Request) ([]byte, error)

// ServeOptions shape a Serve.
type ServeOptions struct {
	// Concurrency is how many requests are handled at once; default 1.
	Concurrency int
	// Prefetch is how many requests the server holds at most, running
	// and waiting for a free handler together; default (and at least)
	// Concurrency. Above it, requests wait in the server, in order, and a
	// handler that returns takes the next at once, without a round trip
	// to the switch or a wake-up of another goroutine: for a handler that
	// never blocks, Concurrency 1 with a Prefetch of the callers
	// expected is the quickest set-up. A request waiting is given back
	// when Serve stops, and redelivered elsewhere if the server dies.
	Prefetch int
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
