package lib

// Asynchronous sends: SendAsync hands a message to the stream and
// returns at once, as a producer with one message at a time wants; the
// switch answers only a failure (a quiet send, wire.StreamQuiet), and a
// ping every quietEvery sends confirms those before it. Sends made while
// the stream is writing share its write, so one producer's messages go
// several to a system call, as a publisher's do behind an asynchronous
// window; and those to one queue join one request (sendjoin.go), so the
// switch takes them as a batch.

import (
	"context"
	"sync"

	"msw/internal/wire"
)

// asyncWindow bounds the sends of one client that SendAsync has handed
// on and that are not yet accepted: past it, SendAsync waits.
const asyncWindow = 4096

// asyncSends is a client's SendAsync state.
type asyncSends struct {
	once  sync.Once
	slots chan struct{} // one per send under way; asyncWindow of them

	mu    sync.Mutex
	n     int           // sends under way
	empty chan struct{} // closed when n drops to 0; made by whoever waits
}

func (a *asyncSends) init() {
	a.once.Do(func() { a.slots = make(chan struct{}, asyncWindow) })
}

func (a *asyncSends) add() {
	a.mu.Lock()
	a.n++
	a.mu.Unlock()
}

func (a *asyncSends) done() {
	a.mu.Lock()
	a.n--
	if a.n == 0 && a.empty != nil {
		close(a.empty)
		a.empty = nil
	}
	a.mu.Unlock()
	<-a.slots
}

// drained is closed once no send is under way.
func (a *asyncSends) drained() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == 0 {
		return closedChan
	}
	if a.empty == nil {
		a.empty = make(chan struct{})
	}
	return a.empty
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Pending is the outcome of a SendAsync, known once Done is closed.
type Pending struct {
	done chan struct{}
	err  error
}

// Done is closed once the switch has accepted the message or it failed.
func (p *Pending) Done() <-chan struct{} { return p.done }

// Err is nil once the message was accepted, or why it was not; it may be
// called only after Done is closed.
func (p *Pending) Err() error { return p.err }

// Wait waits for the outcome of the send, or for ctx to end (ctx's error;
// the send goes on).
func (p *Pending) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SendAsync enqueues m into queue without waiting for the switch's
// answer: it returns once the message is on its way (or, with
// asyncWindow sends under way, once one of those is accepted). The
// Pending tells later whether the switch accepted it: the switch answers
// only a failure, and confirms the rest in passing. Use Flush to wait for
// all of them. A send whose connection breaks before it is confirmed is
// sent again (at least once, as Send), so after an outage messages may
// arrive out of order or twice. Sends to one queue made close together
// may travel as one request; if the switch refuses it (a full queue, one
// message over the limit), each is sent again alone to get its own
// answer, so a refusal too may let later messages in first. ctx bounds
// the wait for room and any send again; m's payload may be reused once
// SendAsync returns.
func (c *Client) SendAsync(ctx context.Context, queue string, m Message) *Pending {
	p := &Pending{done: make(chan struct{})}
	if err := ctx.Err(); err != nil {
		p.finish(err) // sends nothing
		return p
	}
	a := &c.async
	a.init()
	select {
	case a.slots <- struct{}{}:
	case <-ctx.Done():
		p.finish(ctx.Err())
		return p
	}
	a.add()
	finish := func(err error) {
		p.finish(err)
		a.done()
	}
	body := wire.AppendSendFrame(make([]byte, 0, len(m.Payload)+len(m.CorrelationID)+len(m.ReplyTo)+24), m.wireMessage())
	// On the stack: a request made by opRequest, path and all, was a
	// fifth of SendAsync's CPU.
	r := streamRequest(wire.OpSend, queue, 0, body)
	r.join = true
	_, sent := c.doQuiet(ctx, &r, len(a.slots), func(err error) {
		if err == nil || !resendAsync(err) {
			finish(err)
			return
		}
		// Sent again from its frame: m's payload may be the caller's
		// again by now.
		go func() {
			_, _, err := c.sendFrames(ctx, queue, body, 1)
			finish(err)
		}()
	})
	if !sent {
		mm := m // a copy of its own: m itself stays off the heap
		_, err := c.Send(ctx, queue, mm)
		finish(err)
	}
	return p
}

func (p *Pending) finish(err error) {
	p.err = err
	close(p.done)
}

// resendAsync reports whether a quiet send's failure calls for sending it
// again through the one request path (do), which knows what to do next:
// its stream broke (it may not have arrived), or the switch refused it
// for its session (ended, or lost in a restart) or because it is
// stopping, rather than for the message.
func resendAsync(err error) bool {
	if isJoinedRefusal(err) {
		return true // maybe another message's: each gets its own answer
	}
	e, refused := err.(*Error)
	return !refused || e.Code == CodeUnknownSession || e.Code == CodeShuttingDown
}

// Flush waits until every SendAsync made before it has its outcome, or
// ctx ends (ctx's error). It reports nothing of the outcomes: each
// Pending has its own.
func (c *Client) Flush(ctx context.Context) error {
	c.confirmQuiet(ctx, false)
	select {
	case <-c.async.drained():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
