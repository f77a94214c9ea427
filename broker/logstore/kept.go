package logstore

import (
	"encoding/binary"
	"slices"
	"unsafe"

	"msw/broker"
)

// kept is what replay keeps of the messages it decoded, until the broker
// takes them (Recovered): for each message its id and where its encoding
// lies in an arena of 1 MiB blocks, in id order, in runs of at most
// keptRunLen. The encoding holds what the broker needs beside the id
// and delivery count (the index has those): enqueue time, status,
// origin, topic, correlation id, reply-to, and the payload while the
// cache budget lasts, else its length. RecoveredQueue.Messages decodes
// them one at a time into one StoredMessage.
//
// Replay first kept a []broker.StoredMessage: 120 bytes a message with
// five pointers, grown by copying into a fresh array each time it
// filled. For a million messages of 100 bytes that copying, and the
// kernel faulting in the arrays, was over half of a start's CPU; the
// collector scanned it; and the broker then built its own copy beside
// it. A message kept here is 16 bytes of run and ~16 bytes of encoding
// (plus its payload, within the cache), none of it scanned.
type kept struct {
	runs [][]keptRef
	n    int // messages held, acked ones included
	dead int // acked since they were kept
}

// keptRef is a kept message: its id, its encoding's place (block<<32 |
// offset), and, once replay is over, its delivery count.
type keptRef struct {
	id, at     uint64
	deliveries uint32
}

// keptRunLen is a run's capacity: 4,096 messages, 96 KiB.
const keptRunLen = 4096

// keptArena holds the encodings of kept messages, for every queue of one
// replay, and the origins they name (most messages of a log share a few).
type keptArena struct {
	blocks  [][]byte
	origins []string
	origin  map[string]uint32
	scratch []byte
}

// keptBlock is the size of an arena block; a larger encoding gets a block
// of its own.
const keptBlock = 1 << 20

// Flags of an encoding.
const (
	keptDiskOnly = 1 << iota // the payload was left on disk; its length follows
)

// put encodes m into the arena, its payload only if keepPayload, and
// returns its place.
func (a *keptArena) put(m *broker.StoredMessage, keepPayload bool) uint64 {
	o, ok := a.origin[m.Origin]
	if !ok {
		if a.origin == nil {
			a.origin = map[string]uint32{}
		}
		o = uint32(len(a.origins))
		a.origins = append(a.origins, m.Origin)
		a.origin[m.Origin] = o
	}
	h := binary.LittleEndian.AppendUint64(a.scratch[:0], uint64(m.Enqueued))
	flags := byte(0)
	if !keepPayload {
		flags |= keptDiskOnly
	}
	h = append(h, m.Status, flags)
	h = binary.AppendUvarint(h, uint64(o))
	for _, s := range [...]string{m.Topic, m.CorrelationID, m.ReplyTo} {
		h = binary.AppendUvarint(h, uint64(len(s)))
		h = append(h, s...)
	}
	h = binary.AppendUvarint(h, uint64(len(m.Payload)))
	a.scratch = h
	n := len(h)
	if keepPayload {
		n += len(m.Payload)
	}
	last := len(a.blocks) - 1
	if last < 0 || len(a.blocks[last])+n > cap(a.blocks[last]) {
		a.blocks = append(a.blocks, make([]byte, 0, max(keptBlock, n)))
		last++
	}
	b := a.blocks[last]
	at := uint64(last)<<32 | uint64(len(b))
	b = append(b, h...)
	if keepPayload {
		b = append(b, m.Payload...)
	}
	a.blocks[last] = b
	return at
}

// get decodes the message encoded at at into m, but for its id and
// delivery count. Its strings and payload alias the arena.
func (a *keptArena) get(at uint64, m *broker.StoredMessage) {
	b := a.blocks[at>>32][uint32(at):]
	m.Enqueued = int64(binary.LittleEndian.Uint64(b))
	m.Status = b[8]
	flags := b[9]
	b = b[10:]
	o, k := binary.Uvarint(b)
	b = b[k:]
	m.Origin = a.origins[o]
	str := func() string {
		n, k := binary.Uvarint(b)
		s := b[k : k+int(n)]
		b = b[k+int(n):]
		if n == 0 {
			return ""
		}
		return unsafe.String(&s[0], len(s))
	}
	m.Topic, m.CorrelationID, m.ReplyTo = str(), str(), str()
	n, k := binary.Uvarint(b)
	m.Payload, m.DiskOnly = nil, 0
	switch {
	case flags&keptDiskOnly != 0:
		m.DiskOnly = uint32(n)
	case n > 0:
		m.Payload = b[k : k+int(n) : k+int(n)]
	}
}

