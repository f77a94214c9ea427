package broker

import (
	"context"
	"time"

	"msw/internal/wire"
)

// Engine keeps persistent queues outside the switch's memory, in a
// cluster that several switches (gateways) share: the seam for scale-out
// (docs/scale-out.md). With Options.Engine set, every persistent queue
// lives in the engine: sends publish to it, transfers pull from it, acks,
// releases and the end of a session are handed to it, and a queue created
// through one gateway is seen by all. Sessions, subscriptions and
// transient queues stay in the gateway's memory; a transient queue is
// reachable from the other gateways through ExposeTransient and Forward.
// Without an Engine (the default) nothing here is called and the broker
// works exactly as before.
//
// Errors: a queue the engine does not have is ErrNoSuchQueue, a message it
// does not have ErrNoSuchMessage, and an engine that cannot be reached or
// fails wraps ErrStorage.
type Engine interface {
	// CreateQueue makes a persistent queue; it is not an error if one
	// exists.
	CreateQueue(name string) error
	// DestroyQueue deletes a queue and its messages.
	DestroyQueue(name string) error
	// QueueExists reports whether the engine holds the queue.
	QueueExists(name string) (bool, error)
	// Queues lists the queues whose names start with prefix.
	Queues(prefix string) ([]string, error)
	// Info describes a queue as the whole cluster sees it: Depth,
	// InFlight, Bytes and Created are filled in.
	Info(name string) (wire.QueueInfo, error)
	// Publish appends messages to a queue in order and returns what
	// waits for their ids: the wait returns once the engine has each
	// stored, or handed to a gateway's waiting Fetch with a copy kept
	// until it is settled (docs/scale-out.md, "The direct hand-off").
	// When Publish returns, the messages are on their way or stored, and
	// copied (ms may be reused). prior, if not nil, is called before
	// anything is stored: it returns once the sends this one must follow
	// are answered. A Publish of one message started before the wait of
	// an earlier one to the queue returned keeps its place behind it, as
	// far as one gateway receives both; of several, only one started
	// after it. The wait is called once.
	Publish(queue string, ms []wire.Message, origin string, prior func()) (wait func() ([]uint64, error))
	// Fetch takes up to max messages of a queue for this gateway: those
	// ready at once, or else waits up to wait (or until ctx ends) for the
	// first one, stored or handed over by a Publish meanwhile. Each comes
	// with the handle that settles it; a Fetch that ctx ends gives back
	// what it took.
	Fetch(ctx context.Context, queue string, max int, wait time.Duration) ([]Fetched, error)
	// Delete removes one message by id, whoever holds it.
	Delete(queue string, id uint64) error
	// Peek returns up to max of a queue's messages no gateway has taken
	// yet, in order, leaving them queued.
	Peek(queue string, max int) ([]wire.Delivery, error)
	// Purge removes a queue's messages no gateway has taken yet and
	// returns how many; messages in flight stay.
	Purge(queue string) (int, error)
	// Watch calls wake (which must not block) with the queue whenever a
	// message is sent to one of queues, through any gateway, until the
	// returned function is called: a transfer waiting on several queues
	// sleeps until then.
	Watch(queues []string, wake func(queue string)) (func(), error)
	// ExposeTransient makes a transient queue of this gateway reachable
	// from the others: the engine calls deliver for each Forward to it,
	// until the returned function is called.
	ExposeTransient(queue string, deliver func(ms []wire.Message, origin string) (uint64, error)) (func(), error)
	// Forward sends messages to a transient queue that another gateway
	// exposes and returns what waits for the first one's id;
	// ErrNoSuchQueue if none has the queue. When Forward returns, the
	// messages are on their way and copied (ms may be reused), behind
	// those of every Forward to the queue before it. The wait is called
	// once.
	Forward(queue string, ms []wire.Message, origin string) (wait func() (uint64, error))
}

// Fetched is one message an Engine handed to this gateway.
type Fetched struct {
	Delivery wire.Delivery
	Handle   Handle
}

// Handle settles one fetched message with the engine.
type Handle interface {
	// Ack deletes the message.
	Ack() error
	// Nak gives the message back for redelivery.
	Nak() error
	// InProgress tells the engine the message is still held, so that it
	// is not redelivered after the engine's ack wait.
	InProgress() error
}
