package broker

import (
	"errors"
	"fmt"

	"msw/internal/wire"
)

// Switch-wide bounds. Every resource a client can make the switch hold
// has one: past it the request that would grow it is refused with
// ErrLimit (or ErrMemoryFull for bytes held), naming the bound, and the
// switch carries on serving everyone else.
const (
	DefaultMaxSessions      = 20000
	DefaultMaxQueues        = 100000
	DefaultMaxSubscriptions = 10000 // per session
)

var (
	// ErrLimit: a switch-wide bound on sessions, queues or
	// subscriptions is reached.
	ErrLimit = errors.New("limit reached")
	// ErrMemoryFull: the switch holds Options.MaxMemory bytes.
	ErrMemoryFull = errors.New("switch memory full")
)

// messageCost is what one held message counts against MaxMemory: its
// bytes in memory (a payload the store left on disk does not count) and
// wire.MessageOverhead for its bookkeeping, so that a flood of empty
// messages is bounded as surely as one of large ones.
func messageCost(m *message) int64 { return int64(m.heldSize()) + wire.MessageOverhead }

// reserve charges cost bytes against MaxMemory, or refuses them.
func (b *Broker) reserve(cost int64) error {
	if b.opts.MaxMemory <= 0 {
		b.held.Add(cost)
		return nil
	}
	if n := b.held.Add(cost); n > b.opts.MaxMemory {
		b.held.Add(-cost)
		return fmt.Errorf("%w: holding %d of --max-memory %d bytes; take messages off the switch's queues first", ErrMemoryFull, n-cost, b.opts.MaxMemory)
	}
	return nil
}

// unreserve gives back what messages held cost.
func (b *Broker) unreserve(ms ...message) {
	var n int64
	for i := range ms {
		n += messageCost(&ms[i])
	}
	b.held.Add(-n)
}

// Held returns the bytes the broker's messages count against MaxMemory.
func (b *Broker) Held() int64 { return b.held.Load() }

// limitError is ErrLimit naming the bound reached.
func limitError(what string, limit int) error {
	return fmt.Errorf("%w: %d %s, the switch's limit", ErrLimit, limit, what)
}
