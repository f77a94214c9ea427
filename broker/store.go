package broker

import (
	"errors"
	"fmt"
	"time"
)

// Store is where the broker records every durable change of state: the
// seam between the core and its storage. The broker calls it only for
// persistent queues (transient queues are never recorded), in the order
// the changes happen to each queue: every call for a queue is made under
// that queue's lock, or under the broker's queue-map lock for creation and
// destruction, so a store that appends records in call order keeps each
// queue's history in order.
//
// Calls that return a Commit only buffer the record; Wait blocks until the
// record is as durable as the store promises (on stable storage, for a log
// with fsync always), Flush until it would survive the switch's own crash.
// The broker waits outside every lock, so concurrent callers share one
// write and one sync (group commit). Deliveries and acks are only flushed,
// never synced: a lost ack is a redelivery, never a loss.
type Store interface {
	// Recovered returns the state found when the store was opened, once;
	// the broker starts from it.
	Recovered() []RecoveredQueue
	// IDFloor returns the highest message id a queue destroyed before
	// the store was opened had given: the broker numbers a queue made
	// again above it.
	IDFloor() uint64
	// CreateQueue records a new persistent queue, whose ids start above
	// next.
	CreateQueue(name string, next uint64) (Commit, error)
	// DestroyQueue records that a queue and all its messages are gone.
	DestroyQueue(name string) (Commit, error)
	// Append records accepted messages of a queue as one group: after a
	// crash either all of them come back or none do. The store keeps no
	// reference to the slice ms after Append returns: the broker reuses
	// it.
	Append(queue string, ms []StoredMessage) (Commit, error)
	// Deliver records that messages were handed to a receiver (their
	// delivery counts went up by one).
	Deliver(queue string, ids []uint64) Commit
	// Ack records that messages were deleted (acked or withdrawn).
	Ack(queue string, ids []uint64) Commit
	// SetQueueMeta records a named property of a queue (a policy, a
	// binding); a nil value removes it. It comes back in RecoveredQueue.
	SetQueueMeta(queue, key string, value []byte) (Commit, error)
	// Wait blocks until c is durable; an error means it may not be, and
	// the change must not be acknowledged.
	Wait(c Commit) error
	// Flush blocks until c would survive a crash of the switch (not of
	// the machine).
	Flush(c Commit) error
	// Read returns the payload of a message Append recorded (and Wait
	// saw written), its checksum verified, for a message whose payload
	// the broker did not keep in memory. The broker copies it and never
	// writes to it, so a store may return memory of its own.
	Read(queue string, id uint64) ([]byte, error)
	// Stats describes the store for metrics and listings.
	Stats() StoreStats
}

// Commit identifies a buffered record for Wait: the log position its
// durability is reached at.
type Commit uint64

// StoredMessage is a message as a store records it.
type StoredMessage struct {
	ID            uint64
	Enqueued      int64 // Unix nanoseconds
	Deliveries    uint32
	Status        uint8
	Origin        string
	CorrelationID string
	ReplyTo       string
	// Topic is the topic a published copy was published to; empty for
	// a message sent to its queue.
	Topic   string
	Payload []byte
	// DiskOnly, in a recovered message, is the length of a payload the
	// store left on disk (Payload is nil): read it with Store.Read.
	DiskOnly uint32
}

// RecoveredQueue is a persistent queue as a store found it on opening.
type RecoveredQueue struct {
	Name string
	// NextID is the highest message id the queue ever gave; new messages
	// get higher ones.
	NextID   uint64
	Messages RecoveredMessages
	Meta     map[string][]byte
}

// RecoveredMessages are a recovered queue's messages. A store hands them
// over one at a time, from whatever form it keeps them in, so that a
// start on a large log never holds them twice over.
type RecoveredMessages struct {
	Len      int // how many
	DiskOnly int // how many have their payload on disk only (DiskOnly set)
	// Each calls f with each message, in id order, once. A message, its
	// strings and its payload are valid only during its call: f copies
	// what it keeps. Nil when there are none.
	Each func(f func(*StoredMessage))
}

// StoreStats describe a store at one moment.
type StoreStats struct {
	Durable   bool
	LogBytes  int64         // bytes of log on disk
	LastSync  time.Duration // how long the last fsync took
	Syncs     uint64        // fsyncs so far
	DiskOnly  int           // messages whose payload is on disk only
	Failed    string        // the write error the store is in, if any
	FsyncMode string        // always, interval=D or never
}

// Errors a store returns; the server answers both with 507.
var (
	// ErrStorageFull: the disk is full; the change was not recorded.
	ErrStorageFull = errors.New("storage full")
	// ErrStorage: writing or syncing the log failed; the change was not
	// recorded.
	ErrStorage = errors.New("storage error")
)

// Memory is the store of a switch without --data: it records nothing and
// every change is as durable as it will ever be at once. The broker skips
// a store that is not durable altogether, so it costs nothing per message.
type Memory struct{}

// Recovered returns nothing: memory starts empty.
func (Memory) Recovered() []RecoveredQueue { return nil }

// CreateQueue does nothing.
func (Memory) CreateQueue(string, uint64) (Commit, error) { return 0, nil }

// IDFloor returns 0: memory starts empty.
func (Memory) IDFloor() uint64 { return 0 }

// DestroyQueue does nothing.
func (Memory) DestroyQueue(string) (Commit, error) { return 0, nil }

// Append does nothing.
func (Memory) Append(string, []StoredMessage) (Commit, error) { return 0, nil }

// Deliver does nothing.
func (Memory) Deliver(string, []uint64) Commit { return 0 }

// Ack does nothing.
func (Memory) Ack(string, []uint64) Commit { return 0 }

// Flush returns at once.
func (Memory) Flush(Commit) error { return nil }

// SetQueueMeta does nothing.
func (Memory) SetQueueMeta(string, string, []byte) (Commit, error) { return 0, nil }

// Wait returns at once.
func (Memory) Wait(Commit) error { return nil }

// Read finds nothing: memory keeps every payload.
func (Memory) Read(queue string, id uint64) ([]byte, error) {
	return nil, fmt.Errorf("%w: %s/%d", ErrNoSuchMessage, queue, id)
}

// Stats reports a store that is not durable.
func (Memory) Stats() StoreStats { return StoreStats{} }
