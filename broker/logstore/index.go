package logstore

import (
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
	// kept is the messages replay decoded, until Recovered; some may
	// have been acked since. Nil once replay is over.
	kept *kept
}

// index is the live state. Guarded by the store's mu.
type index struct {
	queues    map[string]*iqueue
	liveBytes int64 // bytes the live state takes in a snapshot
	// keepBudget is the payload bytes replay may still keep in memory;
	// payloads past it are left on disk.
	keepBudget int64
	kept       keptArena // what replay keeps of the messages it decodes
	// floor is the highest id a destroyed queue had given, and floorName
	// that queue's name: a queue made again numbers above it, so an id
	// a client kept from before never names one of its messages. A
	// snapshot carries it forward as a destroy record of floorName.
	floor     uint64
	floorName string
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
		x.destroy(r.queue, r.nextID)
	case kindMessages:
		q := x.queue(r.queue, at)
		for i := range r.msgs {
			m := &r.msgs[i]
			e := entry{at: at, deliveries: m.Deliveries, size: messageSize(m)}
			e.at.idx = uint32(i)
			if keep {
				n := int64(len(m.Payload))
				payload := n <= x.keepBudget
				if payload {
					x.keepBudget -= n
				}
				if q.kept == nil {
					q.kept = &kept{}
				}
				q.kept.add(m.ID, x.kept.put(m, payload))
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
				q.kept.acked(&q.msgs)
			}
		}
	}
}

// destroy drops a destroyed queue, raising the floor to the ids it gave
// (or to next, which a snapshot's destroy record carries).
func (x *index) destroy(name string, next uint64) {
	if q := x.queues[name]; q != nil {
		next = max(next, q.nextID)
	}
	if next > x.floor {
		x.floor, x.floorName = next, name
	}
	x.drop(name)
}

// drop forgets a queue and what it holds.
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
