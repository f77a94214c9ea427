package broker

import "fmt"

// The payload cache. With a durable store, a backlog need not fit in
// memory: once the payloads of durable queues held in memory pass
// Options.CacheBytes, a send that has reached the log leaves its
// messages' payloads there (the newest messages, furthest from
// delivery). Such a message keeps its header, correlation id and
// reply-to in memory, and in its record, in place of the payload, the
// payload's length (message.withPayloadOnDisk: a flag, no map to keep).
// Taking it reads the payload back from the store (checksum verified),
// so a queue drains from memory at its head and from disk behind it.
// Memory-only brokers never evict: a queue's diskCount stays 0 and each
// check is that test. The broker's cached counts the bytes durable queues
// hold in memory: the sum of their bytes less their diskBytes.

// DefaultCacheBytes is the default Options.CacheBytes: small beside the
// header every queued message keeps in memory (about 200 bytes with the
// log's index), so that a backlog of a million 4 KiB messages runs in
// about 300 MiB of heap.
const DefaultCacheBytes = 64 << 20

// sizeLocked is the bytes m holds (header fields and payload), whether
// its payload is in memory or not. q.mu held.
func (q *Queue) sizeLocked(m *message) int {
	if m.onDisk() {
		return m.heldSize() + m.diskLen()
	}
	return m.size()
}

// droppedLocked accounts for m leaving q (acked, withdrawn, or never
// accepted). q.mu held.
func (q *Queue) droppedLocked(m *message) {
	q.bytes -= int64(q.sizeLocked(m))
	q.b.unreserve(*m) // what it cost in memory: its payload too unless on disk
	if !q.b.durable(q) {
		return
	}
	if m.onDisk() {
		q.diskCount--
		q.diskBytes -= int64(m.diskLen())
		q.b.diskOnly.Add(-1)
	}
	q.b.cached.Add(-int64(m.heldSize()))
}

// evictLocked leaves on disk the payloads of the messages of ids first
// to first+n-1 still waiting for their first delivery, newest first,
// while the cache is over its bound. Their records are written. q.mu
// held.
func (b *Broker) evictLocked(q *Queue, first uint64, n int) {
	for id := first + uint64(n) - 1; id >= first && b.cached.Load() > b.opts.CacheBytes; id-- {
		i := q.fresh.find(id)
		if i < 0 {
			continue
		}
		m := q.fresh.at(i)
		p := len(m.payload())
		if p == 0 || m.onDisk() {
			continue
		}
		*m = m.withPayloadOnDisk(uint32(p))
		q.diskCount++
		q.diskBytes += int64(p)
		b.cached.Add(-int64(p))
		b.held.Add(-int64(p)) // on disk, it no longer counts against MaxMemory
		b.diskOnly.Add(1)
	}
}

// loadLocked reads the payload of m back from the store if it is on disk
// only. q.mu held.
func (b *Broker) loadLocked(q *Queue, m *message) error {
	if !m.onDisk() {
		return nil
	}
	n := m.diskLen()
	p, err := b.store.Read(q.name, m.id)
	if err != nil {
		return err
	}
	if len(p) != n {
		return fmt.Errorf("%w: %s/%d: payload of %d bytes on disk, %d expected", ErrStorage, q.name, m.id, len(p), n)
	}
	*m = m.withPayload(p)
	q.diskCount--
	q.diskBytes -= int64(n)
	b.cached.Add(int64(n))
	b.held.Add(int64(n))
	b.diskOnly.Add(-1)
	return nil
}

// loadedCopyLocked returns m with its payload, read from the store if
// needed, without keeping it in memory (for Peek and the snapshot). q.mu
// held.
func (b *Broker) loadedCopyLocked(q *Queue, m *message) message {
	if !m.onDisk() {
		return *m
	}
	p, err := b.store.Read(q.name, m.id)
	if err != nil {
		return *m
	}
	return m.withPayload(p)
}
