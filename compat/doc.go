// Package compat serves the protocol of the original message-switch (the
// OCaml broker of the XenServer/XCP-ng toolstack) beside msw's own, so
// that xapi, its daemons and message-cli work against msw unchanged:
// msw-switch --compat unix:/var/run/message-switch/sock.
//
// It holds no queues of its own. Every request maps onto msw's core, the
// broker that msw's own HTTP server also serves, so both protocols reach
// the same queues, sessions, limits and trace, and msw-ls, msw-diag,
// msw-tail and /metrics show compat clients like any other:
//
//   - GET /login/<token> binds the connection to the broker session of
//     that token (one session per token, however many connections log in
//     with it); when its last connection closes, the session ends after
//     the grace period and the transient queues it owns go (sessions.go).
//   - /persistent, /transient and /destroy are the broker's create and
//     destroy; creating a name that exists is no error, as in the
//     original.
//   - /request and /response are sends. The original's Request and
//     Response kinds map onto msw's reply-to and correlation id, so a
//     request from an original client is served by msw-serve and msw-call
//     is served by an original-style service (kind.go).
//   - POST /transfer is a cursor read (broker.ReadCursor): every unacked
//     message above the cursor, ready or held by an msw consumer, taken
//     from nobody; it waits for a send, never under a shared lock, and
//     ends at once when its client goes. /ack deletes a message whoever
//     holds it. Message ids are the broker's per-queue ids plus the
//     queue's epoch (its creation time in nanoseconds), so they keep
//     increasing across a destroy and re-create and across restarts.
//   - GET / (diagnostics), /list and /trace read the broker's listing,
//     contents and trace ring.
//
// The listener has no read, write or idle timeout and never closes a
// connection under an idle client, routes on the raw path (each segment
// percent-decoded exactly once), and writes its replies with a small
// encoder of its own (json.go), byte for byte what the original's strict
// clients accept. docs/compat.md says the same for operators.
package compat
