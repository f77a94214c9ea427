package wire

// HistorySample is one queue's figures at one sampling instant.
type HistorySample struct {
	// TimeMillis is when the sample was taken, in milliseconds since the
	// Unix epoch.
	TimeMillis int64 `json:"t"`
	Depth      int   `json:"depth"`     // ready messages
	InFlight   int   `json:"in_flight"` // delivered, not yet acked
	// Sent and Acked count the messages sent to and acked from the queue
	// during the interval that ends with this sample.
	Sent  uint64 `json:"sent"`
	Acked uint64 `json:"acked"`
}

// QueueHistory is the recent samples of one queue, oldest first. Every
// transient queue is summed into one history named HistoryTransient.
type QueueHistory struct {
	Queue   string          `json:"queue"`
	Kind    string          `json:"kind"` // "persistent" or "transient"
	Samples []HistorySample `json:"samples"`
}

// HistoryTransient is the queue name under which the history of every
// transient queue is summed (and the metrics' queue label for them):
// reply queues come and go with each caller.
const HistoryTransient = "(transient)"

// HistoryResponse is the body of GET /v1/history: the switch samples
// every queue at a fixed interval and keeps the last few minutes of
// samples, for a bounded number of queues.
type HistoryResponse struct {
	// IntervalMillis is the time between samples.
	IntervalMillis int64 `json:"interval_ms"`
	// Keep is how many samples the switch keeps per queue: a full history
	// spans Keep × IntervalMillis.
	Keep int `json:"keep"`
	// Queues lists the sampled queues by name.
	Queues []QueueHistory `json:"queues"`
	// Untracked counts queues not sampled because the switch already
	// samples as many as it keeps.
	Untracked int `json:"untracked,omitempty"`
}
