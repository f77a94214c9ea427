package broker

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"msw/internal/wire"
)

// Options configure a Broker. Zero fields take the defaults below.
type Options struct {
	MaxPayload       int           // bytes per payload; default 16 MiB
	Grace            time.Duration // unconnected session lifetime; default 3s
	AliveWindow      time.Duration // a queue polled this recently is alive; default 30s
	MaxWait          time.Duration // longest transfer or trace wait; default 60s
	MaxTransfer      int           // messages per transfer; default 1000
	MaxTransferBytes int           // payload bytes per transfer (at least one message); default 4 MiB
	TraceSize        int           // trace ring entries; default 4096; negative disables
	// MaxMemory bounds the bytes held by queued and in-flight messages,
	// each counted as its bytes and wire.MessageOverhead; 0 means no
	// bound. A send past it fails with ErrMemoryFull.
	MaxMemory int64
	// MaxSessions, MaxQueues and MaxSubscriptions (per session) bound
	// what clients can make the switch keep; defaults in limits.go.
	MaxSessions, MaxQueues, MaxSubscriptions int
	// OnReply, if set, is called with the processing time of each reply:
	// from the request's enqueue to the reply's send by its holder.
	OnReply func(time.Duration)
	// Store records persistent queues and their messages; nil (or
	// Memory) keeps everything in memory only. The broker starts from
	// the state the store recovered.
	Store Store
	// CacheBytes bounds the bytes of durable queues' messages held in
	// memory; beyond it payloads stay on disk until delivered. Default
	// DefaultCacheBytes; only with a durable Store.
	CacheBytes int64
	// Engine, if set, holds the persistent queues instead of this
	// process (engine.go, remote.go); Store must then be nil.
	Engine Engine
	// KeepAlive is how often the messages held from an Engine's queues
	// are reported still in progress; default 5s, well inside the
	// engine's ack wait.
	KeepAlive time.Duration
}

// Defaults for Options.
const (
	DefaultMaxPayload       = wire.DefaultMaxPayload
	DefaultGrace            = 3 * time.Second
	DefaultAliveWindow      = 30 * time.Second
	DefaultMaxWait          = 60 * time.Second
	DefaultMaxTransfer      = 1000
	DefaultMaxTransferBytes = 4 << 20
	DefaultTraceSize        = 4096
	// MaxFieldLen bounds correlation ids and client ids.
	MaxFieldLen = wire.MaxFieldLen
)

func (o *Options) fill() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxPayload, DefaultMaxPayload)
	def(&o.MaxTransfer, DefaultMaxTransfer)
	def(&o.MaxTransferBytes, DefaultMaxTransferBytes)
	def(&o.MaxSessions, DefaultMaxSessions)
	def(&o.MaxQueues, DefaultMaxQueues)
	def(&o.MaxSubscriptions, DefaultMaxSubscriptions)
	defDur(&o.Grace, DefaultGrace)
	defDur(&o.AliveWindow, DefaultAliveWindow)
	defDur(&o.MaxWait, DefaultMaxWait)
	if o.TraceSize == 0 {
		o.TraceSize = DefaultTraceSize
	}
	defDur(&o.KeepAlive, 5*time.Second)
	if o.CacheBytes <= 0 {
		o.CacheBytes = DefaultCacheBytes
	}
}

