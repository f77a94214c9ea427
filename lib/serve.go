package lib

// The serve loop: Serve's side of RPC over named queues (see rpc.go).

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"msw/internal/wire"
)

// Serve serves queue until ctx is done: it creates the queue if needed,
// takes requests (as many at a time as opts.Concurrency has free
// handlers, or opts.Prefetch lets wait for one), runs h for each, sends the reply to the request's reply-to
// queue with its correlation id, and acks the request only once the
// reply is sent. A request without a reply-to is handled and acked.
//
// Until it is serving, an unreachable switch is retried as Options.Wait
// allows; then Serve rides out outages and switch restarts until ctx is
// done. It then stops taking requests, lets running handlers finish for
// up to opts.Grace, gives back the requests of those still running, and
// returns nil. Serve works through a session of its own, so one Client
// can serve several queues and make calls at the same time.
func (c *Client) Serve(ctx context.Context, queue string, opts ServeOptions, h Handler) error {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 1
	}
	opts.Prefetch = max(opts.Prefetch, opts.Concurrency)
	done := c.done
	select {
	case <-done:
		return ErrClosed
	default:
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	closed := make(chan struct{})
	go func() {
		select {
		case <-done:
			close(closed)
			stop()
		case <-ctx.Done():
		}
	}()

	cl := c.child()
	cl.push = pushOptions{window: opts.Prefetch} // never more requests than it holds
	defer cl.close(time.Second)
	if err := cl.CreateQueue(ctx, queue); err != nil {
		return serveExit(ctx, closed, err)
	}
	if err := cl.Subscribe(ctx, queue); err != nil {
		return serveExit(ctx, closed, err)
	}
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	s := &serveLoop{
		cl:       cl,
		queue:    queue,
		opts:     opts,
		h:        h,
		hard:     hard,
		running:  make(map[*job]struct{}),
		freed:    make(chan struct{}, 1),
		finished: make(chan struct{}, 1),
		jobs:     make(chan *job),
		quit:     make(chan struct{}),
	}
	// Pushed requests go from the stream's reader straight to a worker.
	cl.push.deliver = s.deliver
	defer close(s.quit)
	s.loop(ctx)
	s.stop(cancelHard)
	select {
	case <-closed:
		return ErrClosed
	default:
		return nil
	}
}

