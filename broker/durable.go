package broker

import (
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"time"

	"msw/internal/wire"
)

// Durable queues. With a durable Store, every change to a persistent
// queue is recorded under the lock that orders it (see Store), and the
// changes a client is answered for (create, destroy, send) wait for the
// store outside every lock. A sent message is visible to receivers as
// soon as it is queued, before its record is durable: a receiver may see
// a message whose sender is then told the send failed (and retries it),
// which at-least-once delivery allows; a sender is never told a message
// is accepted that is not on stable storage.

// durable reports whether changes to q are recorded.
func (b *Broker) durable(q *Queue) bool { return b.store != nil && !q.transient }

// Durable reports whether the broker records its persistent queues.
func (b *Broker) Durable() bool { return b.store != nil }

// StoreStats describes the broker's store (zero when it has none).
func (b *Broker) StoreStats() StoreStats {
	if b.store == nil {
		return StoreStats{}
	}
	st := b.store.Stats()
	st.DiskOnly = int(b.diskOnly.Load())
	return st
}

// storageInfo describes the store for the diagnostics snapshot; nil
// when the broker is not durable.
func (b *Broker) storageInfo() *wire.StorageInfo {
	if b.store == nil {
		return nil
	}
	st := b.StoreStats()
	return &wire.StorageInfo{
		Fsync:     st.FsyncMode,
		LogBytes:  st.LogBytes,
		LastFsync: st.LastSync.Seconds(),
		DiskOnly:  st.DiskOnly,
		Failed:    st.Failed,
	}
}

// recover rebuilds the persistent queues a store found. Messages that had
// been delivered come back ready for redelivery, ahead of the others,
// with their delivery counts kept.
func (b *Broker) recover(qs []RecoveredQueue) {
	origins := map[string]*Session{}
	for _, rq := range qs {
		q := newQueue(b, rq.Name, nil)
		q.nextID = rq.NextID
		if v := rq.Meta[metaCreated]; len(v) == 8 {
			q.created = time.Unix(0, int64(binary.BigEndian.Uint64(v)))
		}
		b.recoverPolicy(q, rq.Meta[metaPolicy])
		if rq.Messages.Each != nil {
			b.recoverMessages(q, rq.Messages.Each, origins)
		}
		b.recoverBindings(q, rq.Meta)
		b.queues[rq.Name] = q
	}
}

// recoverMessages queues the messages each yields. origins holds the
// ended sessions that name recovered messages' origins, by client id.
func (b *Broker) recoverMessages(q *Queue, each func(func(*StoredMessage)), origins map[string]*Session) {
	var last *Session // the origin of the message before: most often the same
	each(func(sm *StoredMessage) {
		m := newStoredMessage(sm) // a copy: sm is the store's until we return
		if last != nil && last.clientID == sm.Origin {
			m.origin = last
		} else if sm.Origin != "" {
			o := origins[sm.Origin]
			if o == nil {
				// A session of the switch that wrote the record: gone,
				// kept only to name the message's origin.
				id := strings.Clone(sm.Origin)
				o = &Session{clientID: id, b: b}
				o.ended.Store(true)
				origins[id] = o
			}
			m.origin, last = o, o
		}
		if sm.DiskOnly > 0 {
			m = m.withPayloadOnDisk(sm.DiskOnly)
			q.diskCount++
			q.diskBytes += int64(sm.DiskOnly)
			b.diskOnly.Add(1)
		}
		q.bytes += int64(q.sizeLocked(&m))
		b.cached.Add(int64(m.heldSize()))
		b.held.Add(messageCost(&m)) // counted, never refused: it was acknowledged
		q.nextID = max(q.nextID, m.id)
		if m.deliveries > 0 {
			q.redeliver = append(q.redeliver, m)
		} else {
			q.fresh.pushBack(m)
		}
	})
}

// newStoredMessage makes a queued message from its record.
func newStoredMessage(sm *StoredMessage) message {
	m := newMessage(&wire.Message{Payload: sm.Payload, CorrelationID: sm.CorrelationID, ReplyTo: sm.ReplyTo, Status: sm.Status}, sm.Topic, sm.Enqueued)
	m.id, m.deliveries = sm.ID, sm.Deliveries
	return m
}

