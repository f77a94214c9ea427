// Package server puts a broker on HTTP: the routes of docs/protocol.md,
// the binding of connections to sessions, the browser guard, and the
// stream (stream.go, consume.go): a session's hot path as binary frames
// on one upgraded connection.
//
// # Operations
//
// The hot-path operations (send, transfer, ack, release, withdraw,
// keepalive) are the rows of wire.HotOps. Each has one function in ops.go
// that reads its request, asks the broker and answers, through a call
// that is either an HTTP exchange or a stream request; routes (handlers.go)
// registers every row's HTTP pattern and streamOps (stream.go) every
// row's stream op, both to that function. The other routes (login,
// queues, diagnostics, trace, shutdown) are HTTP only and have a handler
// each in handlers.go; the stream-only ops (cancel, consume, reply) have
// theirs in stream.go and consume.go.
//
// # Locking
//
// Six mutexes. None is held while another of them is taken: each is a
// leaf among the server's locks. Only connInfo.mu is held across a call
// into the broker, so the order is connInfo.mu before the broker's locks
// (broker/doc.go), and every other server lock is let go before the
// broker is called.
//
//	Server.streamsMu  the set of open streams and whether Shutdown has
//	                  closed it (track, untrack, closeStreams). Leaf:
//	                  closeStreams copies the set and lets go before it
//	                  touches a connection.
//	connInfo.mu       the sessions one HTTP connection has carried (bind,
//	                  connState). bind calls Session.AddConn under it, so
//	                  it is outside the broker's Session.mu; connState
//	                  lets go before it calls DropConn.
//	stream.mu         a stream's waiting transfers and consumers by
//	                  request id, and its list of consumers (replaced,
//	                  never changed in place, so settled reads a copy
//	                  taken under the lock). Leaf.
//	consumer.mu       the messages a consumer pushed and the client has
//	                  not yet acked or released. Leaf: the wake-up that
//	                  room was made is sent, without blocking, after it
//	                  is let go, and a closing consumer releases what it
//	                  pushed only after it let go.
//	sendPipe.mu       a stream's failed sends, by request id, for the
//	                  sends that follow them (streamsend.go). Leaf.
//	stream.wmu        a stream's buffered writer, its scratch head, its
//	                  first write error and what a write that must not
//	                  wait left (deadlineWriter.backlog). Another stream's
//	                  reader only ever TryLocks it (push.go). Leaf, and
//	                  the one lock held while blocking: an answer or a
//	                  flush writes to the connection under it, which is
//	                  what keeps answers whole and in order. Nothing else is ever taken
//	                  under it, and no other lock is held while taking it.
//
// No lock is held while a transfer or a consume waits in the broker, nor
// while the stream's reader waits for a frame. A stream's goroutines are
// its reader (which handles requests in order, inline, and pushes to any
// stream's consumers the messages its sends made ready: push.go), its
// committer (which answers, in order, the sends and replies waiting for
// the store or for the cluster while the reader reads on; any other
// request waits for those before it), and one
// per waiting transfer or consumer (a pushing consumer's only waits to
// finish it); a cancel request stops its one and waits
// for it to leave the broker before the reader reads on, and close
// cancels them all and waits for all before the connection closes. Shutdown ends every stream's reader and
// returns once all have closed.
package server
