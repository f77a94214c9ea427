// Package broker is the switch's core: named queues, client sessions and
// message delivery, with no HTTP in it. The server package puts it on the
// wire; a durable store can later sit beneath the same API.
//
// # State
//
// A Broker holds a map of queues and a map of sessions. A Queue holds its
// ready messages (a FIFO of first deliveries, plus a short id-ordered list
// of messages given back for redelivery, served first) and a map of
// messages in flight, keyed by id, each with the session holding it. A
// message is stored by value with its correlation id, reply-to and payload
// in one allocation, so a queued message costs about 56 bytes of header
// above its payload.
//
// # Locking
//
// There is no global lock in the hot path. Lock order, outermost first:
//
//	Broker.queuesMu / Broker.sessionsMu  (RWMutex; read-locked for lookups)
//	Session.mu
//	Queue.mu
//	trace slot locks, Broker.namesMu (leaves)
//
// Send, transfer and ack take a read lock on a map only to look a queue or
// session up, then work under that one queue's mutex. Different queues never
// contend; different sessions only share the read-locked maps. No lock is
// held while a transfer waits.
//
// # Delivery
//
// Delivery is competing-consumer. Transfer takes up to max ready messages
// from the session's subscribed queues, moves them in flight (held by that
// session) and returns them; Ack deletes; Release gives back. When a session
// ends (explicitly, or when its last connection has been closed for longer
// than the grace period), every message it holds goes back to its queue for
// redelivery, ahead of first deliveries, with its delivery count kept, and
// the transient queues it owns are destroyed.
//
// A transfer with nothing to take registers one waiter on each subscribed
// queue and sleeps. Send wakes exactly one waiter of that queue (a waiter
// that has already given up is skipped), so idle pollers of other queues are
// never woken, and a queue with many competing consumers wakes one per
// send. A transfer that leaves without taking what it was woken for passes
// the wake on. A transfer woken because a queue it polls was destroyed
// looks the name up again; if no queue has it yet, it waits for the name,
// and creating a queue of that name wakes it (namewait.go).
package broker
