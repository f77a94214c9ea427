// Package lib is the thin client library of msw: one method per operation
// of the switch's HTTP protocol (docs/protocol.md), used by every msw
// command and importable by Go programs.
//
// Once logged in, a client carries its sends, transfers, acks, releases
// and withdrawals on one persistent connection (the protocol's stream),
// many at a time, and its RPC loops have requests and replies pushed to
// them; everything else, and everything against a switch without the
// stream, goes as plain HTTP requests.
//
// A Client logs in on first need, keeps its session alive while it runs
// and, if the switch restarts, logs in again and restores what it had set
// up (queues it created, its transient queues, its subscriptions).
// Messages taken with Transfer are held until acked; a client that dies
// holding them loses nothing: the switch gives them to the next receiver.
//
// Message ids are only good for the life of the switch that gave them
// out: a restarted switch in memory numbers messages from 1 again (one
// with --data goes on above its ids, and a queue made after a persistent
// queue was destroyed numbers above that queue's ids). The client never
// replays a request naming messages to a switch that restarted (Ack,
// Release and Withdraw fail with ErrSwitchRestarted; Transfer drops its
// Acks), nor sends an Ack or Release of messages it took to another
// switch life than the one they came from, even when it logged in there
// for another request first. Still, a caller holding ids should drop
// them once Epoch changes: the client remembers only the life of the
// last Transfer that took messages of a queue.
//
// # Delivery
//
// Sends are at least once. A send whose connection broke after it left
// and before its answer came (the switch was killed or restarted, say)
// is sent again, and if the switch had enqueued it before it broke, the
// message is there twice. Call sends its request again whenever the
// session changed while it waited (the restarted switch lost it), so a
// server may see a request twice; Call returns the first reply and drops
// any other reply with the same correlation id. A receiver that must not
// act twice on one message keys its work on something in the message.
package lib

// Locks (for those working on the library; kept out of its
// documentation, since none of these types is exported).
//
// Lock order, outermost first (a lock is only ever taken while holding
// locks above it):
//
//	serveLoop.quietMu held (read) while a quiet reply is handed to the stream, logging in if need be
//	Client.consMu     the consumer; held while it logs in and opens the stream
//	caller.setupMu    the reply queue's setup; held across requests of the caller's child client
//	Client.loginMu    one login at a time; held across the login's HTTP requests
//	Client.streamMu   the session's stream; held while it dials and upgrades
//	streamConn.mu     a stream's requests waiting for answers
//	Client.mu         session, epoch, restore list, caller, closed
//	streamConn.wmu, sendLines.mu, caller.mu, serveLoop.mu, pushQueue.mu, asyncSends.mu  (leaves)
//
// No lock is held while a request waits for its answer, except the three
// marked "held across" above, which serialise their own requests. The
// stream's reader takes streamConn.mu only to find the request an answer
// is for, and hands the answer on after releasing it.
