package server

// Sends on a stream, pipelined. A send to a durable queue is answered
// only once its record is on stable storage; if the reader waited for
// that itself, it would read nothing more from the connection meanwhile,
// and a client's next send could not join the same group commit. So the
// reader only enqueues and records a send (broker.SendPending) and hands
// the wait to the stream's committer, a goroutine that finishes the sends
// in request order and answers each. The reader goes on to the next
// request: a client keeping several sends in flight gets them synced
// together.
//
// Answers still leave in request order: a send's answer (or a failure
// known at once, behind sends still waiting) goes through the committer
// while it has sends, and every request other than a send waits until
// the committer has answered those before it (drain). So the promise of
// docs/protocol.md holds: the answer to any request comes after the
// outcome of every quiet request sent before it. A send with nothing to
// wait for (a switch without a store, a transient queue) is answered
// inline, as before, while the committer is idle; so is a durable send
// read with nothing behind it, in the reader's buffer or in the socket,
// while the committer is idle (a producer with one send at a time), which
// the reader then waits for itself.
//
// A gateway's sends to the cluster take the same way (a broker
// PendingSend that is Remote): the reader puts the send on its way (an
// offer to a waiting transfer, a forward to another gateway's transient
// queue, a publish) and the committer waits for the cluster's answer,
// always, since the next request can go out while this one travels. A
// reply (consume.go) is such a send that acks its request once answered:
// a server's replies to callers on another gateway so travel together.
//
// A send may name an earlier send of the stream it follows (its
// argument). If that one failed, this one is not carried out and is
// answered 409 aborted: a client with several sends of one ordered
// stream of messages in flight (lib.BatchSender, msw-send) never gets a
// later batch queued after an earlier one was refused. A send found out
// only after its own sync to follow a failed one (the store failed the
// earlier record after this one was appended) is withdrawn again
// (broker.PendingSend.Withdraw), as far as nobody has taken it.

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	"msw/broker"
	"msw/internal/wire"
)

// maxPipedSends bounds the sends of one stream waiting for the store:
// past it, the reader waits for room, so that one client cannot make the
// switch hold more unanswered sends than this.
const maxPipedSends = 64

// maxFailedSends bounds how many failed sends a stream remembers for the
// sends that name them (wire.CodeAborted): a client follows a send with
// the next within a short window, so only the latest matter.
const maxFailedSends = 256

// sendPipe is a stream's pipelined sends (see the top of the file).
type sendPipe struct {
	ch      chan pipedSend // to the committer, in request order; made by the first send that waits
	done    chan struct{}  // closed when the committer has stopped
	n       atomic.Int32   // sends handed to the committer and not yet answered
	remote  atomic.Int32   // those of them that went to the engine (broker.PendingSend.Remote)
	pending sync.WaitGroup // the same, for drain (reader only)

	mu     sync.Mutex
	failed []uint64 // request ids of failed sends, oldest first
}

// pipedSend is one send request on its way to its answer.
type pipedSend struct {
	id    uint64 // request id
	after uint64 // the request it follows, or 0
	quiet bool
	n     int // messages
	p     broker.PendingSend
	err   error   // a failure known before the wait
	noted bool    // err is among the failed already
	reply replyOf // a reply's request, acked once the reply is queued (consume.go)
}

// replyOf is the request a reply answers: its queue and id; no queue for
// a send that is no reply.
type replyOf struct {
	queue string
	id    uint64
}

// send carries out a send request: at once if nothing is to wait for,
// else through the committer. It returns the status answered, 0 when the
// answer comes later.
func (st *stream) send(req *wire.StreamRequest) int {
	ps := pipedSend{id: req.ID, after: req.Arg, quiet: req.Quiet}
	if req.Arg != 0 && st.sends.remote.Load() > 0 {
		// It follows an earlier send, which may be an engine send not
		// yet answered: an engine send made before that one failed could
		// not always be taken back (a forward, a hand-off), so it waits.
		st.sends.drain()
	}
	if req.Arg != 0 && st.sends.hasFailed(req.Arg) {
		ps.err = abortedError(req.Arg)
	} else {
		c := &st.call
		*c = call{queue: req.Queue, st: st, req: req}
		sess, msgs, err := c.sent(st.s)
		if err == nil {
			ps.n = len(msgs)
			ps.p, err = st.s.b.SendPending(sess, req.Queue, msgs)
			ps.p.Notify(st)
		}
		ps.err = err
	}
	return st.pipe(ps)
}

// pipe answers a send (or a reply) whose messages are on their way: at
// once, or through the committer. It returns the status answered, 0 when
// the answer comes later.
func (st *stream) pipe(ps pipedSend) int {
	// Behind sends still waiting, a send waits its turn. A durable send
	// goes to the committer only if more has been read already: with
	// nothing behind it no later send could join its sync, so the reader
	// waits itself, sparing a lone producer the hand-off and back. An
	// engine send always goes: the reader need not wait a round trip to
	// the cluster before it reads what the client sent meanwhile.
	waits := ps.err == nil && ps.p.Waits()
	if st.sends.n.Load() > 0 || (waits && (ps.p.Remote() || st.moreArrived())) {
		st.sends.put(st, ps)
		return 0
	}
	return st.finishSend(&ps, st)
}

