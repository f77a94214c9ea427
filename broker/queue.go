package broker

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Queue is a named message queue. All fields below mu are guarded by it.
type Queue struct {
	name      string
	transient bool
	owner     *Session // transient queues only
	created   time.Time
	b         *Broker

	lastTransfer atomic.Int64 // Unix nanoseconds of the last transfer that polled it

	mu             sync.Mutex
	destroyed      bool
	redeliver      []message // given back, ordered by id, served before fresh
	fresh          deque     // never delivered, FIFO
	inflight       inflight
	nextID         uint64
	bytes          int64 // payload bytes held, ready and in flight
	diskCount      int   // messages whose payload is on disk only (cache.go)
	diskBytes      int64 // the sum of their payloads' lengths
	waiters        []*waiter
	woken          []*waiter // notify waiters enqueueLocked woke, kept (wakeKeepingLocked)
	watchers       []*waiter // cursor readers, all woken by a send (cursor.go)
	subscribers    int
	everSubscribed bool
	sent, acked    uint64   // messages enqueued and acked since the queue was made
	patterns       []string // bound to, sorted; written under Broker.bindingsMu too
	pol            policy   // see policy.go
	// messages the policy removed since the queue was made
	expired, deadLettered, dropped uint64

	remote   *remoteQueue // set for a queue an Engine holds (remote.go)
	unexpose func()       // a transient queue's exposure to other gateways
}

func newQueue(b *Broker, name string, owner *Session) *Queue {
	return &Queue{
		name:      name,
		transient: owner != nil,
		owner:     owner,
		created:   time.Now(),
		b:         b,
	}
}

// Name returns the queue's name.
func (q *Queue) Name() string { return q.name }

// Transient reports whether the queue belongs to a session.
func (q *Queue) Transient() bool { return q.transient }

// holdsLocked reports whether s holds a message of q in flight. q.mu held.
func (q *Queue) holdsLocked(s *Session) bool {
	holds := false
	q.inflight.each(func(h *held) { holds = holds || h.holder == s })
	return holds
}

// ready returns the number of messages waiting for delivery. q.mu held.
func (q *Queue) ready() int { return len(q.redeliver) + q.fresh.len() }

// enqueueLocked appends messages, assigning ids. q.mu held.
func (q *Queue) enqueueLocked(ms []message) uint64 {
	first := q.nextID + 1
	for i := range ms {
		q.nextID++
		ms[i].id = q.nextID
		q.bytes += int64(ms[i].size())
		q.fresh.pushBack(ms[i])
	}
	q.wakeKeepingLocked(len(ms), true)
	q.wakeWatchersLocked()
	return first
}

// handOverWokenLocked empties q.woken: up to len(dst) waiters into dst,
// for the caller to notify once it has let go of q.mu, and any more on
// goroutines of their own. q.mu held.
func (q *Queue) handOverWokenLocked(dst []*waiter) {
	for i, w := range q.woken {
		if i < len(dst) {
			dst[i] = w
		} else {
			go w.notify(nil)
		}
	}
	clear(q.woken)
	q.woken = q.woken[:0]
}

// wakeLocked wakes up to n waiters that are still waiting: a transfer's
// through its channel, a notify waiter (TakeOrNotify) by calling its
// function on a goroutine of its own, since q.mu is held.
func (q *Queue) wakeLocked(n int) { q.wakeKeepingLocked(n, false) }

// wakeKeepingLocked is wakeLocked; with keep set, a notify waiter woken
// is kept in q.woken instead, for the sender to notify itself once it
// has let go of q.mu (handOverWokenLocked). q.mu held.
func (q *Queue) wakeKeepingLocked(n int, keep bool) {
	for n > 0 && len(q.waiters) > 0 {
		w := q.waiters[0]
		copy(q.waiters, q.waiters[1:])
		q.waiters[len(q.waiters)-1] = nil
		q.waiters = q.waiters[:len(q.waiters)-1]
		if keep && w.notify != nil {
			if w.state.CompareAndSwap(waiterWaiting, waiterWoken) {
				q.woken = append(q.woken, w)
				n--
			}
		} else if w.wake() {
			n--
		}
	}
}

// takeLocked moves up to max ready messages in flight, held by s, and
// appends them to out. q.mu held.
func (q *Queue) takeLocked(s *Session, max int, out []message) []message {
	for max > 0 && len(q.redeliver) > 0 {
		m := q.redeliver[0]
		q.redeliver[0] = message{}
		q.redeliver = q.redeliver[1:]
		out = q.holdLocked(s, m, out)
		max--
	}
	if len(q.redeliver) == 0 {
		q.redeliver = nil
	}
	for max > 0 && q.fresh.len() > 0 {
		out = q.holdLocked(s, q.fresh.popFront(), out)
		max--
	}
	return out
}

func (q *Queue) holdLocked(s *Session, m message, out []message) []message {
	m.deliveries++
	q.inflight.add(m, s)
	return append(out, m)
}

// giveBackLocked returns in-flight messages to the redelivery list, keeping
// it ordered by id, and wakes waiters for them. q.mu held.
func (q *Queue) giveBackLocked(ms []message) {
	if len(ms) == 0 {
		return
	}
	q.redeliver = append(q.redeliver, ms...)
	sort.Slice(q.redeliver, func(i, j int) bool { return q.redeliver[i].id < q.redeliver[j].id })
	q.wakeLocked(len(ms))
}

// removeReadyLocked deletes a ready message by id. q.mu held.
func (q *Queue) removeReadyLocked(id uint64) (message, bool) {
	for i := range q.redeliver {
		if q.redeliver[i].id == id {
			m := q.redeliver[i]
			q.redeliver = append(q.redeliver[:i], q.redeliver[i+1:]...)
			return m, true
		}
	}
	if i := q.fresh.find(id); i >= 0 {
		return q.fresh.remove(i), true
	}
	return message{}, false
}

// readyAt returns the i'th ready message in delivery order. q.mu held.
func (q *Queue) readyAt(i int) *message {
	if i < len(q.redeliver) {
		return &q.redeliver[i]
	}
	return q.fresh.at(i - len(q.redeliver))
}

// removeWaiterLocked forgets w. q.mu held.
func (q *Queue) removeWaiterLocked(w *waiter) {
	for i, x := range q.waiters {
		if x == w {
			copy(q.waiters[i:], q.waiters[i+1:])
			q.waiters[len(q.waiters)-1] = nil
			q.waiters = q.waiters[:len(q.waiters)-1]
			return
		}
	}
}

// waiter is one waiting transfer, registered on each queue it polls, or
// one registration of TakeOrNotify (notify set, no ch).
type waiter struct {
	state  atomic.Int32 // waiting, woken or done
	ch     chan struct{}
	notify func(by any)
}

const (
	waiterWaiting = iota
	waiterWoken
	waiterDone
)

func newWaiter() *waiter { return &waiter{ch: make(chan struct{}, 1)} }

// wake reports whether it woke a waiter that was still waiting.
func (w *waiter) wake() bool {
	if w.state.CompareAndSwap(waiterWaiting, waiterWoken) {
		if w.notify != nil {
			go w.notify(nil)
		} else {
			w.ch <- struct{}{}
		}
		return true
	}
	return false
}

// giveUp marks w as no longer waiting; it reports false if w had been woken
// first (and so owes the wake to someone else if it takes nothing).
func (w *waiter) giveUp() bool {
	return w.state.CompareAndSwap(waiterWaiting, waiterDone)
}
