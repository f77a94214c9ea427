package natsbackend

// DirectIDBit marks the ids of messages handed directly, for the tests.
const DirectIDBit = directIDBit

// WaitingDirect is how many transfers of queue wait for a direct offer.
func (e *Engine) WaitingDirect(queue string) int {
	e.direct.mu.Lock()
	defer e.direct.mu.Unlock()
	if dq := e.direct.queues[queue]; dq != nil {
		return len(dq.waiters)
	}
	return 0
}

// StreamOf is the stream of queue, and QueueSubject the subject its
// messages travel on, for the tests that make a queue's stream by hand.
func StreamOf(queue string) (string, error) { return streamOf(queue) }

// QueueSubject is the subject of queue's messages.
func QueueSubject(queue string) string { return queueSubject + escape(queue) }

// Gateways are the ids of the gateways c knows alive.
func (c *Cluster) Gateways() []string { return c.gateways() }

// Forget makes c forget gateway id, as a gathering it answered too late
// does.
func (c *Cluster) Forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.known, id)
}
