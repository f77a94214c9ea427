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
// out: a restarted switch numbers messages from 1 again. The client never
// replays a request naming messages to a switch that restarted (Ack,
// Release and Withdraw fail with ErrSwitchRestarted; Transfer drops its
// Acks), and a caller holding ids should drop them once Epoch changes.
package lib
