package wire

import "time"

// Trace event kinds.
const (
	EventSend         = "send"
	EventDeliver      = "deliver"
	EventAck          = "ack"
	EventRedeliver    = "redeliver" // returned to its queue for another delivery
	EventWithdraw     = "withdraw"
	EventExpire       = "expire"      // its queue's ttl passed before anyone took it
	EventDrop         = "drop"        // dropped by its queue's drop-oldest overflow
	EventDeadLetter   = "dead_letter" // moved to its queue's dead-letter queue
	EventQueueCreate  = "queue_create"
	EventQueueDestroy = "queue_destroy"
	EventSessionStart = "session_start"
	EventSessionEnd   = "session_end"
	EventPublish      = "publish" // Queue is the topic, Copies the queues that got one; a send per copy follows
)

// TraceEvent is one entry of the switch's trace ring.
type TraceEvent struct {
	Seq           uint64    `json:"seq"`
	Time          time.Time `json:"time"`
	Kind          string    `json:"kind"`
	Queue         string    `json:"queue,omitempty"`
	From          string    `json:"from,omitempty"` // client id acting (sender, acker)
	To            string    `json:"to,omitempty"`   // client id receiving (deliver)
	MessageID     uint64    `json:"message_id,omitempty"`
	CorrelationID string    `json:"correlation_id,omitempty"`
	ReplyTo       string    `json:"reply_to,omitempty"`
	Size          int       `json:"size,omitempty"`
	Preview       string    `json:"preview,omitempty"`
	// ProcessingMicros is set on the send of a reply: how long the request
	// it answers took, from its enqueue to this reply.
	ProcessingMicros int64 `json:"processing_us,omitempty"`
	// Reply marks a send that answers a request the sender held.
	Reply bool `json:"reply,omitempty"`
	// Copies is set on a publish: the queues that received a copy of
	// the message, each also traced as a send to that queue.
	Copies int `json:"copies,omitempty"`
	// Gateway is the gateway where the event happened, in a trace
	// gathered from a cluster's gateways (msw-switch --backend).
	Gateway string `json:"gateway,omitempty"`
}

// TraceResponse is the body of GET /v1/trace.
type TraceResponse struct {
	Events []TraceEvent `json:"events"`
	// Next is the sequence number to ask for next (after=Next).
	Next uint64 `json:"next"`
	// Lost counts events that fell out of the ring before they were read.
	Lost uint64 `json:"lost,omitempty"`
}
