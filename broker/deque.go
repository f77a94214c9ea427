package broker

import "sort"

// deque is a ring buffer of messages ordered by id: pushed at the back,
// popped at the front.
type deque struct {
	buf  []message
	head int
	n    int
}

func (d *deque) len() int { return d.n }

func (d *deque) at(i int) *message { return &d.buf[(d.head+i)%len(d.buf)] }

func (d *deque) pushBack(m message) {
	if d.n == len(d.buf) {
		d.resize(max(16, 2*len(d.buf)))
	}
	d.buf[(d.head+d.n)%len(d.buf)] = m
	d.n++
}

func (d *deque) popFront() message {
	m := d.buf[d.head]
	d.buf[d.head] = message{}
	d.head = (d.head + 1) % len(d.buf)
	d.n--
	if d.n == 0 {
		d.head = 0
		if len(d.buf) > 1024 {
			d.buf = nil // let a drained burst's buffer go
		}
	} else if len(d.buf) > 1024 && d.n < len(d.buf)/4 {
		d.resize(len(d.buf) / 2)
	}
	return m
}

func (d *deque) resize(size int) {
	nb := make([]message, size)
	for i := 0; i < d.n; i++ {
		nb[i] = *d.at(i)
	}
	d.buf, d.head = nb, 0
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
	return m
}
