package natsbackend

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"msw/broker"
)

// A queue's consumer learns of a stored message a moment after the
// publish is acknowledged (it may lead on another node than the stream),
// so a pull at once after a send may find nothing. A gateway keeps its
// sessions' reads of their own writes: it remembers the last sequence it
// published to each queue and the last it fetched, and a transfer that
// finds nothing ready while a send of its own has not been seen waits for
// it, in pulls of readYourSends, until it comes or the consumer shows it
// delivered elsewhere (docs/scale-out.md); never past the request timeout.
const readYourSends = 100 * time.Millisecond

// awaitOwnSend is the wait above: one message, or none once this
// gateway's sends to queue are all delivered (to it or another).
func (e *Engine) awaitOwnSend(ctx context.Context, c jetstream.Consumer, queue string) ([]broker.Fetched, error) {
	deadline := time.Now().Add(e.o.Timeout)
	for e.own.sentUnseen(queue) && time.Now().Before(deadline) && ctx.Err() == nil {
		if out, err := e.take(ctx, queue, 1, readYourSends, nil, nil); len(out) > 0 || err != nil {
			return out, err
		}
		ictx, cancel := e.ctx()
		ci, err := c.Info(ictx)
		cancel()
		if err == nil && ci.Delivered.Stream >= e.own.lastSent(queue) {
			break
		}
	}
	e.own.giveUp(queue)
	return nil, nil
}

// lastSent is the last sequence this gateway published to queue.
func (o *ownSends) lastSent(queue string) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sent[queue]
}

// ownSends is the per-queue record of the last sequence this gateway
// published and the last it fetched, or gave up waiting for.
type ownSends struct {
	mu         sync.Mutex // leaf
	sent, seen map[string]uint64
}

func newOwnSends() *ownSends {
	return &ownSends{sent: make(map[string]uint64), seen: make(map[string]uint64)}
}

// record raises a queue's mark in m to seq.
func (o *ownSends) record(m map[string]uint64, queue string, seq uint64) {
	o.mu.Lock()
	if seq > m[queue] {
		m[queue] = seq
	}
	o.mu.Unlock()
}

// sentUnseen reports whether the last send to queue through this gateway
// is past the last message it fetched.
func (o *ownSends) sentUnseen(queue string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sent[queue] > o.seen[queue]
}

// giveUp marks every send to queue as seen: another gateway took it.
func (o *ownSends) giveUp(queue string) {
	o.mu.Lock()
	o.seen[queue] = max(o.seen[queue], o.sent[queue])
	o.mu.Unlock()
}

// forget drops a queue's marks (it was destroyed).
func (o *ownSends) forget(queue string) {
	o.mu.Lock()
	delete(o.sent, queue)
	delete(o.seen, queue)
	o.mu.Unlock()
}
