package logstore

import (
	"bytes"
	"slices"

	"msw/broker"
)

// The index is the store's picture of what is live: every persistent
// queue and, for each of its messages, where its record lies and how
// often it was delivered. Replay builds it from the records; the store
// keeps it current as it appends, and a snapshot is written from it.

// loc is where a message's record lies: the frame holding it and the
// message's place among the frame's messages.
type loc struct {
	file uint64 // file number
	off  int64  // frame offset
	size uint32 // frame size
	idx  uint32 // message index in the frame
}

// entry is one live message: 32 bytes without a pointer, held by value,
// so that a million of them cost no allocations and no garbage collector
// scanning.
type entry struct {
	at         loc
	deliveries uint32
	size       uint32 // bytes the message takes in a record
}

// iqueue is one live queue.
type iqueue struct {
	nextID uint64
	msgs   msgIndex
	meta   map[string][]byte
	at     loc // its create record, so a failed write can take it back
	// kept is the messages replay decoded, in id order, until Recovered;
	// some may have been acked since (keptDead of them).
	kept     []broker.StoredMessage
	keptDead int
}

// index is the live state. Guarded by the store's mu.
type index struct {
	queues    map[string]*iqueue
	liveBytes int64 // bytes the live state takes in a snapshot
	// keepBudget is the payload bytes replay may still keep in memory;
	// payloads past it are left on disk.
	keepBudget int64
	arena      []byte // where replay copies the payloads it keeps
}

// arenaChunk is the size of the blocks replay copies kept payloads into,
// so that a million small payloads are a few hundred allocations.
const arenaChunk = 1 << 20

// keepCopy copies a payload replay keeps out of the file's buffer.
func (x *index) keepCopy(p []byte) []byte {
	if len(p) > arenaChunk/4 {
		return bytes.Clone(p)
	}
	if len(x.arena)+len(p) > cap(x.arena) {
		x.arena = make([]byte, 0, arenaChunk)
	}
	start := len(x.arena)
	x.arena = append(x.arena, p...)
	return x.arena[start:len(x.arena):len(x.arena)]
}

func newIndex() *index { return &index{queues: map[string]*iqueue{}} }

// queueOverhead is the bytes a queue's records take in a snapshot,
// roughly, beside its messages.
const queueOverhead = 64

// queue returns the named queue, making it if needed.
func (x *index) queue(name string, at loc) *iqueue {
	q := x.queues[name]
	if q == nil {
		q = &iqueue{at: at}
		x.queues[name] = q
		x.liveBytes += queueOverhead + int64(len(name))
	}
	return q
}

// apply updates the index with a record found at at. keep keeps decoded
// messages (replay) so that they need not be read again.
func (x *index) apply(r *record, at loc, keep bool) {
	switch r.kind {
	case kindCreate:
		q := x.queue(r.queue, at)
		q.nextID = max(q.nextID, r.nextID)
	case kindDestroy:
		x.drop(r.queue)
	case kindMessages:
		q := x.queue(r.queue, at)
		for i := range r.msgs {
			m := &r.msgs[i]
			e := entry{at: at, deliveries: m.Deliveries, size: messageSize(m)}
			e.at.idx = uint32(i)
			if keep {
				k := *m
				if n := int64(len(k.Payload)); n > 0 && n <= x.keepBudget {
					k.Payload = x.keepCopy(k.Payload) // let the file's buffer go
					x.keepBudget -= n
				} else if n > 0 {
					k.DiskOnly, k.Payload = uint32(n), nil
				}
				q.keep(k)
			}
			if old, ok := q.msgs.put(m.ID, e); ok {
				x.liveBytes -= int64(old.size)
			}
			x.liveBytes += int64(e.size)
			q.nextID = max(q.nextID, m.ID)
		}
	case kindDeliver:
		if q := x.queues[r.queue]; q != nil {
			for _, id := range r.ids {
				if e, ok := q.msgs.get(id); ok {
					e.deliveries++
				}
			}
		}
	case kindAck:
		if q := x.queues[r.queue]; q != nil {
			x.ack(q, r.ids)
		}
	case kindMeta:
		q := x.queue(r.queue, at)
		if q.meta == nil {
			q.meta = map[string][]byte{}
		}
		if old, ok := q.meta[r.key]; ok {
			x.liveBytes -= int64(len(r.key) + len(old))
			delete(q.meta, r.key)
		}
		if r.present {
			q.meta[r.key] = slices.Clone(r.value)
			x.liveBytes += int64(len(r.key) + len(r.value))
		}
	}
}

func (x *index) ack(q *iqueue, ids []uint64) {
	for _, id := range ids {
		if e, ok := q.msgs.del(id); ok {
			x.liveBytes -= int64(e.size)
			if q.kept != nil {
				q.keptDead++
			}
		}
	}
	if q.keptDead > 1024 && q.keptDead > len(q.kept)/2 {
		q.kept = q.liveKept()
	}
}

// keep adds a message replay decoded to q.kept, in id order (a queue's
// ids grow, so that is an append but for a message recorded again).
func (q *iqueue) keep(m broker.StoredMessage) {
	n := len(q.kept)
	if n == 0 || m.ID > q.kept[n-1].ID {
		q.kept = append(q.kept, m)
		return
	}
	i, found := slices.BinarySearchFunc(q.kept, m.ID, func(k broker.StoredMessage, id uint64) int { return cmpU(k.ID, id) })
	if found {
		q.kept[i] = m
		return
	}
	q.kept = slices.Insert(q.kept, i, m)
}

// liveKept drops the acked messages from q.kept, in place, and returns
// it, each message with its delivery count from the index.
func (q *iqueue) liveKept() []broker.StoredMessage {
	kept, live, j := q.kept, q.kept[:0], 0
	q.msgs.each(func(id uint64, e *entry) bool {
		for j < len(kept) && kept[j].ID < id {
			j++
		}
		if j < len(kept) && kept[j].ID == id {
			m := kept[j]
			m.Deliveries = e.deliveries
			live = append(live, m)
			j++
		}
		return true
	})
	clear(kept[len(live):]) // let the dropped payloads go
	q.keptDead = 0
	return live
}

func (x *index) drop(name string) {
	q := x.queues[name]
	if q == nil {
		return
	}
	q.msgs.each(func(_ uint64, e *entry) bool {
		x.liveBytes -= int64(e.size)
		return true
	})
	for k, v := range q.meta {
		x.liveBytes -= int64(len(k) + len(v))
	}
	x.liveBytes -= queueOverhead + int64(len(name))
	delete(x.queues, name)
}

// forgetFrom drops what records at or after (file, off) added: a write
// that failed took them back. Acks and deliveries among them stay
// applied: the broker applied them too, and a lost ack is a redelivery.
func (x *index) forgetFrom(file uint64, off int64) {
	after := func(l loc) bool { return l.file > file || l.file == file && l.off >= off }
	for name, q := range x.queues {
		q.msgs.each(func(_ uint64, e *entry) bool {
			if after(e.at) {
				x.liveBytes -= int64(e.size)
				return false
			}
			return true
		})
		if after(q.at) && q.msgs.len() == 0 {
			x.drop(name)
		}
	}
}

// messageSize is the bytes m takes in a record, about.
func messageSize(m *broker.StoredMessage) uint32 {
	return uint32(24 + len(m.Origin) + len(m.CorrelationID) + len(m.ReplyTo) + len(m.Payload))
}
