package lib

import (
	"context"
	"time"

	"msw/internal/wire"
)

// Policy bounds a queue. The zero Policy sets no bound.
type Policy struct {
	// MaxDepth bounds the ready messages; 0 for no bound.
	MaxDepth int
	// MaxBytes bounds the bytes the queue holds, ready and in flight; 0
	// for no bound.
	MaxBytes int64
	// Overflow says what a send past MaxDepth or MaxBytes does:
	// OverflowReject (the default) refuses it with an Error of
	// CodeQueueFull; OverflowDropOldest drops the oldest ready messages
	// to make room.
	Overflow string
	// TTL is how long a message may wait unconsumed before it expires;
	// 0 for ever.
	TTL time.Duration
	// MaxDeliveries is how many times a message is handed out before,
	// given back once more (released, or its receiver gone), it moves to
	// the dead-letter queue instead; 0 for no bound.
	MaxDeliveries int
	// DeadLetter names the dead-letter queue: QUEUE.dead if empty. The
	// switch creates it.
	DeadLetter string
}

// Overflow policies.
const (
	OverflowReject     = wire.OverflowReject
	OverflowDropOldest = wire.OverflowDropOldest
)

// wirePolicy is p as the switch takes it.
func (p Policy) wirePolicy() wire.Policy {
	wp := wire.Policy{MaxDepth: p.MaxDepth, MaxBytes: p.MaxBytes, Overflow: p.Overflow,
		MaxDeliveries: p.MaxDeliveries, DeadLetter: p.DeadLetter}
	if p.TTL > 0 {
		wp.TTL = p.TTL.String()
	}
	return wp
}

// Policy returns the queue's policy.
func (qi *QueueInfo) Policy() Policy {
	wqi := (*wire.QueueInfo)(qi)
	wp := wqi.Policy()
	return Policy{MaxDepth: wp.MaxDepth, MaxBytes: wp.MaxBytes, Overflow: wp.Overflow, TTL: wp.TTLDuration(),
		MaxDeliveries: wp.MaxDeliveries, DeadLetter: wp.DeadLetter}
}

// SetPolicy creates a persistent queue if it does not exist and replaces
// its policy with p; it returns the queue as the switch then describes
// it. A bad field fails with an Error of CodeBadRequest naming it.
func (c *Client) SetPolicy(ctx context.Context, queue string, p Policy) (QueueInfo, error) {
	var qi wire.QueueInfo
	err := c.call(ctx, &request{method: "PUT", path: queuePath(queue), contentType: wire.ContentTypeJSON,
		body: jsonBody(p.wirePolicy()), session: true, idempotent: true}, &qi)
	if err != nil {
		return QueueInfo{}, err
	}
	c.remember(func(l *restoreList) { l.created = remember(l.created, queue) })
	return QueueInfo(qi), nil
}
