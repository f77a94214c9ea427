package natsbackend

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Acks go out without waiting, so that a client acking many messages
// pays no round trip per message; but a client whose ack was answered
// must see it in its next request (read-your-writes within a gateway):
// an ack or delete of a message it acked must find it gone, the queue's
// counts must not show it in flight. So the gateway remembers what it
// acked for a while, and a delete of such a message answers that there
// is none at once (the cluster removes a message from its stream a
// moment after it confirms the ack, so the stream may still have it);
// and each ack asks the cluster to confirm it, and the gateway's next
// count of that queue (Info, Peek, Purge) first waits for the
// confirmations of the acks it sent before, for at most the request
// timeout. Another gateway's clients see an ack a moment later
// (docs/scale-out.md).

// ackMemory is how long after its ack a gateway still answers a delete of
// the message itself: well past the moment the cluster takes to remove
// an acked message from its stream (a raft proposal), short enough that
// what it remembers stays small.
const ackMemory = 2 * time.Second

// acks tracks the acks of one engine.
type acks struct {
	inbox string // confirmations arrive on inbox.N

	mu      sync.Mutex // leaf
	next    uint64
	sent    map[uint64]string     // unconfirmed ack N → its queue
	pending map[string]*queueAcks // by queue
	acked   map[ackedID]time.Time // when each message was acked, for ackMemory
	swept   time.Time             // when acked was last swept
}

// ackedID names a message this gateway acked.
type ackedID struct {
	queue string
	id    uint64
}

// queueAcks are one queue's unconfirmed acks.
type queueAcks struct {
	n    int
	done chan struct{} // closed when n reaches 0
}

// startAcks subscribes to the engine's ack confirmations.
func (e *Engine) startAcks() error {
	a := &acks{
		inbox:   e.nc.NewRespInbox(),
		sent:    map[uint64]string{},
		pending: map[string]*queueAcks{},
		acked:   map[ackedID]time.Time{},
	}
	if _, err := e.nc.Subscribe(a.inbox+".*", a.confirmed); err != nil {
		return err
	}
	e.acks = a
	return nil
}

// ack sends the ack of message id of queue, held on reply subject to,
// asking the cluster to confirm it.
func (e *Engine) ack(queue string, id uint64, to string) error {
	a := e.acks
	now := time.Now()
	a.mu.Lock()
	a.next++
	n := a.next
	a.sent[n] = queue
	p := a.pending[queue]
	if p == nil {
		p = &queueAcks{done: make(chan struct{})}
		a.pending[queue] = p
	}
	p.n++
	a.acked[ackedID{queue, id}] = now
	if now.Sub(a.swept) > ackMemory/4 {
		a.swept = now
		for k, at := range a.acked {
			if now.Sub(at) > ackMemory {
				delete(a.acked, k)
			}
		}
	}
	a.mu.Unlock()
	err := e.nc.PublishRequest(to, a.inbox+"."+strconv.FormatUint(n, 10), []byte("+ACK"))
	if err != nil {
		a.mu.Lock()
		delete(a.acked, ackedID{queue, id})
		a.mu.Unlock()
		a.settle(n)
	}
	return err
}

// wasAcked reports whether this gateway acked message id of queue within
// ackMemory.
func (a *acks) wasAcked(queue string, id uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	at, ok := a.acked[ackedID{queue, id}]
	return ok && time.Since(at) <= ackMemory
}

// confirmed handles the cluster's confirmation of one ack.
func (a *acks) confirmed(m *nats.Msg) {
	i := strings.LastIndexByte(m.Subject, '.')
	if n, err := strconv.ParseUint(m.Subject[i+1:], 10, 64); err == nil {
		a.settle(n)
	}
}

// settle counts ack n done, confirmed or failed.
func (a *acks) settle(n uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	queue, ok := a.sent[n]
	if !ok {
		return // given up on by await
	}
	delete(a.sent, n)
	if p := a.pending[queue]; p != nil {
		if p.n--; p.n == 0 {
			close(p.done)
			delete(a.pending, queue)
		}
	}
}

// await waits until the cluster confirmed the acks of queue this engine
// sent before, or timeout passed: then it stops waiting for them (a lost
// confirmation must not slow every later request; a lost ack means a
// redelivery, never a loss).
func (a *acks) await(queue string, timeout time.Duration) {
	a.mu.Lock()
	p := a.pending[queue]
	a.mu.Unlock()
	if p == nil {
		return
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.pending[queue] == p {
			delete(a.pending, queue)
			for n, q := range a.sent {
				if q == queue {
					delete(a.sent, n)
				}
			}
		}
	}
}
