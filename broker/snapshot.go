package broker

import (
	"slices"
	"strings"
	"time"

	"msw/internal/wire"
)

// info describes q; q.mu held.
func (q *Queue) infoLocked(now time.Time, aliveWindow time.Duration) wire.QueueInfo {
	qi := wire.QueueInfo{
		Name:        q.name,
		Kind:        wire.KindPersistent,
		Depth:       q.ready(),
		InFlight:    q.inflight.len(),
		Subscribers: q.subscribers,
		Created:     q.created,
		Bytes:       q.bytes,
		Bindings:    slices.Clone(q.patterns),

		MaxDepth:      q.pol.set.MaxDepth,
		MaxBytes:      q.pol.set.MaxBytes,
		Overflow:      q.pol.set.Overflow,
		TTL:           q.pol.set.TTL,
		MaxDeliveries: q.pol.set.MaxDeliveries,
		DeadLetter:    q.pol.set.DeadLetter,
		Expired:       q.expired,
		DeadLettered:  q.deadLettered,
		Dropped:       q.dropped,
	}
	if q.transient {
		qi.Kind = wire.KindTransient
		qi.Owner = q.owner.clientID
	} else {
		qi.Durable = q.b.store != nil
	}
	if lt := q.lastTransfer.Load(); lt != 0 {
		qi.LastTransfer = time.Unix(0, lt)
	}
	qi.Alive = q.subscribers > 0 || (!qi.LastTransfer.IsZero() && now.Sub(qi.LastTransfer) < aliveWindow)
	oldest := int64(0)
	if q.ready() > 0 {
		oldest = q.readyAt(0).enqueued()
		if q.fresh.len() > 0 && len(q.redeliver) > 0 {
			oldest = min(oldest, q.fresh.at(0).enqueued())
		}
	}
	q.inflight.each(func(h *held) {
		if oldest == 0 || h.msg.enqueued() < oldest {
			oldest = h.msg.enqueued()
		}
	})
	if oldest != 0 {
		qi.OldestMessage = time.Unix(0, oldest)
	}
	if q.remote != nil {
		q.remoteInfo(&qi) // asks the engine, under q.mu: only listings do
	}
	return qi
}

// List describes the queues whose names start with prefix, sorted by
// name; without all, only the alive ones (subscribed, or polled within the
// alive window).
func (b *Broker) List(prefix string, all bool) []wire.QueueInfo {
	now := time.Now()
	out := []wire.QueueInfo{}
	for _, q := range b.queueList(prefix) {
		q.mu.Lock()
		qi := q.infoLocked(now, b.opts.AliveWindow)
		q.mu.Unlock()
		if all || qi.Alive {
			out = append(out, qi)
		}
	}
	return out
}

// Info describes one queue.
func (b *Broker) Info(name string) (wire.QueueInfo, error) {
	q, err := b.lookup(name)
	if err != nil {
		return wire.QueueInfo{}, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.infoLocked(time.Now(), b.opts.AliveWindow), nil
}

// Snapshot describes the queues, with up to maxMessages of each one's
// messages (ready first, in delivery order, then in flight by id), and
// every session. Past wire.MaxSnapshotQueues queues it lists the ones
// holding the most messages and counts the others in QueuesOmitted.
func (b *Broker) Snapshot(maxMessages int) wire.Snapshot {
	now := time.Now()
	snap := wire.Snapshot{Started: b.started, Now: now, Queues: []wire.QueueSnapshot{}, Sessions: []wire.SessionInfo{}, Storage: b.storageInfo()}
	qs := b.queueList("")
	if len(qs) > wire.MaxSnapshotQueues {
		held := make(map[*Queue]int, len(qs))
		for _, q := range qs {
			q.mu.Lock()
			held[q] = q.ready() + q.inflight.len()
			q.mu.Unlock()
		}
		slices.SortStableFunc(qs, func(a, c *Queue) int { return held[c] - held[a] })
		snap.QueuesOmitted = len(qs) - wire.MaxSnapshotQueues
		qs = qs[:wire.MaxSnapshotQueues]
		slices.SortFunc(qs, func(a, c *Queue) int { return strings.Compare(a.name, c.name) })
	}
	for _, q := range qs {
		q.mu.Lock()
		qs := wire.QueueSnapshot{QueueInfo: q.infoLocked(now, b.opts.AliveWindow), EverSubscribed: q.everSubscribed, Messages: []wire.MessageInfo{}}
		for i := 0; i < q.ready() && len(qs.Messages) < maxMessages; i++ {
			m := q.readyAt(i)
			if q.diskCount > 0 {
				c := b.loadedCopyLocked(q, m)
				m = &c
			}
			qs.Messages = append(qs.Messages, messageInfo(m, nil))
		}
		for _, h := range q.inflight.sorted() {
			if len(qs.Messages) >= maxMessages {
				break
			}
			qs.Messages = append(qs.Messages, messageInfo(&h.msg, h.holder))
		}
		qs.Truncated = len(qs.Messages) < q.ready()+q.inflight.len()
		q.mu.Unlock()
		snap.Queues = append(snap.Queues, qs)
	}
	b.sessionsMu.RLock()
	sessions := make([]*Session, 0, len(b.sessions))
	for _, s := range b.sessions {
		sessions = append(sessions, s)
	}
	b.sessionsMu.RUnlock()
	slices.SortFunc(sessions, func(a, c *Session) int { return a.started.Compare(c.started) })
	for _, s := range sessions {
		si := wire.SessionInfo{ID: s.public, ClientID: s.clientID, Started: s.started}
		s.mu.Lock()
		si.Connections = s.conns
		s.mu.Unlock()
		for _, q := range s.subscriptions() {
			si.Subscribed = append(si.Subscribed, q.name)
		}
		if lp := s.lastPoll.Load(); lp != 0 {
			si.LastPoll = time.Unix(0, lp)
		}
		snap.Sessions = append(snap.Sessions, si)
	}
	return snap
}

func messageInfo(m *message, holder *Session) wire.MessageInfo {
	p := m.payload()
	mi := wire.MessageInfo{
		ID:            m.id,
		Origin:        m.originID(),
		EnqueuedAt:    time.Unix(0, m.enqueued()),
		CorrelationID: m.corr(),
		ReplyTo:       m.replyTo(),
		Status:        m.status(),
		Topic:         m.topic(),
		Size:          len(p),
		Preview:       wire.Preview(p),
		DeliveryCount: m.deliveries,
	}
	if holder != nil {
		mi.InFlight = true
		mi.Holder = holder.clientID
	}
	return mi
}

// Stats are the gauges of a broker at one moment.
type Stats struct {
	Queues, Sessions, Connections int
	Ready, InFlight               int
	Bytes                         int64
}

// Gauges counts what the broker holds now, per queue and in total. The
// per-queue callback, if not nil, is called for each queue.
func (b *Broker) Gauges(perQueue func(wire.QueueInfo)) Stats {
	var st Stats
	now := time.Now()
	for _, q := range b.queueList("") {
		q.mu.Lock()
		qi := q.infoLocked(now, b.opts.AliveWindow)
		q.mu.Unlock()
		st.Queues++
		st.Ready += qi.Depth
		st.InFlight += qi.InFlight
		st.Bytes += qi.Bytes
		if perQueue != nil {
			perQueue(qi)
		}
	}
	b.sessionsMu.RLock()
	st.Sessions = len(b.sessions)
	for _, s := range b.sessions {
		s.mu.Lock()
		st.Connections += s.conns
		s.mu.Unlock()
	}
	b.sessionsMu.RUnlock()
	return st
}