func serveExit(ctx context.Context, closed chan struct{}, err error) error {
	select {
	case <-closed:
		return ErrClosed
	default:
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// serveLoop is one Serve: its loop taking requests, the workers running
// their handlers, and the acks of the requests answered.
type serveLoop struct {
	cl    *Client
	queue string
	opts  ServeOptions
	h     Handler
	hard  context.Context // handlers' parent: cancelled only after Grace

	handlers sync.WaitGroup // handlers running
	jobs     chan *job      // to an idle worker
	quit     chan struct{}  // closed when Serve returns: idle workers exit
	flushing sync.WaitGroup // flushAcks timers armed or running
	// quietMu is held (read) while a reply goes out quietly and (write)
	// while stopping is set, so that stop's confirming ping follows
	// every quiet reply.
	quietMu sync.RWMutex

	mu         sync.Mutex
	busy       atomic.Int32      // slots in use: handlers not yet returned
	running    map[*job]struct{} // requests started and not yet answered
	waiting    jobQueue          // requests taken, waiting for a slot (Prefetch)
	epoch      uint64            // the newest session a request came in
	acks       []uint64          // answered, to ack
	ackEpoch   uint64            // the session acks belong to
	inTransfer bool              // the loop is waiting in a transfer
	flushArmed bool
	stopping   bool
	late       []*job // pushed while stopping: to give back
	outage     bool
	freed      chan struct{} // a slot was freed
	finished   chan struct{} // a request was answered
}

// job is one request taken.
type job struct {
	req   Request
	epoch uint64         // session it was taken in
	state atomic.Int32   // jobRunning, jobAnswered, jobGivenBack
	ctx   handlerContext // the handler's, without a Timeout
}

const (
	jobRunning = iota
	jobAnswered
	jobGivenBack
)

func (s *serveLoop) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// loop takes requests and starts their handlers until ctx is done.
func (s *serveLoop) loop(ctx context.Context) {
	backoff := minBackoff
	for ctx.Err() == nil {
		s.mu.Lock()
		free := s.opts.Prefetch - int(s.busy.Load()) - s.waiting.len()
		if free <= 0 {
			s.mu.Unlock()
			select {
			case <-s.freed:
			case <-ctx.Done():
			}
			continue
		}
		acks, ackEpoch := s.acks, s.ackEpoch
		s.acks = nil
		s.inTransfer = true
		s.mu.Unlock()

		var o TransferOptions
		o.Max, o.Timeout = free, rpcPoll
		if len(acks) > 0 {
			o.Acks = Acks{s.queue: acks}
		}
		ds, epoch, err := s.cl.transferIn(ctx, o, ackEpoch)

		s.mu.Lock()
		s.inTransfer = false
		if err != nil && len(acks) > 0 {
			s.addAcksLocked(acks, ackEpoch) // may not have been applied
		}
		var starts []*job
		for i := range ds {
			if j := s.admitLocked(newJob(&ds[i], epoch)); j != nil {
				starts = append(starts, j)
			}
		}
		wasOut := s.outage
		s.outage = err != nil && ctx.Err() == nil
		s.mu.Unlock()
		for _, j := range starts {
			s.launch(j)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !wasOut {
				s.logf("serving %s: %v; retrying", s.queue, err)
			}
			if !sleepCtx(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		if wasOut {
			s.logf("serving %s again", s.queue)
		}
		backoff = minBackoff
	}
}

// newJob is the job of a request taken in the session of epoch.
func newJob(d *Delivery, epoch uint64) *job {
	j := &job{epoch: epoch, req: Request{
		Queue: d.Queue, CorrelationID: d.CorrelationID, ReplyTo: d.ReplyTo,
		ID: d.ID, DeliveryCount: d.DeliveryCount, Redelivered: d.Redelivered(), Payload: d.Payload,
	}}
	if j.req.Payload == nil {
		j.req.Payload = []byte{}
	}
	return j
}

// deliver starts the handler of a request pushed in the session of
// epoch, on the stream's reader goroutine: one hand-off fewer than
// through the loop. The switch pushes no more than Prefetch unacked
// requests, so a slot is free or the request may wait for one. A
// request pushed once Serve is stopping is kept for stop to give back.
func (s *serveLoop) deliver(d *Delivery, epoch uint64) {
	j := newJob(d, epoch)
	s.mu.Lock()
	if s.stopping {
		s.late = append(s.late, j)
		s.mu.Unlock()
		return
	}
	j = s.admitLocked(j)
	s.mu.Unlock()
	if j != nil {
		s.launch(j)
	}
}

// admitLocked takes j into a free slot and returns it, to be launched;
// with every slot in use it queues j for the next free one (see next)
// and returns nil. s.mu held.
func (s *serveLoop) admitLocked(j *job) *job {
	s.epoch = max(s.epoch, j.epoch)
	if int(s.busy.Load()) >= s.opts.Concurrency {
		s.waiting.push(j)
		return nil
	}
	s.busy.Add(1)
	s.running[j] = struct{}{}
	s.handlers.Add(1) // before stop can wait for the handlers
	return j
}

// next passes the slot of a handler that returned to the request
// waiting longest for one, and returns it; if none waits (or Serve is
// stopping: stop gives the waiting back), it frees the slot and returns
// nil. Under s.mu, as admitLocked: a request is never left waiting
// while a slot is free.
//
// A request taken in a session older than the newest is dropped, not
// run: its session is gone, and with it the switch gave the request
// back to the queue (or, restarted without its log, lost it, and the
// caller sent it again), so another delivery of it comes or came in
// the new session.
func (s *serveLoop) next() *job {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.waiting.len() > 0 && s.waiting.peek().epoch < s.epoch {
		s.waiting.pop()
	}
	if s.stopping || s.waiting.len() == 0 {
		s.busy.Add(-1) // the loop, short of slots, waits for freed after
		return nil
	}
	j := s.waiting.pop()
	s.running[j] = struct{}{}
	s.handlers.Add(1)
	select {
	case s.freed <- struct{}{}: // room to take another
	default:
	}
	return j
}

// addAcksLocked queues acks of the session of epoch; acks of an older
// session are dropped (their ids mean nothing in a newer one). s.mu held.
func (s *serveLoop) addAcksLocked(ids []uint64, epoch uint64) {
	switch {
	case epoch > s.ackEpoch:
		s.acks, s.ackEpoch = append([]uint64(nil), ids...), epoch
	case epoch == s.ackEpoch:
		s.acks = append(s.acks, ids...)
	}
}

// launch hands j, admitted, to an idle worker, or to a new one. Workers
// live as long as the Serve: a goroutine per request grew its stack anew
// for every request (a twentieth of the CPU of a call in the profile).
func (s *serveLoop) launch(j *job) {
	select {
	case s.jobs <- j:
	default:
		go s.worker(j)
	}
}

// worker handles j, then the requests waiting for a slot, then whatever
// it is handed next, until Serve returns.
func (s *serveLoop) worker(j *job) {
	for {
		s.handle(j)
		if j = s.next(); j != nil {
			continue // the slot passes on
		}
		select {
		case s.freed <- struct{}{}:
		default:
		}
		select {
		case j = <-s.jobs:
		case <-s.quit:
			return
		}
	}
}

// handle runs one request's handler, answers and acks it.
func (s *serveLoop) handle(j *job) {
	defer s.handlers.Done()
	out, err, late := s.invoke(j)
	if errors.Is(err, ErrGiveBack) {
		if j.state.CompareAndSwap(jobRunning, jobGivenBack) {
			s.giveBack(j)
		}
	} else if j.state.CompareAndSwap(jobRunning, jobAnswered) {
		s.answer(j, out, err)
	}
	if late != nil {
		<-late // the handler keeps its slot until it returns
	}
}

// invoke runs the handler under the request's deadline. If the handler
// overruns Timeout by timeoutSlack, it returns the timeout error and a
// channel closed when the handler finally returns.
func (s *serveLoop) invoke(j *job) (out []byte, err error, late chan struct{}) {
	if s.opts.Timeout <= 0 {
		j.ctx.parent = s.hard
		defer j.ctx.end()
		out, err = s.h(&j.ctx, &j.req)
		return out, err, nil
	}
	ctx, cancel := context.WithTimeout(s.hard, s.opts.Timeout)
	defer cancel()
	type result struct {
		out []byte
		err error
	}
	res := make(chan result, 1)
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		o, e := s.h(ctx, &j.req)
		res <- result{o, e}
	}()
	t := time.NewTimer(s.opts.Timeout + timeoutSlack)
	defer t.Stop()
	select {
	case r := <-res:
		out, err = r.out, r.err
	case <-t.C:
		return nil, s.timeoutError(), returned
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && s.hard.Err() == nil {
		// Its time was up, whatever it returned (a handler's own
		// *RemoteError says more and is kept).
		var re *RemoteError
		if !errors.As(err, &re) && !errors.Is(err, ErrGiveBack) {
			return nil, s.timeoutError(), nil
		}
	}
	return out, err, nil
}

func (s *serveLoop) timeoutError() error {
	return &RemoteError{Status: StatusTimeout, Message: fmt.Sprintf("request timed out after %s", s.opts.Timeout)}
}

// answer sends the reply (if the request wants one) and acks the request.
func (s *serveLoop) answer(j *job, out []byte, herr error) {
	if j.req.ReplyTo == "" {
		s.settle(j, nil)
		return
	}
	m := &Message{CorrelationID: j.req.CorrelationID, Payload: out}
	if herr != nil {
		st, msg := 1, herr.Error()
		var re *RemoteError
		if errors.As(herr, &re) {
			st, msg = re.Status, re.Message
		}
		m.Status, m.Payload = uint8(min(max(st, 1), 255)), []byte(msg)
	}
	if !s.replyQuiet(j, m) {
		s.settle(j, m)
	}
}

// replyQuiet sends the reply and acks the request in one quiet request
// (wire.StreamQuiet): the handler's worker does not wait for the
// switch's answer, and there is none unless it failed. The request
// counts as running until the switch's next answer confirms it; a
// failure is settled as any other, in a goroutine of its own. It reports
// false if the reply cannot go so (no stream, the request's session is
// gone, Serve is stopping).
func (s *serveLoop) replyQuiet(j *job, m *Message) bool {
	s.quietMu.RLock()
	defer s.quietMu.RUnlock()
	// stopping is set under quietMu's write lock, and busy is atomic:
	// no s.mu here, which every worker's reply took at 64 callers.
	if s.stopping {
		return false
	}
	crowd := int(s.busy.Load()) - 1 + s.waiting.len()
	r := replyRequest(j.req.ReplyTo, m, j.req.Queue, j.req.ID, j.epoch)
	_, sent := s.cl.doQuiet(s.hard, &r, crowd, func(err error) {
		if err == nil {
			s.forget(j)
			return
		}
		go s.settle(j, m)
	})
	return sent
}

// settle sends the reply m (nil: none wanted) and then queues the ack, or
// sends reply and ack in one step.
func (s *serveLoop) settle(j *job, m *Message) {
	ok := true
	if m != nil {
		switch s.replyAck(j, m) {
		case replyAcked:
			s.forget(j)
			return
		case replyGone:
			ok = false
		case replyFailed:
		case replyNotTried:
			ok = s.reply(j, m)
		}
	}
	s.mu.Lock()
	direct := ok && s.stopping
	if ok && !direct {
		s.addAcksLocked([]uint64{j.req.ID}, j.epoch)
		if s.inTransfer && !s.flushArmed {
			s.flushArmed = true
			s.flushing.Add(1)
			delay := ackDelay
			if s.cl.push.window > 0 && !s.cl.noStream.Load() {
				// Pushed requests: no transfer is coming for the ack to
				// ride on, and the switch pushes the next request only
				// once this one is acked.
				delay = 0
			}
			time.AfterFunc(delay, s.flushAcks)
		}
	}
	if !direct {
		delete(s.running, j)
	}
	s.mu.Unlock()
	if direct {
		// Stopping: ack now, and only then count the request as done, so
		// that the session's end cannot give an answered request back.
		ctx, cancel := context.WithTimeout(s.hard, 5*time.Second)
		s.cl.acksIn(ctx, wire.OpAck, Acks{s.queue: {j.req.ID}}, j.epoch, true)
		cancel()
		s.forget(j)
		return
	}
	s.signalFinished()
}

// giveBack releases a request its handler gave back.
func (s *serveLoop) giveBack(j *job) {
	ctx, cancel := context.WithTimeout(s.hard, 5*time.Second)
	s.cl.acksIn(ctx, wire.OpRelease, Acks{s.queue: {j.req.ID}}, j.epoch, false)
	cancel()
	s.forget(j)
}

// forget counts j as done with and tells the serve loop a slot is free.
func (s *serveLoop) forget(j *job) {
	s.mu.Lock()
	delete(s.running, j)
	s.mu.Unlock()
	s.signalFinished()
}

// signalFinished wakes the serve loop if it waits for a free slot.
func (s *serveLoop) signalFinished() {
	select {
	case s.finished <- struct{}{}:
	default:
	}
}

// Outcomes of replyAck.
const (
	replyNotTried = iota // no stream, or the request's session is gone: reply on its own
	replyAcked           // the reply went out (or its caller is gone) and the request is acked
	replyFailed          // the reply could not go (logged); ack the request as usual
	replyGone            // Serve is being torn down
)

// replyAck sends m and acks the request in one step on the stream, with
// the retries of reply.
func (s *serveLoop) replyAck(j *job, m *Message) int {
	backoff := minBackoff
	shrunk := false
	for {
		err := s.cl.replyAck(s.hard, j.req.ReplyTo, m, j.req.Queue, j.req.ID, j.epoch)
		switch {
		case err == nil:
			return replyAcked
		case s.hard.Err() != nil:
			return replyGone
		case errors.Is(err, errNoStream), err == errStaleSession:
			return replyNotTried
		case IsCode(err, CodeNoSuchQueue):
			s.logf("reply to %s (correlation id %s) dropped: the caller is gone", j.req.ReplyTo, j.req.CorrelationID)
			return replyAcked
		case IsCode(err, CodeTooLarge) && !shrunk:
			shrunk = true
			s.logf("reply to %s (correlation id %s): %v", j.req.ReplyTo, j.req.CorrelationID, err)
			m = &Message{CorrelationID: m.CorrelationID, Status: max(m.Status, 1),
				Payload: []byte(fmt.Sprintf("the reply (%d bytes) was refused by the switch: %v\n", len(m.Payload), err))}
			continue
		case !retryable(err):
			s.logf("reply to %s (correlation id %s): %v", j.req.ReplyTo, j.req.CorrelationID, err)
			return replyFailed
		}
		if !sleepCtx(s.hard, backoff) {
			return replyGone
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// reply sends m to the request's reply-to queue, retrying while the
// switch is away. It reports whether the request is done with (the reply
// went out, or can never go: its queue is gone with its caller).
func (s *serveLoop) reply(j *job, m *Message) bool {
	backoff := minBackoff
	shrunk := false
	for {
		_, _, err := s.cl.sendCoalesced(s.hard, j.req.ReplyTo, m)
		if err == nil {
			return true
		}
		if s.hard.Err() != nil {
			return false
		}
		if IsCode(err, CodeTooLarge) && !shrunk {
			// The caller must not wait for ever: tell it why instead.
			shrunk = true
			s.logf("reply to %s (correlation id %s): %v", j.req.ReplyTo, j.req.CorrelationID, err)
			m = &Message{CorrelationID: m.CorrelationID, Status: max(m.Status, 1),
				Payload: []byte(fmt.Sprintf("the reply (%d bytes) was refused by the switch: %v\n", len(m.Payload), err))}
			continue
		}
		if !retryable(err) {
			if IsCode(err, CodeNoSuchQueue) {
				s.logf("reply to %s (correlation id %s) dropped: the caller is gone", j.req.ReplyTo, j.req.CorrelationID)
			} else {
				s.logf("reply to %s (correlation id %s): %v", j.req.ReplyTo, j.req.CorrelationID, err)
			}
			return true
		}
		if !sleepCtx(s.hard, backoff) {
			return false
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// flushAcks sends the queued acks on their own if the loop has not taken
// them into a transfer.
func (s *serveLoop) flushAcks() {
	defer s.flushing.Done()
	s.mu.Lock()
	s.flushArmed = false
	acks, epoch := s.acks, s.ackEpoch
	if !s.inTransfer || len(acks) == 0 {
		s.mu.Unlock()
		return
	}
	s.acks = nil
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.hard, 10*time.Second)
	defer cancel()
	if err := s.cl.acksIn(ctx, wire.OpAck, Acks{s.queue: acks}, epoch, false); err != nil && retryable(err) && err != errStaleSession {
		s.mu.Lock()
		s.addAcksLocked(acks, epoch)
		s.mu.Unlock()
	}
}

// testHookConsumeEnded, if set, is called when a stopping Serve has ended
// its consume: from then on the switch pushes it nothing. Tests only.
var testHookConsumeEnded func()

// stop finishes a Serve whose loop has ended: it flushes acks, waits up
// to Grace for running requests, gives back the rest and cancels their
// handlers.
func (s *serveLoop) stop(cancelHard context.CancelFunc) {
	s.quietMu.Lock()
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	s.quietMu.Unlock()
	ds, epoch := s.cl.stopConsuming()
	// A ping's answer follows every push made before the switch took
	// the consume's cancel, and confirms the quiet replies sent so far
	// (which the session's end must not overtake).
	ctx, cancel := context.WithTimeout(s.hard, 5*time.Second)
	s.cl.confirmQuiet(ctx, true)
	cancel()
	if testHookConsumeEnded != nil {
		testHookConsumeEnded()
	}
	// Pushed but never started: back to the queue for other servers.
	unstarted := map[uint64][]uint64{}
	for i := range ds {
		unstarted[epoch] = append(unstarted[epoch], ds[i].ID)
	}
	s.mu.Lock()
	for _, j := range s.late {
		unstarted[j.epoch] = append(unstarted[j.epoch], j.req.ID)
	}
	s.late = nil
	for s.waiting.len() > 0 {
		j := s.waiting.pop()
		unstarted[j.epoch] = append(unstarted[j.epoch], j.req.ID)
	}
	s.mu.Unlock()
	for epoch, ids := range unstarted {
		ctx, cancel := context.WithTimeout(s.hard, 5*time.Second)
		s.cl.acksIn(ctx, wire.OpRelease, Acks{s.queue: ids}, epoch, true)
		cancel()
	}
	s.flushing.Wait()
	s.mu.Lock()
	acks, epoch := s.acks, s.ackEpoch
	s.acks = nil
	s.mu.Unlock()
	if len(acks) > 0 {
		ctx, cancel := context.WithTimeout(s.hard, 5*time.Second)
		s.cl.acksIn(ctx, wire.OpAck, Acks{s.queue: acks}, epoch, true)
		cancel()
	}

	grace := time.NewTimer(s.opts.Grace)
	defer grace.Stop()
	for {
		s.mu.Lock()
		n := len(s.running)
		s.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-s.finished:
			continue
		case <-grace.C:
		}
		break
	}

	// Give back what is still running, by the session it was taken in.
	byEpoch := map[uint64][]uint64{}
	s.mu.Lock()
	for j := range s.running {
		if j.state.CompareAndSwap(jobRunning, jobGivenBack) {
			byEpoch[j.epoch] = append(byEpoch[j.epoch], j.req.ID)
		}
	}
	s.mu.Unlock()
	for epoch, ids := range byEpoch {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.cl.acksIn(ctx, wire.OpRelease, Acks{s.queue: ids}, epoch, true)
		cancel()
	}
	cancelHard()

	// Let cancelled handlers clean up (msw-serve kills its programs).
	returned := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(returned)
	}()
	t := time.NewTimer(handlerExitWait)
	defer t.Stop()
	select {
	case <-returned:
	case <-t.C:
	}
}

// jobQueue is a first-in, first-out queue of jobs, changed under its
// owner's lock; len may be read without it (a moment's value).
type jobQueue struct {
	jobs []*job
	head int
	n    atomic.Int32 // jobs held: len(jobs) - head
}

func (q *jobQueue) len() int { return int(q.n.Load()) }

func (q *jobQueue) push(j *job) {
	if q.head > 0 && q.head >= len(q.jobs)/2 {
		// Half the slice is spent: move the rest to the front, so that
		// a queue that never empties does not grow.
		n := copy(q.jobs, q.jobs[q.head:])
		clear(q.jobs[n:])
		q.jobs, q.head = q.jobs[:n], 0
	}
	q.jobs = append(q.jobs, j)
	q.n.Add(1)
}

func (q *jobQueue) peek() *job { return q.jobs[q.head] }

func (q *jobQueue) pop() *job {
	j := q.jobs[q.head]
	q.jobs[q.head] = nil
	q.head++
	q.n.Add(-1)
	return j
}
