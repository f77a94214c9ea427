package lib

// The caller: Call's side of RPC over named queues (see rpc.go).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"msw/internal/wire"
)

// caller is the Call side of a client.
type caller struct {
	cl     *Client
	prefix string // of correlation ids
	seq    atomic.Uint64
	done   chan struct{} // the parent client closed

	setupMu sync.Mutex
	replyQ  atomic.Pointer[string]
	madeQ   string   // reply queue created but not yet subscribed
	queues  sync.Map // service queues created

	mu      sync.Mutex
	pending map[string]*pendingCall
	calls   atomic.Int32 // calls under way

	ctx      context.Context // the reply loop's
	cancel   context.CancelFunc
	loopDone chan struct{}
}

// pendingCall is a call waiting for its reply.
type pendingCall struct {
	// outcome gets the reply, once, and the failure of the call's quiet
	// send, once: room for both, so that neither sender waits.
	outcome chan callOutcome
	resend  chan struct{} // nudged when the session may have changed
}

// callOutcome is what came of a call: its reply, or its quiet send's
// failure.
type callOutcome struct {
	reply  *Delivery
	failed error
}

// getCaller returns the client's caller, making it on first use.
func (c *Client) getCaller() (*caller, error) {
	if k := c.caller.Load(); k != nil {
		select {
		case <-c.done:
			return nil, ErrClosed
		default:
			return k, nil // c.mu is every request's lock: not taken again per call
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	k := c.caller.Load()
	if k == nil {
		var rnd [6]byte
		rand.Read(rnd[:])
		ctx, cancel := context.WithCancel(context.Background())
		cl := c.child()
		// Replies are pushed as they come, acked as pushed: the reply
		// queue is this session's own and dies with it.
		cl.push = pushOptions{window: replyWindow, autoAck: true}
		k = &caller{
			cl:       cl,
			prefix:   hex.EncodeToString(rnd[:]) + "-",
			done:     c.done,
			pending:  make(map[string]*pendingCall),
			ctx:      ctx,
			cancel:   cancel,
			loopDone: make(chan struct{}),
		}
		// Replies go straight from the stream to their calls.
		cl.push.deliver = func(d *Delivery, _ uint64) { k.dispatch(d) }
		c.caller.Store(k)
	}
	return k, nil
}

func (k *caller) close() {
	k.cancel()
	if k.replyQ.Load() != nil {
		<-k.loopDone
	}
	k.cl.close(time.Second)
}

// setup creates and subscribes the reply queue and starts the reply loop,
// once; it returns the reply queue's name.
func (k *caller) setup(ctx context.Context) (string, error) {
	if q := k.replyQ.Load(); q != nil {
		return *q, nil
	}
	k.setupMu.Lock()
	defer k.setupMu.Unlock()
	if q := k.replyQ.Load(); q != nil {
		return *q, nil
	}
	if k.ctx.Err() != nil {
		return "", ErrClosed
	}
	if k.madeQ == "" {
		name, err := k.cl.CreateTransient(ctx, "")
		if err != nil {
			return "", err
		}
		k.madeQ = name
	}
	if err := k.cl.Subscribe(ctx, k.madeQ); err != nil {
		return "", err
	}
	name := k.madeQ
	k.replyQ.Store(&name)
	go k.loop(name)
	return name, nil
}

// ensureQueue creates a service queue, once per caller.
func (k *caller) ensureQueue(ctx context.Context, queue string) error {
	if _, ok := k.queues.Load(queue); ok {
		return nil
	}
	if err := k.cl.CreateQueue(ctx, queue); err != nil {
		return err
	}
	k.queues.Store(queue, struct{}{})
	return nil
}

// Call sends payload as a request to queue (creating the queue if needed)
// and waits for the reply: the reply's payload, or a *RemoteError for a
// failure reply.
//
// Until the request is sent, an unreachable switch is retried as
// Options.Wait allows; a send whose connection broke (the switch was
// restarting) is sent again on a new one. Once it is sent, Call waits for
// as long as ctx allows, riding out switch outages; if the switch
// restarted and lost the request, Call sends it again. A server may
// therefore see a request more than once; Call returns the first reply
// and drops the others (see "Delivery" in the package documentation).
// When ctx ends first, a request no server has taken yet is withdrawn
// from the queue, and Call returns ctx's error; a request already taken
// is left to finish and its late reply is discarded. On a closed Client,
// Call returns ErrClosed.
//
// Many calls may be in flight at once on one Client; they share one
// reply queue.
func (c *Client) Call(ctx context.Context, queue string, payload []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k, err := c.getCaller()
	if err != nil {
		return nil, err
	}
	return k.call(ctx, queue, payload)
}

func (k *caller) call(ctx context.Context, queue string, payload []byte) ([]byte, error) {
	replyQ, err := k.setup(ctx)
	if err != nil {
		return nil, err
	}
	if err := k.ensureQueue(ctx, queue); err != nil {
		return nil, err
	}
	corr := k.prefix + strconv.FormatUint(k.seq.Add(1), 36)
	p := &pendingCall{outcome: make(chan callOutcome, 2), resend: make(chan struct{}, 1)}
	k.mu.Lock()
	k.pending[corr] = p
	k.mu.Unlock()
	k.calls.Add(1)
	replied := false // dispatch took the call out of pending itself
	defer func() {
		k.calls.Add(-1)
		if !replied {
			k.mu.Lock()
			delete(k.pending, corr)
			k.mu.Unlock()
		}
	}()

	m := Message{Payload: payload, CorrelationID: corr, ReplyTo: replyQ}
	id, epoch, err := k.send(ctx, queue, &m, p)
	if err != nil {
		return nil, err
	}
	for {
		if k.cl.Epoch() != epoch {
			// The session changed: the switch may have restarted and lost
			// the request (and the reply queue, which the client restores).
			if id, epoch, err = k.resend(ctx, queue, &m); err != nil {
				return nil, err
			}
			continue
		}
		select {
		case o := <-p.outcome:
			if o.reply != nil {
				replied = true
				return replyResult(o.reply)
			}
			err := o.failed
			if !resendAsync(err) {
				return nil, err // refused: what the send would have said
			}
			// The stream broke before the send was confirmed: it may
			// not have arrived.
			if id, epoch, err = k.resend(ctx, queue, &m); err != nil {
				return nil, err
			}
		case <-p.resend:
		case <-ctx.Done():
			for len(p.outcome) > 0 {
				if o := <-p.outcome; o.reply != nil {
					replied = true
					return replyResult(o.reply)
				}
			}
			k.withdraw(queue, id, epoch, m.CorrelationID)
			return nil, ctx.Err()
		case <-k.done:
			return nil, ErrClosed
		}
	}
}

func replyResult(d *Delivery) ([]byte, error) {
	if d.Status != 0 {
		return nil, &RemoteError{Status: int(d.Status), Message: string(d.Payload)}
	}
	if d.Payload == nil {
		return []byte{}, nil
	}
	return d.Payload, nil
}

// send sends the request m: quietly on the stream (wire.StreamQuiet),
// where its failure comes to p.outcome and its success goes unanswered
// (the reply says it arrived), else as a coalesced send. It returns the
// message's id (0 for a quiet send: the switch does not say it) and the
// epoch of the session it went in.
func (k *caller) send(ctx context.Context, queue string, m *Message, p *pendingCall) (uint64, uint64, error) {
	body := wire.AppendSendFrame(make([]byte, 0, len(m.Payload)+len(m.CorrelationID)+len(m.ReplyTo)+24), m.wireMessage())
	r := streamRequest(wire.OpSend, queue, 0, body)
	epoch, sent := k.cl.doQuiet(ctx, &r, int(k.calls.Load())-1, func(err error) {
		if err != nil {
			p.outcome <- callOutcome{failed: err}
		}
	})
	if sent {
		return 0, epoch, nil
	}
	return k.cl.sendCoalesced(ctx, queue, m)
}

// resend sends a request again after a session change, retrying while the
// switch is away and ctx allows. It returns the new id and the epoch it
// was sent in.
func (k *caller) resend(ctx context.Context, queue string, m *Message) (uint64, uint64, error) {
	backoff := minBackoff
	for {
		id, epoch, err := k.cl.sendCoalesced(ctx, queue, m)
		if err == nil {
			return id, epoch, nil
		}
		if ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		if !retryable(err) {
			return 0, 0, err
		}
		if !sleepCtx(ctx, backoff) {
			return 0, 0, ctx.Err()
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// withdraw deletes a request no server has taken, if it is still in the
// session (switch instance) it was sent in: by its id, or, sent quietly
// (id 0), by its correlation id. Errors are ignored: a taken request
// (in_flight) is left to finish.
func (k *caller) withdraw(queue string, id, epoch uint64, corr string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var body []byte
	if id == 0 {
		body = []byte(corr)
	}
	r := opRequest(wire.OpWithdraw, queue, id, body)
	r.bound, r.once = epoch, true
	k.cl.do(ctx, r)
}

// loop receives replies and hands them to their calls until the caller
// closes.
func (k *caller) loop(replyQ string) {
	defer close(k.loopDone)
	var acks []uint64
	var ackEpoch uint64
	lastEpoch := k.cl.Epoch()
	probe := false
	backoff := minBackoff
	for k.ctx.Err() == nil {
		o := TransferOptions{Timeout: rpcPoll}
		if probe {
			// After a failure, look at once: logging in again there tells
			// the calls to re-send before the loop settles into a long poll.
			o.Timeout = 0
		}
		if len(acks) > 0 {
			o.Acks = Acks{replyQ: acks}
		}
		ds, epoch, err := k.cl.transferIn(k.ctx, o, ackEpoch)
		if len(ds) > 0 || err == nil {
			acks = acks[:0:0]
			ackEpoch = epoch
		}
		if epoch != lastEpoch && epoch != 0 {
			lastEpoch = epoch
			k.nudgeAll()
		}
		for i := range ds {
			acks = append(acks, ds[i].ID)
			d := ds[i] // the call keeps it
			k.dispatch(&d)
		}
		if err != nil {
			if k.ctx.Err() != nil {
				return
			}
			probe = true
			if !sleepCtx(k.ctx, backoff) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		probe = false
		backoff = minBackoff
	}
}

// dispatch hands a reply to the call waiting for it, which keeps d; a
// reply nobody waits for (its call gave up, or a duplicate) is dropped.
func (k *caller) dispatch(d *Delivery) {
	k.mu.Lock()
	p := k.pending[d.CorrelationID]
	if p != nil {
		delete(k.pending, d.CorrelationID)
	}
	k.mu.Unlock()
	if p != nil {
		p.outcome <- callOutcome{reply: d}
	}
}

// nudgeAll tells every waiting call to check whether the session changed.
func (k *caller) nudgeAll() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range k.pending {
		select {
		case p.resend <- struct{}{}:
		default:
		}
	}
}