// moreArrived reports whether the client has sent more than the reader
// has read: bytes in the reader's buffer, or, since a large frame (a
// batch) is read past the buffer straight from the connection, in the
// socket's (a client keeping batches in flight has usually sent the next
// by the time this one is queued and recorded). A frame that fitted the
// buffer was read through it, and a read that left nothing behind found
// the socket empty: asking the socket again (a system call) would tell a
// lone producer's send, the common case, nothing. Reader only.
func (st *stream) moreArrived() bool {
	if st.br.Buffered() > 0 {
		return true
	}
	return st.bigFrame && st.raw != nil && unreadSocket(st.raw)
}

// rawConn is the socket behind a client's connection, or nil if it has
// none (TLS).
func rawConn(c net.Conn) syscall.RawConn {
	if cc, ok := c.(*countedConn); ok {
		c = cc.Conn
	}
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			return rc
		}
	}
	return nil
}

// finishSend waits for a send to be durable and answers it; reader is
// st when the caller is its reader, nil when its committer.
func (st *stream) finishSend(ps *pipedSend, reader *stream) int {
	err := ps.err
	var first uint64
	if err == nil {
		first, err = ps.p.Wait()
		if err == nil && ps.after != 0 && st.sends.hasFailed(ps.after) {
			ps.p.Withdraw()
			err = abortedError(ps.after)
		}
	}
	if r := ps.reply; r.queue != "" && (err == nil || errors.Is(err, broker.ErrNoSuchQueue)) {
		st.s.b.AckQueue(st.sess, r.queue, r.id) // an ack of a message already gone is moot
		st.settledOne(r.queue, r.id, reader)
	}
	if err != nil {
		if !ps.noted {
			st.sends.fail(ps.id)
		}
		return st.answerError(ps.id, err)
	}
	if ps.quiet {
		return http.StatusOK // wire.StreamQuiet: success goes unanswered
	}
	return st.answer(ps.id, http.StatusOK, sendAnswer(first, ps.n))
}

// abortedError refuses a send that follows request after, which failed.
func abortedError(after uint64) error {
	return &httpError{http.StatusConflict, wire.CodeAborted,
		fmt.Sprintf("send not made: the send it follows (request %d) failed", after)}
}

// put hands a send to the committer, starting it with the first; it
// waits while maxPipedSends are under way. Reader only.
func (sp *sendPipe) put(st *stream, ps pipedSend) {
	if sp.ch == nil {
		sp.ch = make(chan pipedSend, maxPipedSends)
		sp.done = make(chan struct{})
		go st.commitSends()
	}
	if ps.err != nil {
		// Known now: a send read next that follows this one is aborted
		// at once, although this one's answer waits its turn.
		sp.fail(ps.id)
		ps.noted = true
	}
	if ps.err == nil && ps.p.Remote() {
		sp.remote.Add(1)
	}
	sp.n.Add(1)
	sp.pending.Add(1)
	if len(sp.ch) == cap(sp.ch) {
		st.pushOthers() // the reader is about to wait for the committer
	}
	sp.ch <- ps
}

// commitSends finishes the sends handed to it, in order, and answers
// them, flushing when it has no more.
func (st *stream) commitSends() {
	sp := &st.sends
	defer close(sp.done)
	for ps := range sp.ch {
		st.finishSend(&ps, nil)
		if ps.err == nil && ps.p.Remote() {
			sp.remote.Add(-1)
		}
		sp.n.Add(-1)
		if len(sp.ch) == 0 {
			st.flush()
		}
		sp.pending.Done()
	}
}

// drain waits until every send handed to the committer is answered, so
// that the next answer goes after theirs. Reader only.
func (sp *sendPipe) drain() {
	if sp.n.Load() > 0 {
		sp.pending.Wait()
	}
}

// stop ends the committer once it has answered every send handed to it.
// Reader only, after its last request.
func (sp *sendPipe) stop() {
	if sp.ch != nil {
		close(sp.ch)
		<-sp.done
		sp.ch = nil
	}
}

// fail remembers that request id, a send, failed.
func (sp *sendPipe) fail(id uint64) {
	sp.mu.Lock()
	if len(sp.failed) == maxFailedSends {
		sp.failed = slices.Delete(sp.failed, 0, 1)
	}
	sp.failed = append(sp.failed, id)
	sp.mu.Unlock()
}

// hasFailed reports whether request id is a send that failed.
func (sp *sendPipe) hasFailed(id uint64) bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return slices.Contains(sp.failed, id)
}
