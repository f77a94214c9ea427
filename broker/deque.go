package broker

import "sort"

// deque is a FIFO of messages ordered by id: pushed at the back, popped
// at the front. It is held in chunks: the first grows by doubling from
// a few slots up to chunkLen, as a small queue needs, and every chunk
// after it holds chunkLen. A long queue then costs its slots and at
// most one chunk more (a single doubling buffer left up to half of
// itself unused, a third of the memory of a queued 100-byte message
// just past a power of two), and it grows without copying what it
// holds.
type deque struct {
	chunks [][]message // chunks[1:len-1] hold chunkLen each
	head   int         // index in chunks[0] of the front message
	n      int
	spare  []message // a drained chunk of chunkLen slots, all zero, kept for the next
}

// chunkLen is the size of a full chunk: 16 KiB of slots.
const chunkLen = 512

func (d *deque) len() int { return d.n }

func (d *deque) at(i int) *message {
	i += d.head
	if first := len(d.chunks[0]); i >= first {
		i -= first
		return &d.chunks[1+i/chunkLen][i%chunkLen]
	}
	return &d.chunks[0][i]
}

func (d *deque) pushBack(m message) {
	if len(d.chunks) == 0 {
		d.chunks = append(d.chunks, make([]message, 0, 16))
	}
	last := &d.chunks[len(d.chunks)-1]
	switch {
	case len(*last) < cap(*last):
	case cap(*last) < chunkLen && len(d.chunks) == 1:
		*last = append(make([]message, 0, min(2*cap(*last), chunkLen)), *last...)
	default:
		c := d.spare
		if c == nil {
			c = make([]message, 0, chunkLen)
		}
		d.spare = nil
		d.chunks = append(d.chunks, c)
		last = &d.chunks[len(d.chunks)-1]
	}
	*last = append(*last, m)
	d.n++
}

func (d *deque) popFront() message {
	first := d.chunks[0]
	m := first[d.head]
	first[d.head] = message{}
	d.head++
	d.n--
	switch {
	case d.n == 0:
		// Keep the one chunk, emptied, for the next message.
		d.chunks[0] = first[:0]
		clear(d.chunks[1:])
		d.chunks = d.chunks[:1]
		d.head = 0
	case d.head == len(first):
		// The first chunk is done with: its slots are zero.
		if cap(first) == chunkLen && d.spare == nil {
			d.spare = first[:0]
		}
		d.chunks[0] = nil
		d.chunks = d.chunks[1:]
		d.head = 0
	}
	return m
}

// find returns the index of the message with the given id, or -1.
func (d *deque) find(id uint64) int {
	i := sort.Search(d.n, func(i int) bool { return d.at(i).id >= id })
	if i < d.n && d.at(i).id == id {
		return i
	}
	return -1
}

// remove deletes the message at index i, keeping the order.
func (d *deque) remove(i int) message {
	m := *d.at(i)
	for j := i; j < d.n-1; j++ {
		*d.at(j) = *d.at(j + 1)
	}
	*d.at(d.n - 1) = message{}
	d.n--
	last := &d.chunks[len(d.chunks)-1]
	*last = (*last)[:len(*last)-1]
	if len(*last) == 0 && len(d.chunks) > 1 {
		d.chunks[len(d.chunks)-1] = nil
		d.chunks = d.chunks[:len(d.chunks)-1]
	} else if d.n == 0 {
		d.chunks[0] = d.chunks[0][:0]
		d.head = 0
	}
	return m
}
