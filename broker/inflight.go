package broker

import (
	"cmp"
	"slices"
)

// inflight is a queue's messages in flight, each with the session
// holding it. Messages are taken from the front of the queue, in id
// order, so they are kept as a list ordered by id: a take appends, and
// an ack finds its message by binary search, or at once when it comes
// right after the one acked before (a reader acks what it took in the
// order it took it: a run of ids costs one search). An acked slot
// becomes a hole that keeps its id, for the search; holes at the front
// are dropped as they come, the others when the list would grow.
//
// A message taken out of id order (a redelivery, below ids already in
// flight) goes to a map beside the list. A map entry per message was
// the whole bookkeeping before: in a fan-out, where every copy enters
// and leaves it, it was a tenth of the switch's CPU.
type inflight struct {
	slots []held // ordered by id from head; holes have a nil holder
	head  int    // slots before it are holes
	live  int    // slots that are not holes
	extra map[uint64]held
}

// maxIdleSlots is the most slots an emptied list keeps for the next
// messages.
const maxIdleSlots = 4096

// held is a message in flight and the session holding it.
type held struct {
	msg    message
	holder *Session
}

// len is how many messages are in flight.
func (f *inflight) len() int { return f.live + len(f.extra) }

// add puts m in flight, held by s.
func (f *inflight) add(m message, s *Session) {
	if n := len(f.slots); n > f.head && f.slots[n-1].msg.id >= m.id {
		if f.extra == nil {
			f.extra = make(map[uint64]held)
		}
		f.extra[m.id] = held{msg: m, holder: s}
		return
	}
	if len(f.slots) == cap(f.slots) && f.head+(len(f.slots)-f.head-f.live) >= cap(f.slots)/4 {
		f.compact()
	}
	f.slots = append(f.slots, held{msg: m, holder: s})
	f.live++
}

// compact drops the holes, keeping the slots' order.
func (f *inflight) compact() {
	live := f.slots[:0]
	for _, h := range f.slots[f.head:] {
		if h.holder != nil {
			live = append(live, h)
		}
	}
	clear(f.slots[len(live):])
	f.slots, f.head = live, 0
}

// index returns where message id is in slots, live, or -1. The slot at
// *hint is looked at first.
func (f *inflight) index(id uint64, hint int) int {
	i := hint
	if i < f.head || i >= len(f.slots) || f.slots[i].msg.id != id {
		var found bool
		i, found = slices.BinarySearchFunc(f.slots[f.head:], id, func(h held, id uint64) int {
			return cmp.Compare(h.msg.id, id)
		})
		if !found {
			return -1
		}
		i += f.head
	}
	if f.slots[i].holder == nil {
		return -1
	}
	return i
}

// get returns message id and its holder.
func (f *inflight) get(id uint64) (held, bool) {
	if i := f.index(id, -1); i >= 0 {
		return f.slots[i], true
	}
	h, ok := f.extra[id]
	return h, ok
}

// remove takes message id out of flight if it is held by holder (by
// anyone if holder is nil). *hint is where to look first; it is left
// where the next id of a run would be.
func (f *inflight) remove(id uint64, holder *Session, hint *int) (held, bool) {
	if i := f.index(id, *hint); i >= 0 {
		h := f.slots[i]
		if holder != nil && h.holder != holder {
			return held{}, false
		}
		f.hole(i)
		*hint = i + 1
		return h, true
	}
	h, ok := f.extra[id]
	if !ok || holder != nil && h.holder != holder {
		return held{}, false
	}
	delete(f.extra, id)
	if len(f.extra) == 0 {
		f.extra = nil
	}
	return h, true
}

// hole makes slot i, live, a hole.
func (f *inflight) hole(i int) {
	f.slots[i] = held{msg: message{id: f.slots[i].msg.id}}
	f.live--
	if f.live == 0 {
		clear(f.slots[f.head:])
		f.slots, f.head = f.slots[:0], 0
		if cap(f.slots) > maxIdleSlots {
			f.slots = nil // a burst's list goes with it
		}
		return
	}
	for f.head < len(f.slots) && f.slots[f.head].holder == nil {
		f.slots[f.head] = held{}
		f.head++
	}
}

// takeHeldBy takes every message s holds out of flight and appends it
// to out, in id order for those taken in order.
func (f *inflight) takeHeldBy(s *Session, out []message) []message {
	for i := f.head; i < len(f.slots); i++ {
		if f.slots[i].holder == s {
			out = append(out, f.slots[i].msg)
			f.hole(i)
		}
	}
	for id, h := range f.extra {
		if h.holder == s {
			out = append(out, h.msg)
			delete(f.extra, id)
		}
	}
	if len(f.extra) == 0 {
		f.extra = nil
	}
	return out
}

// each calls fn for every message in flight, those taken in order first.
func (f *inflight) each(fn func(*held)) {
	for i := f.head; i < len(f.slots); i++ {
		if f.slots[i].holder != nil {
			fn(&f.slots[i])
		}
	}
	for _, h := range f.extra {
		fn(&h)
	}
}

// sorted returns every message in flight, in id order.
func (f *inflight) sorted() []held {
	out := make([]held, 0, f.len())
	f.each(func(h *held) { out = append(out, *h) })
	if len(f.extra) > 0 {
		slices.SortFunc(out, func(a, b held) int { return cmp.Compare(a.msg.id, b.msg.id) })
	}
	return out
}