// Broker holds the switch's queues and sessions.
type Broker struct {
	opts    Options
	started time.Time
	trace   *traceRing // nil when tracing is off
	closed  atomic.Bool
	held    atomic.Int64 // bytes counted against MaxMemory (limits.go)

	queuesMu sync.RWMutex
	queues   map[string]*Queue
	// idFloor is the highest id a destroyed persistent queue gave (in
	// this life, or before it as the store recorded): a queue made again
	// numbers above it, so that an id a client kept never names another
	// message. Transient queues do not raise it: their names are the
	// switch's random ones, or made again only by their owner's client
	// after a re-login, which drops the ids of its old session (lib). So
	// a switch whose operators never destroy a queue numbers every queue
	// from 1. Guarded by queuesMu.
	idFloor uint64

	sessionsMu sync.RWMutex
	sessions   map[string]*Session

	bindingsMu sync.RWMutex // see publish.go
	bindings   bindingTrie

	namesMu     sync.Mutex           // leaf
	nameWaiters map[string][]*waiter // see namewait.go

	store    Store        // nil unless durable; see durable.go
	cached   atomic.Int64 // bytes durable queues hold in memory; see cache.go
	diskOnly atomic.Int64 // messages whose payload is on disk only

	engine     Engine        // nil unless scaled out; see remote.go
	engineDone chan struct{} // closed by Close: stops the keep-alive

	done      chan struct{} // closed by Close; ends the sweeper
	closeOnce sync.Once
	ttlMu     sync.Mutex          // before Queue.mu (the sweeper), else a leaf
	ttlQueues map[*Queue]struct{} // queues with a TTL; see policy.go

	// Counters, for metrics.
	Counters Counters
}

// Counters are running totals since the broker started.
type Counters struct {
	Sent, Delivered, Acked, Redelivered, Withdrawn atomic.Uint64
	SessionsStarted, SessionsEnded                 atomic.Uint64
	// What queue policies did: messages expired, moved to a dead-letter
	// queue, dropped by drop-oldest, and refused as over a bound.
	Expired, DeadLettered, Dropped, Rejected atomic.Uint64
}

// New returns an empty broker.
func New(opts Options) *Broker {
	opts.fill()
	b := &Broker{
		opts:     opts,
		started:  time.Now(),
		queues:   make(map[string]*Queue),
		sessions: make(map[string]*Session),
		done:     make(chan struct{}),
	}
	if opts.TraceSize > 0 {
		b.trace = newTraceRing(opts.TraceSize)
	}
	if opts.Store != nil && opts.Store.Stats().Durable {
		b.store = opts.Store
		b.idFloor = opts.Store.IDFloor()
		b.recover(opts.Store.Recovered())
	}
	if opts.Engine != nil {
		b.engine, b.engineDone = opts.Engine, make(chan struct{})
		go b.keepAlive(opts.KeepAlive, b.engineDone)
	}
	return b
}

// Options returns the broker's options with defaults filled in.
func (b *Broker) Options() Options { return b.opts }

// Started returns when the broker was made.
func (b *Broker) Started() time.Time { return b.started }

