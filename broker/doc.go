// Package broker is the switch's core: named queues, client sessions and
// message delivery, with no HTTP in it. The server package puts it on the
// wire; a Store beneath it (store.go) keeps persistent queues durable.
//
// # State
//
// A Broker holds a map of queues and a map of sessions. A Queue holds its
// ready messages (a FIFO of first deliveries, plus a short id-ordered list
// of messages given back for redelivery, served first) and its messages
// in flight, each with the session holding it: a list ordered by id
// (inflight.go), so that acking a run of ids costs one search. A
// queued message is a 32-byte slot (id, delivery count, origin, and a
// pointer to its record) and one allocation, its record, holding what the
// send fixed: enqueue time, status, correlation id, reply-to and payload,
// and a publish's topic (message.go). The ready FIFO grows in chunks of slots (deque.go), so
// a queued 100-byte message costs about 44 bytes above its payload.
//
// # Locking
//
// There is no global lock in the hot path. Lock order, outermost first:
//
//	Broker.queuesMu / Broker.sessionsMu  (RWMutex; read-locked for lookups)
//	Broker.bindingsMu  (RWMutex; read-locked by a publish to match)
//	Session.mu
//	Broker.ttlMu (the sweeper's set of queues with a TTL; a leaf elsewhere)
//	Queue.mu  (a publish holds its matching queues' at once, in name order)
//	trace slot locks, Broker.namesMu, Session.linesMu (leaves)
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
// queue and sleeps. A consumer that does not sleep (a stream's pushing
// consumer, server/push.go) registers a function instead
// (TakeOrNotify): a send that wakes it hands it to the sender, which
// calls it once it has let go of the queue's lock (PendingSend.Notify),
// so that a stream's reader pushes the message itself and no goroutine
// is woken; any other wake-up calls it on a goroutine of its own. Send wakes exactly one waiter of that queue (a waiter
// that has already given up is skipped), so idle pollers of other queues are
// never woken, and a queue with many competing consumers wakes one per
// send. A transfer that leaves without taking what it was woken for passes
// the wake on. A transfer woken because a queue it polls was destroyed
// looks the name up again; if no queue has it yet, it waits for the name,
// and creating a queue of that name wakes it (namewait.go).
//
// # Pub/sub
//
// A queue bound to a pattern (publish.go) gets a copy of each message
// published to a matching topic. Bindings live in a token trie
// (bindings.go), so a publish walks the patterns that could match its
// topic, never every binding. The copies share the message's bytes:
// each costs one slot in its queue (32 bytes, TestPublishCopyBytes).
// A persistent queue's bindings are queue properties in the store
// ("binding:PATTERN"), so they survive a restart with it.
//
// # Policies
//
// A queue's policy (policy.go) is checked under Queue.mu, where the
// change it governs happens; a queue without one pays one or two
// compares per send and one per transfer.
//
// Bounds: a send checks max-depth (ready messages) and max-bytes (bytes
// held, in flight too) before it enqueues, all or nothing. Under reject
// it fails with ErrQueueFull (429 queue_full); under drop-oldest it
// enqueues, then takes the oldest ready messages off the head until the
// queue is within its bounds, recording them as acks in the same locked
// step (only a message larger than max-bytes alone is refused). Bytes in
// flight cannot be dropped, and may keep a queue past max-bytes until
// they are acked.
//
// Expiry needs no timer per message. Fresh messages sit in enqueue
// order, so the expired ones are always at the head: a transfer first
// drops the head's expired messages of each queue it takes from (a
// receiver never gets an expired message), Peek does the same, and one
// sweeper goroutine per broker, started by the first TTL set, wakes
// every 250 ms to do it for each queue with a TTL, so that an unread
// queue frees its memory too. The cost is O(expired) per check plus the
// short redelivery list, and a wake-up every 250 ms walking the queues
// that have a TTL (never the others); expired messages are recorded as
// acks.
//
// Dead letters: when messages are given back (Release, or their holder's
// session ended), those already delivered max-deliveries times are taken
// out instead and, after the queue's lock is released, sent to the
// dead-letter queue (created if missing) with their delivery count and
// the last holder as origin; only once that send is durable is their
// deletion from the source recorded, so a crash in between leaves a
// duplicate, never a loss. A dead-letter queue that refuses them (full)
// sends them back to their queue. A message in flight when a durable
// switch stopped comes back ready and may be delivered once more before
// it is dead-lettered: its last holder is gone with that switch.
//
// The policy itself is a queue property (metaPolicy, JSON) recorded with
// SetQueueMeta and read back on recovery, as the creation time is.
//
// # Durability
//
// Every durable change goes through one interface, Store (store.go): queue
// created or destroyed, a batch of messages accepted (one record group),
// deliveries, acks and withdrawals, and queue properties (SetQueueMeta,
// for the policies and bindings later issues add). Transient queues are
// never recorded. Memory, the store of a switch without --data, is not
// durable, and the broker then skips the store altogether: the memory
// path costs one nil check per send, ack and transfer: BenchmarkSend,
// BenchmarkTransferAck and BenchmarkRoundTrip make the same allocations
// of the same bytes as before the seam, and BenchmarkHeapPerMessage still
// measures 85.4 bytes above the payload per queued message.
//
// The broker calls the store under the lock that orders the change
// (Queue.mu for messages, queuesMu for creation and destruction), so a
// store that appends in call order keeps each queue's history in order;
// the store's own locks are leaves. The call only buffers the record and
// returns a Commit; the broker waits for it after releasing every lock:
// Wait for a send, a create and a destroy (on stable storage before the
// answer, with fsync always), Flush for a transfer's deliveries and for
// acks (handed to the operating system, so that a kill -9 loses none;
// never synced, since a lost ack is a redelivery, not a loss). Waiting
// outside the locks is what lets concurrent senders, to one queue or
// many, share one fsync. SendPending (sendpending.go) stops a send before
// that wait and hands it to the caller: a stream's reader enqueues and
// records one send after another and leaves the waits, in order, to a
// goroutine of its own, so that one client's batches in flight share an
// fsync too.
//
// A sent message is queued, and may be delivered, as soon as its record is
// buffered; its sender is answered only once the record is durable. If
// the store fails (a full disk), the send is refused and the messages
// nobody has taken yet are removed again; one already taken may be
// delivered although its sender was refused, which at-least-once delivery
// allows (the sender retries). Message ids are assigned before the record
// is written and recovered from it, so ids keep increasing across
// restarts. A queue made again numbers above the highest id a destroyed
// persistent queue gave (Broker.idFloor, which the store keeps across restarts:
// Store.IDFloor), so an ack a client kept from a queue's earlier life
// fails instead of deleting a message nobody received. On start the broker rebuilds its queues from the store:
// messages that had been delivered come back ready, ahead of the others,
// with their delivery counts kept.
//
// Payloads of durable queues past Options.CacheBytes stay on disk (cache.go):
// the broker keeps each message's header, correlation id and reply-to,
// and reads the payload back when it is taken, so a backlog larger than
// memory drains from disk behind an in-memory head.
//
// # Scale-out
//
// With Options.Engine (engine.go) the persistent queues live in a cluster
// instead (msw-switch --backend; docs/scale-out.md): such a queue is a
// Queue whose remote part (remote.go) records which of this process's
// sessions holds which fetched message; send, transfer, ack, release and
// the end of a session go to the engine, and transient queues stay here,
// exposed to the other gateways through it. A send to the engine is a
// PendingSend too (remotesend.go): its messages are on their way when
// SendPending returns and Wait waits for the cluster's answer, each
// session keeping its sends to one queue in order. Without an engine
// each hook is one nil check and nothing else changes.
//
// # Why a segment log
//
// The log store (broker/logstore) writes checksummed records to segment
// files with group commit and reclaims space by snapshot. The choice was
// measured against the best-kept embedded store among the candidates
// (bbolt, with its own group commit, DB.Batch): 1 KiB messages, every
// send synced before its answer, on the development machine's ext4 disk
// (shared, loaded: three runs, ranges):
//
//	the disk's own fsync (write + fsync)        1.0 - 1.5 ms
//	log,   1 producer                           1.6 - 5.2 ms a send
//	bbolt, 1 producer                            28 - 35  ms a send
//	log,   64 producers                       1,100 - 8,800 sends/s (12-17 per fsync)
//	bbolt, 64 producers                       1,300 - 1,900 sends/s
//
// The log's own benchmarks (broker/logstore/bench_test.go) measured, in
// a quieter moment: the disk's fsync 196 us; one producer's synced send
// 201 us (1.03 times the fsync); 64 producers 38,500 sends/s, 12.5 sends
// per fsync; replay of 100,000 records 144 ms.
//
// bbolt's Batch waits up to 10 ms to gather a batch, and each of its
// transactions rewrites B-tree pages and then its meta page, syncing
// both; a log appends each record once and syncs one file. Replay, compaction and the payload cache need only the
// record format, which also gives the corruption rules the issue asks for
// (a torn tail is cut, a bad record before acknowledged ones refuses to
// start) without depending on another store's recovery.
package broker