// record buffers the send of ms to q, with the ids enqueueLocked will
// give them. q.mu held.
func (b *Broker) record(q *Queue, ms []message) (Commit, error) {
	sp := storedPool.Get().(*[]StoredMessage)
	sms := slices.Grow((*sp)[:0], len(ms))[:len(ms)]
	defer func() {
		clear(sms) // the pool must not keep payloads alive
		if cap(sms) <= maxPooledStored {
			*sp = sms[:0]
			storedPool.Put(sp)
		}
	}()
	for i := range ms {
		m := &ms[i]
		sms[i] = StoredMessage{
			ID:            q.nextID + 1 + uint64(i),
			Enqueued:      m.enqueued(),
			Deliveries:    m.deliveries,
			Status:        m.status(),
			Origin:        m.originID(),
			CorrelationID: m.corr(),
			ReplyTo:       m.replyTo(),
			Topic:         m.topic(),
			Payload:       m.payload(),
		}
	}
	return b.store.Append(q.name, sms)
}

// storedPool holds the slices record renders a send into: the store
// encodes them before Append returns and keeps none of them, and a
// fresh slice a batch (120 KiB for 1,000 messages, with five pointers a
// message for the collector) was a fifth of the CPU of a durable batch.
var storedPool = sync.Pool{New: func() any { return new([]StoredMessage) }}

// maxPooledStored bounds the slices storedPool keeps, in messages.
const maxPooledStored = 4096

// waitSent waits until the send of ms, from id first, is durable, then
// leaves their payloads on disk if the cache is over its bound. If it
// cannot be made durable, the messages nobody has taken yet are removed
// again and the send fails.
func (b *Broker) waitSent(q *Queue, c Commit, first uint64, ms []message) error {
	var size int64
	for i := range ms {
		size += int64(ms[i].size())
	}
	b.cached.Add(size)
	err := b.store.Wait(c)
	if err == nil {
		if b.cached.Load() > b.opts.CacheBytes {
			q.mu.Lock()
			if !q.destroyed {
				b.evictLocked(q, first, len(ms))
			}
			q.mu.Unlock()
		}
		return nil
	}
	q.withdrawUnsent(first, len(ms))
	return err
}

// withdrawUnsent removes the n messages from id first that nobody has
// taken yet: a send or publish that could not be made durable.
func (q *Queue) withdrawUnsent(first uint64, n int) {
	q.mu.Lock()
	for id := first; id < first+uint64(n); id++ {
		if m, ok := q.removeReadyLocked(id); ok {
			q.droppedLocked(&m)
		}
	}
	q.mu.Unlock()
}

// waitCreated waits until the creation of q is durable. If it cannot be
// made so, q is taken out again while it is still empty.
func (b *Broker) waitCreated(q *Queue, c Commit) error {
	if c == 0 {
		return nil
	}
	err := b.store.Wait(c)
	if err == nil {
		return nil
	}
	b.queuesMu.Lock()
	q.mu.Lock()
	if b.queues[q.name] == q && q.ready()+q.inflight.len() == 0 {
		delete(b.queues, q.name)
		q.destroyed = true
		q.wakeLocked(len(q.waiters))
	}
	q.mu.Unlock()
	b.queuesMu.Unlock()
	return err
}

// flush waits until a delivery or ack recorded at c would survive the
// switch's crash, so that after a kill -9 a message handed out comes back
// marked redelivered. A failure changes nothing the caller was told: a
// lost ack is a redelivery.
func (b *Broker) flush(c Commit) {
	if c != 0 {
		b.store.Flush(c)
	}
}

// idsOf returns the ids of ms.
func idsOf(ms []message) []uint64 {
	ids := make([]uint64, len(ms))
	for i := range ms {
		ids[i] = ms[i].id
	}
	return ids
}

// metaCreated is the queue property holding a persistent queue's creation
// time, so that it survives a restart: the compat listener's cursor ids
// count from it, and listings show when the queue was made.
const metaCreated = "created"

// createdMeta encodes a creation time for metaCreated.
func createdMeta(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano()))
}
