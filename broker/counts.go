package broker

// QueueCounts are one queue's figures at one moment, as the switch's
// history sampler reads them.
type QueueCounts struct {
	Name      string
	Transient bool
	Depth     int    // ready messages
	InFlight  int    // delivered, not yet acked
	Sent      uint64 // messages enqueued since the queue was made
	Acked     uint64 // messages acked since the queue was made
}

// Counts calls fn with the counts of every queue, in name order. Each
// queue's lock is held only while its figures are read, never while fn
// runs.
func (b *Broker) Counts(fn func(QueueCounts)) {
	for _, q := range b.queueList("") {
		q.mu.Lock()
		c := QueueCounts{Name: q.name, Transient: q.transient, Depth: q.ready(), InFlight: q.inflight.len(), Sent: q.sent, Acked: q.acked}
		q.mu.Unlock()
		fn(c)
	}
}
