package logstore

import "slices"

// msgIndex holds one queue's live messages in id order: two parallel
// slices, appended to at the back (a queue's ids grow, and its records
// are appended in id order), searched by binary search, and deleted from
// by marking. It replaced a map whose random access cost a cache miss per
// message: a batch of 1,000 spent most of its append time there.
type msgIndex struct {
	ids  []uint64
	es   []entry // es[i] belongs to ids[i]; size 0 marks a deleted one
	live int
	head int // no live entry before it
}

// find returns the position of id, live or not, or -1.
func (x *msgIndex) find(id uint64) int {
	i, ok := slices.BinarySearch(x.ids[x.head:], id)
	if !ok {
		return -1
	}
	return x.head + i
}

// get returns the live entry of id.
func (x *msgIndex) get(id uint64) (*entry, bool) {
	if i := x.find(id); i >= 0 && x.es[i].size != 0 {
		return &x.es[i], true
	}
	return nil, false
}

// put sets the entry of id, returning the one it replaced, if live.
func (x *msgIndex) put(id uint64, e entry) (old entry, replaced bool) {
	if n := len(x.ids); n == 0 || id > x.ids[n-1] {
		x.ids = append(x.ids, id)
		x.es = append(x.es, e)
		x.live++
		return entry{}, false
	}
	i, found := slices.BinarySearch(x.ids, id)
	if found {
		old, replaced = x.es[i], x.es[i].size != 0
		x.es[i] = e
		if !replaced {
			x.live++
		}
		x.head = min(x.head, i)
		return old, replaced
	}
	x.ids = slices.Insert(x.ids, i, id)
	x.es = slices.Insert(x.es, i, e)
	x.head = min(x.head, i)
	x.live++
	return entry{}, false
}

// del deletes id, returning its entry if it was live.
func (x *msgIndex) del(id uint64) (entry, bool) {
	i := x.find(id)
	if i < 0 || x.es[i].size == 0 {
		return entry{}, false
	}
	e := x.es[i]
	x.es[i].size = 0
	x.live--
	for x.head < len(x.ids) && x.es[x.head].size == 0 {
		x.head++
	}
	if dead := len(x.ids) - x.live; dead > 1024 && dead > x.live {
		x.compact()
	}
	return e, true
}

// compact drops the deleted entries.
func (x *msgIndex) compact() {
	ids := make([]uint64, 0, x.live)
	es := make([]entry, 0, x.live)
	for i := x.head; i < len(x.ids); i++ {
		if x.es[i].size != 0 {
			ids = append(ids, x.ids[i])
			es = append(es, x.es[i])
		}
	}
	x.ids, x.es, x.head = ids, es, 0
}

// len is the number of live messages.
func (x *msgIndex) len() int { return x.live }

// each calls f for every live message in id order, with a pointer it may
// change the entry through; f returning false deletes the message.
func (x *msgIndex) each(f func(id uint64, e *entry) bool) {
	for i := x.head; i < len(x.ids); i++ {
		if x.es[i].size != 0 && !f(x.ids[i], &x.es[i]) {
			x.es[i].size = 0
			x.live--
		}
	}
	for x.head < len(x.ids) && x.es[x.head].size == 0 {
		x.head++
	}
}
