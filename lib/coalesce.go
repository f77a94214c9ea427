package lib

import (
	"context"
	"sync"
	"sync/atomic"

	"msw/internal/wire"
)

// Sends of single messages are coalesced per queue (group commit): while
// a request to a queue is on the wire, further sends to it wait and then
// go together, as one frames request, when it returns. A send with
// nothing in flight before it goes at once, so a lone sender pays no
// latency for this; many concurrent senders (RPC callers, a server's
// replies) pay one request per batch instead of one per message, which
// was most of the CPU of an RPC over HTTP. (On the stream, a server's
// replies go as reply-and-ack frames instead, see consume.go.)
//
// Each message still gets its own id (ids within a request are
// consecutive, in the order the sends arrived). A batch the switch
// refuses (a 4xx: nothing of it was enqueued) is sent again message by
// message, so each send gets its own answer.

// sendLines holds a client's per-queue send lines.
type sendLines struct {
	mu    sync.Mutex
	lines map[string]*sendLine
}

// idleLocked retires a line with nothing on the wire and nothing
// waiting: a server replies to every caller's own reply queue, so lines
// kept forever would grow with every caller it ever served. sl.mu held.
func (sl *sendLines) idleLocked(queue string, line *sendLine) {
	line.busy = false
	if sl.lines[queue] == line {
		delete(sl.lines, queue)
	}
}

// sendLine is one queue's: whether a request is on the wire and the sends
// waiting for it to return.
type sendLine struct {
	busy    bool
	waiting []*pendingSend
}

// pendingSend is a send waiting in a line.
type pendingSend struct {
	m     *Message
	done  chan sendResult // buffered: the sender may have given up
	batch *sendBatch      // once taken out of the line; under sendLines.mu
}

// sendBatch is a request carrying waiting sends. It is abandoned only
// when every sender in it has given up.
type sendBatch struct {
	live   atomic.Int32
	cancel context.CancelFunc
}

type sendResult struct {
	id, epoch uint64
	err       error
}

// sendCoalesced enqueues one message, sharing a request with concurrent
// sends to the same queue. It returns the message's id and the epoch of
// the session that carried it.
func (c *Client) sendCoalesced(ctx context.Context, queue string, m *Message) (uint64, uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err // not even handed to a batch under way
	}
	sl := &c.sendLines
	sl.mu.Lock()
	if sl.lines == nil {
		sl.lines = make(map[string]*sendLine)
	}
	line := sl.lines[queue]
	if line == nil {
		line = &sendLine{}
		sl.lines[queue] = line
	}
	if !line.busy {
		line.busy = true
		sl.mu.Unlock()
		id, epoch, err := c.sendMessages(ctx, queue, []*Message{m})
		c.lineDone(queue, line)
		return id, epoch, err
	}
	p := &pendingSend{m: m, done: make(chan sendResult, 1)}
	line.waiting = append(line.waiting, p)
	sl.mu.Unlock()
	select {
	case r := <-p.done:
		return r.id, r.epoch, r.err
	case <-ctx.Done():
	}
	sl.mu.Lock()
	for i, x := range line.waiting {
		if x == p {
			line.waiting = append(line.waiting[:i], line.waiting[i+1:]...)
			sl.mu.Unlock()
			return 0, 0, ctx.Err()
		}
	}
	b := p.batch
	sl.mu.Unlock()
	// Taken into a batch already: its answer may have come meanwhile.
	select {
	case r := <-p.done:
		return r.id, r.epoch, r.err
	default:
	}
	if b.live.Add(-1) == 0 {
		b.cancel()
	}
	return 0, 0, ctx.Err()
}

// lineDone is called when a line's request has returned: it sends what
// waited meanwhile, from a goroutine of its own, or marks the line idle.
func (c *Client) lineDone(queue string, line *sendLine) {
	sl := &c.sendLines
	sl.mu.Lock()
	if len(line.waiting) == 0 {
		sl.idleLocked(queue, line)
		sl.mu.Unlock()
		return
	}
	sl.mu.Unlock()
	go c.flushLine(queue, line)
}

// flushLine sends the line's waiting sends in batches until none wait.
func (c *Client) flushLine(queue string, line *sendLine) {
	sl := &c.sendLines
	for {
		sl.mu.Lock()
		if len(line.waiting) == 0 {
			sl.idleLocked(queue, line)
			sl.mu.Unlock()
			return
		}
		var batch []*pendingSend
		ctx, cancel := context.WithCancel(context.Background())
		b := &sendBatch{cancel: cancel}
		size := 0
		for _, p := range line.waiting {
			n := len(p.m.Payload) + len(p.m.CorrelationID) + len(p.m.ReplyTo) + 16
			if len(batch) > 0 && (size+n > maxBatchBytes || len(batch) == wire.MaxSendMessages) {
				break
			}
			p.batch = b
			batch = append(batch, p)
			size += n
		}
		b.live.Store(int32(len(batch)))
		line.waiting = append(line.waiting[:0:0], line.waiting[len(batch):]...)
		sl.mu.Unlock()
		c.sendBatchOf(ctx, queue, batch)
		cancel()
	}
}

// sendBatchOf sends a batch of waiting sends and answers each; ctx ends
// when every sender in it has given up.
func (c *Client) sendBatchOf(ctx context.Context, queue string, batch []*pendingSend) {
	ms := make([]*Message, len(batch))
	for i, p := range batch {
		ms[i] = p.m
	}
	first, epoch, err := c.sendMessages(ctx, queue, ms)
	if err != nil && len(batch) > 1 {
		if e, ok := err.(*Error); ok && e.Status/100 == 4 {
			// Refused whole: send each alone so that only the culprit fails.
			for _, p := range batch {
				id, epoch, err := c.sendMessages(ctx, queue, []*Message{p.m})
				p.done <- sendResult{id, epoch, err}
			}
			return
		}
	}
	for i, p := range batch {
		r := sendResult{epoch: epoch, err: err}
		if err == nil {
			r.id = first + uint64(i)
		}
		p.done <- r
	}
}

// sendMessages frames messages into one send request.
func (c *Client) sendMessages(ctx context.Context, queue string, ms []*Message) (uint64, uint64, error) {
	n := 0
	for _, m := range ms {
		n += len(m.Payload) + len(m.CorrelationID) + len(m.ReplyTo) + 24
	}
	buf := make([]byte, 0, n)
	for _, m := range ms {
		buf = wire.AppendSendFrame(buf, m.wireMessage())
	}
	return c.sendFrames(ctx, queue, buf, len(ms))
}