// Close ends every wait and refuses further work.
func (b *Broker) Close() {
	if !b.closed.Swap(true) && b.engineDone != nil {
		close(b.engineDone)
	}
	b.closeOnce.Do(func() { close(b.done) })
	b.wakeAllNames()
	b.queuesMu.RLock()
	defer b.queuesMu.RUnlock()
	for _, q := range b.queues {
		q.mu.Lock()
		q.wakeLocked(len(q.waiters))
		q.mu.Unlock()
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Login starts a session for the named client. The session ends after the
// grace period unless a connection is added.
func (b *Broker) Login(clientID string) (*Session, error) {
	if b.closed.Load() {
		return nil, ErrClosed
	}
	if len(clientID) > MaxFieldLen {
		return nil, fmt.Errorf("client id: %w: %d bytes, limit %d", ErrTooLarge, len(clientID), MaxFieldLen)
	}
	s := &Session{
		id:         randomHex(16),
		public:     randomHex(4),
		clientID:   clientID,
		started:    time.Now(),
		b:          b,
		touched:    make(map[*Queue]struct{}),
		transients: make(map[string]*Queue),
	}
	s.mu.Lock()
	s.armGraceLocked()
	s.mu.Unlock()
	b.sessionsMu.Lock()
	if len(b.sessions) >= b.opts.MaxSessions {
		b.sessionsMu.Unlock()
		s.grace.Stop()
		return nil, limitError("sessions", b.opts.MaxSessions)
	}
	b.sessions[s.id] = s
	b.sessionsMu.Unlock()
	b.Counters.SessionsStarted.Add(1)
	b.traceEvent(traceRecord{kind: wire.EventSessionStart, from: clientID})
	return s, nil
}

// Session finds a live session by its token.
func (b *Broker) Session(id string) (*Session, error) {
	b.sessionsMu.RLock()
	s := b.sessions[id]
	b.sessionsMu.RUnlock()
	if s == nil || s.ended.Load() {
		return nil, ErrSessionEnded
	}
	return s, nil
}

// EndSession ends s: its subscriptions go, the messages it holds are given
// back for redelivery and its transient queues are destroyed.
func (b *Broker) EndSession(s *Session) {
	s.mu.Lock()
	if s.ended.Load() {
		s.mu.Unlock()
		return
	}
	s.ended.Store(true)
	if s.grace != nil {
		s.grace.Stop()
		s.grace = nil
	}
	touched := s.touched
	transients := s.transients
	s.touched, s.transients, s.pending = nil, nil, nil
	s.mu.Unlock()

	b.sessionsMu.Lock()
	delete(b.sessions, s.id)
	b.sessionsMu.Unlock()

	for _, q := range s.subscriptions() {
		q.mu.Lock()
		q.subscribers--
		q.mu.Unlock()
	}
	s.subs.Store(nil)
	for q := range touched {
		b.giveBackHeld(q, s)
	}
	for name, q := range transients {
		b.destroy(s, q, name)
	}
	b.Counters.SessionsEnded.Add(1)
	b.traceEvent(traceRecord{kind: wire.EventSessionEnd, from: s.clientID})
}

// giveBackHeld returns every message of q that s holds.
func (b *Broker) giveBackHeld(q *Queue, s *Session) {
	if q.remote != nil {
		b.giveBackRemote(q, s)
		return
	}
	q.mu.Lock()
	back := q.inflight.takeHeldBy(s, nil)
	var dead []message
	if !q.destroyed {
		back, dead = q.splitDeadLocked(back)
		q.giveBackLocked(back)
	}
	q.mu.Unlock()
	b.Counters.Redelivered.Add(uint64(len(back)))
	b.traceMessages(wire.EventRedeliver, q.name, back, s.clientID, "", false)
	b.deadLetter(q, dead, s)
}

// lookup finds a queue by name.
func (b *Broker) lookup(name string) (*Queue, error) {
	b.queuesMu.RLock()
	q := b.queues[name]
	b.queuesMu.RUnlock()
	if q == nil {
		if err := ValidateName(name); err != nil {
			return nil, err
		}
		if b.engine != nil {
			return b.lookupRemote(name)
		}
		return nil, fmt.Errorf("%w: %s", ErrNoSuchQueue, name)
	}
	return q, nil
}

func clientOf(s *Session) string {
	if s == nil {
		return ""
	}
	return s.clientID
}

// CreateQueue creates a persistent queue; it is not an error if one
// exists. s, which may be nil, is recorded in the trace.
func (b *Broker) CreateQueue(s *Session, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if b.engine != nil {
		return b.createRemote(s, name)
	}
	b.queuesMu.Lock()
	if q := b.queues[name]; q != nil {
		b.queuesMu.Unlock()
		if q.transient {
			return fmt.Errorf("%w: %s is transient", ErrQueueExists, name)
		}
		return nil
	}
	if len(b.queues) >= b.opts.MaxQueues {
		b.queuesMu.Unlock()
		return limitError("queues", b.opts.MaxQueues)
	}
	q := newQueue(b, name, nil)
	q.nextID = b.idFloor
	var c Commit
	if b.store != nil {
		var err error
		if c, err = b.store.CreateQueue(name, q.nextID); err == nil {
			c, err = b.store.SetQueueMeta(name, metaCreated, createdMeta(q.created))
		}
		if err != nil {
			b.queuesMu.Unlock()
			return err
		}
	}
	b.queues[name] = q
	b.queuesMu.Unlock()
	if err := b.waitCreated(q, c); err != nil {
		return err
	}
	b.wakeName(name)
	b.traceEvent(traceRecord{kind: wire.EventQueueCreate, queue: name, from: clientOf(s)})
	return nil
}

// CreateTransient creates a queue owned by s and destroyed when s ends.
// With an empty name the switch picks a fresh one. Asking again for a name
// s already owns is not an error.
func (b *Broker) CreateTransient(s *Session, name string) (string, error) {
	if name == "" {
		name = "tmp-" + randomHex(8)
	} else if err := ValidateName(name); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended.Load() {
		return "", ErrSessionEnded
	}
	b.queuesMu.Lock()
	if q := b.queues[name]; q != nil {
		b.queuesMu.Unlock()
		if q.owner == s {
			return name, nil
		}
		return "", fmt.Errorf("%w: %s", ErrQueueExists, name)
	}
	if len(b.queues) >= b.opts.MaxQueues {
		b.queuesMu.Unlock()
		return "", limitError("queues", b.opts.MaxQueues)
	}
	q := newQueue(b, name, s)
	q.nextID = b.idFloor
	b.queues[name] = q
	b.queuesMu.Unlock()
	s.transients[name] = q
	if b.engine != nil {
		if err := b.exposeTransient(q); err != nil {
			delete(s.transients, name)
			b.destroy(s, q, name)
			return "", err
		}
	}
	b.wakeName(name)
	b.traceEvent(traceRecord{kind: wire.EventQueueCreate, queue: name, from: s.clientID})
	return name, nil
}

// DestroyQueue deletes a queue and its messages. With ifEmpty it refuses
// a queue that holds messages, ready or in flight.
func (b *Broker) DestroyQueue(s *Session, name string, ifEmpty bool) error {
	q, err := b.lookup(name)
	if err != nil {
		return err
	}
	if ifEmpty {
		q.mu.Lock()
		n := q.ready() + q.inflight.len()
		q.mu.Unlock()
		if q.remote != nil {
			if n, err = b.remoteCount(q); err != nil {
				return err
			}
		}
		if n > 0 {
			return fmt.Errorf("%w: %s holds %d messages", ErrQueueNotEmpty, name, n)
		}
	}
	if q.owner != nil {
		q.owner.mu.Lock()
		delete(q.owner.transients, name)
		q.owner.mu.Unlock()
	}
	return b.destroy(s, q, name)
}

// PurgeQueue removes the ready messages of a queue and keeps the queue;
// messages in flight stay with the sessions holding them. A durable
// queue records the removal as it records acks. It returns how many
// messages it removed.
func (b *Broker) PurgeQueue(name string) (int, error) {
	q, err := b.lookup(name)
	if err != nil {
		return 0, err
	}
	if q.remote != nil {
		return b.engine.Purge(name)
	}
	q.mu.Lock()
	n := q.ready()
	ids := make([]uint64, n)
	for i := range n {
		m := q.readyAt(i)
		ids[i] = m.id
		q.droppedLocked(m)
	}
	q.redeliver, q.fresh = nil, deque{}
	var c Commit
	if b.durable(q) && n > 0 {
		c = b.store.Ack(q.name, ids)
	}
	q.mu.Unlock()
	b.flush(c)
	return n, nil
}

// destroy removes q from the map and drops its messages. Only the
// recording of a persistent queue's destruction can fail. It is recorded
// under q.mu, as it is marked destroyed, so that no send to q can be
// recorded after it (replay would bring the queue back).
func (b *Broker) destroy(s *Session, q *Queue, name string) error {
	var c Commit
	var err error
	b.queuesMu.Lock()
	removed := b.queues[name] == q
	if removed {
		delete(b.queues, name)
	}
	q.mu.Lock()
	if q.destroyed {
		q.mu.Unlock()
		b.queuesMu.Unlock()
		return nil
	}
	q.destroyed = true
	if !q.transient {
		b.idFloor = max(b.idFloor, q.nextID)
	}
	b.held.Add(-(q.bytes - q.diskBytes + int64(q.ready()+q.inflight.len())*wire.MessageOverhead))
	if b.durable(q) {
		if removed {
			c, err = b.store.DestroyQueue(name)
		}
		b.cached.Add(-(q.bytes - q.diskBytes))
		b.diskOnly.Add(-int64(q.diskCount))
	}
	q.redeliver, q.fresh, q.inflight, q.bytes = nil, deque{}, inflight{}, 0
	q.diskCount, q.diskBytes = 0, 0
	q.wakeLocked(len(q.waiters)) // let pollers look the name up again
	q.wakeWatchersLocked()
	unexpose := q.unexpose
	q.mu.Unlock()
	b.queuesMu.Unlock()
	if unexpose != nil {
		unexpose()
	}
	if q.remote != nil && removed {
		err = b.engine.DestroyQueue(name)
	}
	b.dropBindings(q)
	if err == nil && c != 0 {
		err = b.store.Wait(c)
	}
	b.traceEvent(traceRecord{kind: wire.EventQueueDestroy, queue: name, from: clientOf(s)})
	return err
}

// Send enqueues messages into a queue, in order, with consecutive ids; it
// returns the first id. s may be nil for an anonymous sender. Either every
// message is enqueued or none is.
func (b *Broker) Send(s *Session, queue string, ms []wire.Message) (uint64, error) {
	return b.send(s, queue, ms, nil)
}

// send is Send; a number function, if given, names the first message's
// correlation id after its id, under the queue's lock (SendNumbered).
func (b *Broker) send(s *Session, queue string, ms []wire.Message, number numbering) (uint64, error) {
	p, err := b.sendPending(s, queue, ms, number)
	if err != nil {
		return 0, err
	}
	return p.Wait()
}

// sendPending is send up to its wait for the store (sendpending.go).
func (b *Broker) sendPending(s *Session, queue string, ms []wire.Message, number numbering) (PendingSend, error) {
	return b.sendPendingLined(s, queue, ms, number, true)
}

// sendPendingLined is sendPending; with lined false (a send that already
// has its place in the session's line of engine sends, remotesend.go) it
// neither forwards first nor goes in the line.
func (b *Broker) sendPendingLined(s *Session, queue string, ms []wire.Message, number numbering, lined bool) (PendingSend, error) {
	if b.closed.Load() {
		return PendingSend{}, ErrClosed
	}
	if len(ms) == 0 {
		return PendingSend{}, nil
	}
	if lined {
		if p, ok := b.forwardFirst(s, queue, ms); ok {
			return p, nil
		}
	}
	q, err := b.lookup(queue)
	if err != nil {
		id, err := b.sendElsewhere(s, queue, ms, err)
		return PendingSend{first: id}, err
	}
	if len(ms) > wire.MaxSendMessages {
		return PendingSend{}, fmt.Errorf("send: %w: %d messages in one request, limit %d", ErrTooLarge, len(ms), wire.MaxSendMessages)
	}
	now := time.Now().UnixNano()
	stored, err := b.storedMessages(s, "", ms, now)
	if err != nil {
		return PendingSend{}, err
	}
	if q.remote != nil { // held by the engine, not in this process's memory
		return b.sendRemote(s, q, ms, stored, number, lined)
	}
	return b.put(s, q, stored, now, number, &ms[0])
}

// put enqueues messages made by send (or moved to a dead-letter queue)
// into q, within its bounds and the switch's memory, and records them;
// number and m0 are send's. The send is finished by the PendingSend's
// Wait.
func (b *Broker) put(s *Session, q *Queue, stored []message, now int64, number numbering, m0 *wire.Message) (PendingSend, error) {
	queue := q.name
	var cost int64
	for i := range stored {
		cost += messageCost(&stored[i])
	}
	if err := b.reserve(cost); err != nil {
		return PendingSend{}, err
	}
	q.mu.Lock()
	if q.destroyed {
		q.mu.Unlock()
		b.held.Add(-cost)
		return PendingSend{}, fmt.Errorf("%w: %s", ErrNoSuchQueue, queue)
	}
	if number != nil {
		if err := number.apply(q, m0, &stored[0]); err != nil {
			q.mu.Unlock()
			b.held.Add(-cost)
			return PendingSend{}, err
		}
	}
	err := q.admitLocked(stored)
	if err != nil {
		q.mu.Unlock()
		b.held.Add(-cost)
		return PendingSend{}, err
	}
	var c Commit
	if b.durable(q) {
		if c, err = b.record(q, stored); err != nil {
			q.mu.Unlock()
			b.held.Add(-cost)
			return PendingSend{}, err
		}
	}
	first := q.enqueueLocked(stored)
	q.sent += uint64(len(stored))
	// A send that can't be a reply (its session holds no request) takes
	// its trace events' places before the queue's lock is let go: a
	// consumer then can't take the messages, and trace their delivery,
	// ahead of their send. Replies are traced once matched to their
	// request, in Wait.
	traced := b.trace != nil && (s == nil || s.pendingN.Load() == 0)
	var seq uint64
	if traced {
		seq = b.trace.claim(len(stored))
	}
	dropped := q.trimLocked()
	dc := b.recordGoneLocked(q, dropped)
	var woken [2]*waiter // for PendingSend.Notify
	q.handOverWokenLocked(woken[:])
	q.mu.Unlock()
	if traced {
		b.trace.fillMessages(seq, now, wire.EventSend, queue, stored, clientOf(s), "", false)
	}
	b.gone(q, dropped, dc, wire.EventDrop)
	return PendingSend{b: b, s: s, q: q, c: c, first: first, stored: stored, now: now, traced: traced, woken: woken}, nil
}

// Ack deletes messages, in flight or ready, whoever holds them. It applies
// every ack it can and returns ErrNoSuchMessage naming the first it could
// not.
func (b *Broker) Ack(s *Session, acks wire.Acks) error {
	var firstErr error
	for name, ids := range acks {
		q, err := b.lookup(name)
		if err == nil {
			err = b.ackIn(s, q, ids)
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// AckQueue is Ack for messages of one queue: a server's reply acks its
// one request so, without a map for it.
func (b *Broker) AckQueue(s *Session, queue string, ids ...uint64) error {
	q, err := b.lookup(queue)
	if err != nil {
		return err
	}
	return b.ackIn(s, q, ids)
}

// ackIn is Ack for the ids of one queue.
func (b *Broker) ackIn(s *Session, q *Queue, ids []uint64) error {
	if q.remote != nil {
		return b.ackRemote(s, q, ids)
	}
	var firstErr error
	// The acked messages are kept only for what needs them after the
	// lock: the store, the trace, and requests the session holds.
	var done []message
	keep := b.durable(q) || b.trace != nil || s != nil && s.pendingN.Load() > 0
	if keep {
		done = make([]message, 0, len(ids))
	}
	n := 0
	q.mu.Lock()
	hint := -1 // where the next id of a run is
	for _, id := range ids {
		h, ok := q.inflight.remove(id, nil, &hint)
		if !ok {
			h.msg, ok = q.removeReadyLocked(id)
		}
		if !ok {
			if firstErr == nil {
				firstErr = fmt.Errorf("%w: %s/%d", ErrNoSuchMessage, q.name, id)
			}
			continue
		}
		q.droppedLocked(&h.msg)
		n++
		if keep {
			done = append(done, h.msg)
		}
	}
	q.acked += uint64(n)
	var c Commit
	if b.durable(q) && len(done) > 0 {
		c = b.store.Ack(q.name, idsOf(done))
	}
	q.mu.Unlock()
	b.flush(c)
	b.Counters.Acked.Add(uint64(n))
	if s != nil {
		for i := range done {
			if done[i].replyLen() > 0 {
				s.takeRequest(done[i].replyTo(), done[i].corr())
			}
		}
	}
	b.traceMessages(wire.EventAck, q.name, done, clientOf(s), "", false)
	return firstErr
}

// Release gives messages that s holds back to their queues for
// redelivery, ahead of first deliveries. Messages s does not hold are
// skipped.
func (b *Broker) Release(s *Session, acks wire.Acks) error {
	for name, ids := range acks {
		q, err := b.lookup(name)
		if err != nil {
			continue
		}
		if q.remote != nil {
			b.releaseRemote(s, q, ids)
			continue
		}
		var back []message
		q.mu.Lock()
		hint := -1
		for _, id := range ids {
			if h, ok := q.inflight.remove(id, s, &hint); ok {
				back = append(back, h.msg)
			}
		}
		back, dead := q.splitDeadLocked(back)
		q.giveBackLocked(back)
		q.mu.Unlock()
		b.deadLetter(q, dead, s)
		b.Counters.Redelivered.Add(uint64(len(back)))
		for _, ms := range [][]message{back, dead} {
			for i := range ms {
				if ms[i].replyLen() > 0 {
					s.takeRequest(ms[i].replyTo(), ms[i].corr())
				}
			}
		}
		b.traceMessages(wire.EventRedeliver, name, back, clientOf(s), "", false)
	}
	return nil
}

// Withdraw deletes a message that no receiver has taken yet. It fails with
// ErrInFlight if a receiver holds it and ErrNoSuchMessage if it is gone.
func (b *Broker) Withdraw(s *Session, queue string, id uint64) error {
	q, err := b.lookup(queue)
	if err != nil {
		return err
	}
	if q.remote != nil {
		return b.withdrawRemote(q, id)
	}
	var c Commit
	q.mu.Lock()
	if _, ok := q.inflight.get(id); ok {
		q.mu.Unlock()
		return fmt.Errorf("%w: %s/%d", ErrInFlight, queue, id)
	}
	m, ok := q.removeReadyLocked(id)
	if ok {
		q.droppedLocked(&m)
		if b.durable(q) {
			c = b.store.Ack(q.name, []uint64{id})
		}
	}
	q.mu.Unlock()
	b.flush(c)
	if !ok {
		return fmt.Errorf("%w: %s/%d", ErrNoSuchMessage, queue, id)
	}
	b.Counters.Withdrawn.Add(1)
	b.traceMessage(wire.EventWithdraw, queue, &m, clientOf(s), "")
	return nil
}

// Peek returns up to max ready messages of a queue, in delivery order,
// leaving them queued.
func (b *Broker) Peek(queue string, max int) ([]wire.Delivery, error) {
	q, err := b.lookup(queue)
	if err != nil {
		return nil, err
	}
	if q.remote != nil {
		return b.engine.Peek(queue, max)
	}
	b.expire(q, time.Now().UnixNano())
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(max, q.ready())
	out := make([]wire.Delivery, n)
	for i := 0; i < n; i++ {
		m := q.readyAt(i)
		if q.diskCount > 0 {
			c := b.loadedCopyLocked(q, m)
			m = &c
		}
		out[i] = m.delivery(q.name)
	}
	return out, nil
}

// queueList returns the queues whose names start with prefix, sorted;
// with an engine, those of the whole cluster.
func (b *Broker) queueList(prefix string) []*Queue {
	if b.engine != nil {
		b.adoptRemote(prefix)
	}
	return b.mappedQueues(prefix)
}

// mappedQueues is queueList of the queues in this process's map.
func (b *Broker) mappedQueues(prefix string) []*Queue {
	b.queuesMu.RLock()
	qs := make([]*Queue, 0, len(b.queues))
	for name, q := range b.queues {
		if strings.HasPrefix(name, prefix) {
			qs = append(qs, q)
		}
	}
	b.queuesMu.RUnlock()
	sort.Slice(qs, func(i, j int) bool { return qs[i].name < qs[j].name })
	return qs
}
