package logstore

import "slices"

// msgIndex holds one queue's live messages in id order, in chunks of at
// most chunkLen: each chunk two parallel slices, appended to at the back
// (a queue's ids grow, and its records are appended in id order),
// searched by binary search (first over the chunks, then in one), and
// deleted from by marking. A chunk whose messages are all deleted goes;
// one mostly deleted is compacted.
//
// It replaced a map whose random access cost a cache miss per message
// (a batch of 1,000 spent most of its append time there), and then two
// slices for the whole queue: growing those copied every entry again
// each time they filled (a quarter more each time) into fresh memory
// the kernel had to fault in and zero, which for a queue of 2M live
// messages was over half the log's CPU in a batch benchmark. A chunk is
// allocated once at its full size and never copied to grow.
type msgIndex struct {
	chunks []*idxChunk
	live   int
}

// chunkLen is a chunk's capacity: 1,024 ids and entries, 40 KiB.
const chunkLen = 1024

// idxChunk is a run of ids in order with their entries.
type idxChunk struct {
	ids  []uint64
	es   []entry // es[i] belongs to ids[i]; size 0 marks a deleted one
	live int
}

func newChunk() *idxChunk {
	return &idxChunk{ids: make([]uint64, 0, chunkLen), es: make([]entry, 0, chunkLen)}
}

// chunkFor returns the index of the chunk id belongs in: the last whose
// first id is at most id (0 when id precedes them all). x.chunks is not
// empty.
func (x *msgIndex) chunkFor(id uint64) int {
	// Most lookups are of the oldest messages (acks) or the newest.
	if len(x.chunks) == 1 || id < x.chunks[1].ids[0] {
		return 0
	}
	n := len(x.chunks)
	if id >= x.chunks[n-1].ids[0] {
		return n - 1
	}
	i, _ := slices.BinarySearchFunc(x.chunks, id, func(c *idxChunk, id uint64) int { return cmpU(c.ids[0], id) })
	// i is the first chunk whose first id is >= id.
	if i < n && x.chunks[i].ids[0] == id {
		return i
	}
	return i - 1
}

// find returns the chunk and position of id, live or not, or nil.
func (x *msgIndex) find(id uint64) (*idxChunk, int) {
	if len(x.chunks) == 0 {
		return nil, -1
	}
	c := x.chunks[x.chunkFor(id)]
	i, ok := slices.BinarySearch(c.ids, id)
	if !ok {
		return nil, -1
	}
	return c, i
}

// get returns the live entry of id.
func (x *msgIndex) get(id uint64) (*entry, bool) {
	if c, i := x.find(id); c != nil && c.es[i].size != 0 {
		return &c.es[i], true
	}
	return nil, false
}

// put sets the entry of id, returning the one it replaced, if live.
func (x *msgIndex) put(id uint64, e entry) (old entry, replaced bool) {
	n := len(x.chunks)
	if n == 0 || id > x.chunks[n-1].ids[len(x.chunks[n-1].ids)-1] {
		if n == 0 || len(x.chunks[n-1].ids) == chunkLen {
			x.chunks = append(x.chunks, newChunk())
			n++
		}
		c := x.chunks[n-1]
		c.ids = append(c.ids, id)
		c.es = append(c.es, e)
		c.live++
		x.live++
		return entry{}, false
	}
	ci := x.chunkFor(id)
	c := x.chunks[ci]
	i, found := slices.BinarySearch(c.ids, id)
	if found {
		old, replaced = c.es[i], c.es[i].size != 0
		c.es[i] = e
		if !replaced {
			c.live++
			x.live++
		}
		return old, replaced
	}
	if len(c.ids) == chunkLen {
		// Full: split it in two, and insert into the half id belongs in.
		c2 := newChunk()
		half := chunkLen / 2
		c2.ids = append(c2.ids, c.ids[half:]...)
		c2.es = append(c2.es, c.es[half:]...)
		c.ids, c.es = c.ids[:half], c.es[:half]
		c.live, c2.live = countLive(c.es), countLive(c2.es)
		x.chunks = slices.Insert(x.chunks, ci+1, c2)
		if id > c2.ids[0] {
			c = c2
		}
		i, _ = slices.BinarySearch(c.ids, id)
	}
	c.ids = slices.Insert(c.ids, i, id)
	c.es = slices.Insert(c.es, i, e)
	c.live++
	x.live++
	return entry{}, false
}

// countLive counts the entries not deleted.
func countLive(es []entry) int {
	n := 0
	for i := range es {
		if es[i].size != 0 {
			n++
		}
	}
	return n
}

// del deletes id, returning its entry if it was live.
func (x *msgIndex) del(id uint64) (entry, bool) {
	if len(x.chunks) == 0 {
		return entry{}, false
	}
	ci := x.chunkFor(id)
	c := x.chunks[ci]
	i, ok := slices.BinarySearch(c.ids, id)
	if !ok || c.es[i].size == 0 {
		return entry{}, false
	}
	e := c.es[i]
	c.es[i].size = 0
	c.live--
	x.live--
	x.settle(ci)
	return e, true
}

// settle drops chunk ci if nothing in it is live, and compacts it once
// more of it is deleted than live, so that deleted entries cost at most
// about as much as live ones. It reports whether the chunk went.
func (x *msgIndex) settle(ci int) bool {
	c := x.chunks[ci]
	if c.live == 0 {
		x.chunks = slices.Delete(x.chunks, ci, ci+1)
		return true
	}
	if dead := len(c.ids) - c.live; dead > c.live && dead >= 32 {
		// The last chunk keeps its room for the appends to come; an
		// older one gets slices of its size.
		ids, es := c.ids[:0], c.es[:0]
		if ci != len(x.chunks)-1 {
			ids, es = make([]uint64, 0, c.live), make([]entry, 0, c.live)
		}
		for i := range c.ids {
			if c.es[i].size != 0 {
				ids, es = append(ids, c.ids[i]), append(es, c.es[i])
			}
		}
		c.ids, c.es = ids, es
	}
	return false
}

// len is the number of live messages.
func (x *msgIndex) len() int { return x.live }

// first returns the oldest live id.
func (x *msgIndex) first() (uint64, bool) {
	for _, c := range x.chunks {
		for i := range c.ids {
			if c.es[i].size != 0 {
				return c.ids[i], true
			}
		}
	}
	return 0, false
}

// each calls f for every live message in id order, with a pointer it may
// change the entry through; f returning false deletes the message.
func (x *msgIndex) each(f func(id uint64, e *entry) bool) {
	for ci := 0; ci < len(x.chunks); {
		c := x.chunks[ci]
		deleted := false
		for i := range c.ids {
			if c.es[i].size != 0 && !f(c.ids[i], &c.es[i]) {
				c.es[i].size = 0
				c.live--
				x.live--
				deleted = true
			}
		}
		if deleted && x.settle(ci) {
			continue
		}
		ci++
	}
}