// add keeps the message of id encoded at at. A queue's ids grow, so that
// is an append, but for a message recorded again, which replaces or is
// inserted.
func (k *kept) add(id, at uint64) {
	ref := keptRef{id: id, at: at}
	last := len(k.runs) - 1
	if last < 0 || id > k.runs[last][len(k.runs[last])-1].id {
		if last < 0 || len(k.runs[last]) >= keptRunLen {
			k.runs = append(k.runs, make([]keptRef, 0, keptRunLen))
			last++
		}
		k.runs[last] = append(k.runs[last], ref)
		k.n++
		return
	}
	// The last run whose first id is at most id (or the first run).
	ri, _ := slices.BinarySearchFunc(k.runs, id, func(r []keptRef, id uint64) int { return cmpU(r[0].id, id+1) })
	ri = max(ri-1, 0)
	r := k.runs[ri]
	i, found := slices.BinarySearchFunc(r, id, func(s keptRef, id uint64) int { return cmpU(s.id, id) })
	if found {
		r[i] = ref
		return
	}
	k.runs[ri] = slices.Insert(r, i, ref)
	k.n++
}

// acked notes that one kept message was acked; once more than half of
// them are, the dead are dropped (live says which are live).
func (k *kept) acked(live *msgIndex) {
	k.dead++
	if k.dead > 1024 && k.dead > k.n/2 {
		k.compact(live)
	}
}

// compact keeps only the messages live in x, in place, with their
// delivery counts from x.
func (k *kept) compact(x *msgIndex) {
	ri, rj := 0, 0 // the next kept message to look at
	wi, wj := 0, 0 // where the next live one goes
	x.each(func(id uint64, e *entry) bool {
		for ri < len(k.runs) {
			if rj == len(k.runs[ri]) {
				ri, rj = ri+1, 0
				continue
			}
			if k.runs[ri][rj].id >= id {
				break
			}
			rj++
		}
		if ri < len(k.runs) && k.runs[ri][rj].id == id {
			ref := k.runs[ri][rj]
			ref.deliveries = e.deliveries
			rj++
			// The write place never passes the read place, and runs
			// keep their lengths until the end.
			for wj == len(k.runs[wi]) {
				wi, wj = wi+1, 0
			}
			k.runs[wi][wj] = ref
			wj++
		}
		return true
	})
	n := 0
	if wi < len(k.runs) {
		k.runs[wi] = k.runs[wi][:wj]
		k.runs = k.runs[:wi+1]
	}
	k.runs = slices.DeleteFunc(k.runs, func(r []keptRef) bool { return len(r) == 0 })
	for _, r := range k.runs {
		n += len(r)
	}
	k.n, k.dead = n, 0
}

// recovered renders the live kept messages of q, in id order, each with
// its delivery count from q's index, as the broker takes them, and
// forgets them. The messages' strings and payloads alias the arena,
// which nothing writes to.
func (k *kept) recovered(q *iqueue, arena *keptArena) broker.RecoveredMessages {
	k.compact(&q.msgs)
	runs := k.runs
	rm := broker.RecoveredMessages{Len: k.n}
	for _, r := range runs {
		for _, ref := range r {
			if arena.blocks[ref.at>>32][uint32(ref.at)+9]&keptDiskOnly != 0 {
				rm.DiskOnly++
			}
		}
	}
	rm.Each = func(f func(*broker.StoredMessage)) {
		var m broker.StoredMessage
		for i, r := range runs {
			for _, ref := range r {
				arena.get(ref.at, &m)
				m.ID, m.Deliveries = ref.id, ref.deliveries
				f(&m)
			}
			runs[i] = nil // taken: its memory can go
		}
	}
	*k = kept{}
	return rm
}
