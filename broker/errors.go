package broker

import (
	"errors"

	"msw/internal/wire"
)

// Errors returned by the broker. The server maps each to a wire error code.
var (
	// ErrBadQueueName: the name breaks the rules in ValidateName.
	ErrBadQueueName = wire.ErrBadQueueName
	// ErrNoSuchQueue: no queue has that name.
	ErrNoSuchQueue = errors.New("no such queue")
	// ErrQueueExists: a queue of the other kind already has that name.
	ErrQueueExists = errors.New("queue exists with another kind")
	// ErrQueueNotEmpty: destroy was asked to keep a non-empty queue.
	ErrQueueNotEmpty = errors.New("queue not empty")
	// ErrNoSuchMessage: the message is not in the queue (acked, withdrawn,
	// or never sent).
	ErrNoSuchMessage = errors.New("no such message")
	// ErrInFlight: the message has been handed to a receiver.
	ErrInFlight = errors.New("message in flight")
	// ErrTooLarge: a payload or field is over its limit.
	ErrTooLarge = errors.New("too large")
	// ErrSessionEnded: the session has ended or never existed.
	ErrSessionEnded = errors.New("unknown or ended session")
	// ErrQueueFull: a send would take a queue past its max-depth or
	// max-bytes, and its overflow policy is reject.
	ErrQueueFull = errors.New("queue_full")
	// ErrBadPolicy: a queue policy has a field out of range.
	ErrBadPolicy = wire.ErrBadPolicy
	// ErrClosed: the broker is shutting down.
	ErrClosed = errors.New("switch shutting down")
	// ErrNotSupported: the queue is held by an Engine (msw-switch
	// --backend), which cannot do what was asked (docs/scale-out.md).
	ErrNotSupported = errors.New("not supported by the NATS backend")
)
