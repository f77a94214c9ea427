// Package lib is the thin client library of msw: one method per operation
// of the switch's HTTP protocol (docs/protocol.md), used by every msw
// command and importable by Go programs.
//
// A Client logs in on first need, keeps its session alive while it runs
// and, if the switch restarts, logs in again and restores what it had set
// up (queues it created, its transient queues, its subscriptions).
// Messages taken with Transfer are held until acked; a client that dies
// holding them loses nothing: the switch gives them to the next receiver.
package lib
