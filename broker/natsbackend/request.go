package natsbackend

import (
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// A NATS request in two steps: request publishes it on the caller's
// goroutine and returns what waits for the answer. A stream's reader so
// puts a gateway's offers and forwarded sends on the connection in the
// order it reads them (one connection's messages reach a subscriber in
// the order they were published) and goes on to its next request while
// the answers travel (broker.PendingSend, server/streamsend.go).
//
// The answers come back on one subscription of the engine's own,
// <inbox>.<n>, each to the waiter of its number.

// requests is the engine's answers awaited, by number.
type requests struct {
	prefix string // <inbox>.
	sub    *nats.Subscription

	mu      sync.Mutex // leaf
	next    uint64
	waiting map[uint64]chan *nats.Msg
}

// startRequests subscribes to the answers.
func (e *Engine) startRequests() error {
	r := &requests{prefix: e.nc.NewInbox() + ".", waiting: make(map[uint64]chan *nats.Msg)}
	sub, err := e.nc.Subscribe(r.prefix+"*", r.onAnswer)
	if err != nil {
		return err
	}
	r.sub = sub
	e.reqs = r
	return nil
}

// onAnswer hands an answer to its waiter, if it still waits.
func (r *requests) onAnswer(m *nats.Msg) {
	n, err := strconv.ParseUint(m.Subject[len(r.prefix):], 10, 64)
	if err != nil {
		return
	}
	r.mu.Lock()
	ch := r.waiting[n]
	delete(r.waiting, n)
	r.mu.Unlock()
	if ch != nil {
		ch <- m // buffered: the one answer
	}
}

// drop forgets request n: its answer, if one comes, goes nowhere.
func (r *requests) drop(n uint64) {
	r.mu.Lock()
	delete(r.waiting, n)
	r.mu.Unlock()
}

// request publishes m as a request and returns the wait for its answer:
// nats.ErrNoResponders when nobody subscribes to its subject,
// nats.ErrTimeout when nobody answers within timeout of the publish.
func (e *Engine) request(m *nats.Msg, timeout time.Duration) func() (*nats.Msg, error) {
	r := e.reqs
	ch := make(chan *nats.Msg, 1)
	r.mu.Lock()
	r.next++
	n := r.next
	r.waiting[n] = ch
	r.mu.Unlock()
	m.Reply = r.prefix + strconv.FormatUint(n, 10)
	deadline := time.Now().Add(timeout)
	if err := e.nc.PublishMsg(m); err != nil {
		r.drop(n)
		return func() (*nats.Msg, error) { return nil, err }
	}
	return func() (*nats.Msg, error) {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		select {
		case a := <-ch:
			return answered(a)
		case <-t.C:
			r.drop(n)
			select {
			case a := <-ch: // it came as the clock ran out
				return answered(a)
			default:
			}
			return nil, nats.ErrTimeout
		}
	}
}

// answered is an answer, or nats.ErrNoResponders for the server's status
// saying nobody subscribes to the request's subject.
func answered(a *nats.Msg) (*nats.Msg, error) {
	if len(a.Data) == 0 && a.Header.Get("Status") == "503" {
		return nil, nats.ErrNoResponders
	}
	return a, nil
}
