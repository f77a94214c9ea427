package recv

import (
	"context"

	"msw/lib"
)

// recvAckBehind is how many messages the reader may have taken, not yet
// acknowledged, while an acknowledgement is on its way: past it, msw-recv
// waits for that one before it writes on, so that a msw-recv killed
// meanwhile repeats no more than that, the acknowledgement in flight
// and the window in the pipe.
const recvAckBehind = 2 * recvAckCount

// acker sends the acknowledgement of what the reader has taken to the
// switch in the background, so that msw-recv writes on meanwhile. One
// acknowledgement is in flight at a time; what the reader takes while it
// is coalesces into the next. The receiver's goroutine owns the acker:
// the request's goroutine sees only the Acks handed to it, and hands back
// only its error.
type acker struct {
	inflight  lib.Acks   // being acknowledged, or nil
	ninflight int        // messages in inflight
	result    chan error // the in-flight request's error
}

// busy reports whether an acknowledgement is in flight.
func (a *acker) busy() bool { return a.inflight != nil }

// start sends acks in the background. Nothing may be in flight.
func (a *acker) start(ctx context.Context, cl *lib.Client, acks lib.Acks, n int) {
	if a.result == nil {
		a.result = make(chan error, 1)
	}
	a.inflight, a.ninflight = acks, n
	go func() { a.result <- ackErr(cl.Ack(ctx, acks)) }()
}

// done returns the in-flight acknowledgement's outcome, waiting for it
// when wait is true: ok is false when it is still in flight (and wait
// is false). failed are the messages it did not acknowledge (nil on
// success), with their number and the error.
func (a *acker) done(wait bool) (ok bool, failed lib.Acks, n int, err error) {
	if !a.busy() {
		return true, nil, 0, nil
	}
	if wait {
		err = <-a.result
	} else {
		select {
		case err = <-a.result:
		default:
			return false, nil, 0, nil
		}
	}
	if err != nil {
		failed, n = a.inflight, a.ninflight
	}
	a.inflight, a.ninflight = nil, 0
	return true, failed, n, err
}

// ackErr is err, but for the errors of an acknowledgement that are not
// failures: messages already gone (acknowledged by an earlier request
// whose answer was lost), or their queue.
func ackErr(err error) error {
	if err != nil && (lib.IsCode(err, lib.CodeNoSuchMessage) || lib.IsCode(err, lib.CodeNoSuchQueue)) {
		return nil
	}
	return err
}
