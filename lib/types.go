package lib

import (
	"time"

	"msw/internal/wire"
)

// The types a user of the library handles. They mirror the protocol's
// shapes in internal/wire field for field, so that converting between the
// two is a type conversion the compiler checks (a field added on one side
// only fails to build) and costs nothing on the hot path. Delivery, which
// embeds Message, is parsed into through a pointer conversion instead
// (asWire), which TestDeliveryLayoutIsTheWire holds to the layout.

// Message is what a sender gives the switch.
type Message struct {
	// Payload is the message's body: any bytes, passed through unchanged.
	Payload []byte
	// CorrelationID ties a reply to its request; the switch only carries it.
	CorrelationID string
	// ReplyTo names the queue a reply should go to; empty for none.
	ReplyTo string
	// Status is 0 for an ordinary message. A non-zero status marks a
	// failure reply: msw-serve puts the failed program's exit status here
	// (1 when it has none) and its error text in the payload.
	Status uint8
}

// wireMessage is m as the wire package frames it.
func (m *Message) wireMessage() *wire.Message { return (*wire.Message)(m) }

// Delivery is a message as the switch hands it out: by Transfer (held by
// the client, in flight, until acked or released) or by Peek (left in
// place).
type Delivery struct {
	// Queue is the queue the message was taken from.
	Queue string
	// ID names the message in its queue, for Ack, Release and Withdraw.
	// Ids are only good for the life of the switch that gave them out.
	ID uint64
	// DeliveryCount is 1 on first delivery, more on redelivery, and 0
	// for a peek of a message never delivered.
	DeliveryCount uint32
	// Origin is the client id of the session that sent the message.
	Origin string
	// EnqueuedAt is when the switch took the message in.
	EnqueuedAt time.Time
	// Topic is the topic the message was published to, for a copy that
	// reached the queue through a binding; empty for a message sent to
	// the queue itself.
	Topic string
	// Message is what the sender sent.
	Message
}

// Redelivered reports whether the message was handed out before.
func (d Delivery) Redelivered() bool { return d.DeliveryCount > 1 }

// Acks lists message ids by queue name: the messages an Ack, a Release or
// a Transfer's acks apply to. Ids that follow one another go to the
// switch as one run, so acking a batch in the order it was taken costs a
// few bytes however large it is.
type Acks map[string][]uint64

// QueueInfo describes a queue, as List and Info return it (and msw-ls
// --json prints it).
type QueueInfo struct {
	// Name is the queue's name.
	Name string `json:"name"`
	// Kind is "persistent" or "transient".
	Kind string `json:"kind"`
	// Owner is the client id of a transient queue's session.
	Owner string `json:"owner,omitempty"`
	// Depth counts the ready messages.
	Depth int `json:"depth"`
	// InFlight counts the messages delivered and not yet acked.
	InFlight int `json:"in_flight"`
	// Subscribers counts the sessions that take from the queue.
	Subscribers int `json:"subscribers"`
	// Alive reports that someone subscribes to the queue or polled it
	// recently.
	Alive bool `json:"alive"`
	// Created is when the queue was created.
	Created time.Time `json:"created"`
	// OldestMessage is the enqueue time of the oldest ready message.
	OldestMessage time.Time `json:"oldest_message,omitzero"`
	// LastTransfer is when a receiver last took from the queue.
	LastTransfer time.Time `json:"last_transfer,omitzero"`
	// Bytes is the size of the messages the queue holds.
	Bytes int64 `json:"bytes"`
	// Durable reports a persistent queue of a switch with --data, kept
	// on disk.
	Durable bool `json:"durable,omitempty"`
	// The queue's policy, as in Policy; TTL is a duration such as "30s".
	MaxDepth      int    `json:"max_depth,omitempty"`
	MaxBytes      int64  `json:"max_bytes,omitempty"`
	Overflow      string `json:"overflow,omitempty"`
	TTL           string `json:"ttl,omitempty"`
	MaxDeliveries int    `json:"max_deliveries,omitempty"`
	DeadLetter    string `json:"dead_letter,omitempty"`
	// Expired, DeadLettered and Dropped count the messages the policy
	// removed since the queue was made: past their TTL, moved to the
	// dead-letter queue, dropped by drop-oldest.
	Expired      uint64 `json:"expired,omitempty"`
	DeadLettered uint64 `json:"dead_lettered,omitempty"`
	Dropped      uint64 `json:"dropped,omitempty"`
	// Bindings are the patterns the queue is bound to, sorted.
	Bindings []string `json:"bindings,omitempty"`
}

// Snapshot is the switch's diagnostics view, as Diagnostics returns it.
type Snapshot struct {
	// Started is when the switch started; Now when the snapshot was taken.
	Started time.Time `json:"started"`
	Now     time.Time `json:"now"`
	// Queues describes every queue, with some of its messages.
	Queues []QueueSnapshot `json:"queues"`
	// Sessions describes every live session.
	Sessions []SessionInfo `json:"sessions"`
	// Storage describes the log of a switch with --data; nil without.
	Storage *StorageInfo `json:"storage,omitempty"`
	// Cluster says which gateways the snapshot covers, when the switch
	// is one of a cluster's gateways (msw-switch --backend); nil
	// otherwise.
	Cluster *ClusterInfo `json:"cluster,omitempty"`
}

// ClusterInfo says which gateways of a cluster a snapshot covers.
type ClusterInfo struct {
	Gateway  string   `json:"gateway"`           // the gateway asked, which gathered
	Answered []string `json:"answered"`          // gateways whose part is in, sorted
	Missing  []string `json:"missing,omitempty"` // known gateways that did not answer in time
}

// StorageInfo describes the log a durable switch keeps.
type StorageInfo struct {
	// Fsync is the switch's --fsync mode: always, interval=D or never.
	Fsync string `json:"fsync"`
	// LogBytes is the size of the log's files on disk.
	LogBytes int64 `json:"log_bytes"`
	// LastFsync is how long the last fsync took, in seconds.
	LastFsync float64 `json:"last_fsync_seconds"`
	// DiskOnly counts the messages whose payload is on disk only.
	DiskOnly int `json:"disk_only"`
	// Failed is the write error the log is in, if any: sends are refused
	// until writing works again.
	Failed string `json:"failed,omitempty"`
}

// QueueSnapshot is one queue in the diagnostics snapshot.
type QueueSnapshot struct {
	QueueInfo
	// EverSubscribed reports that a session has subscribed to the queue
	// at some time.
	EverSubscribed bool `json:"ever_subscribed"`
	// Messages lists the queue's messages, up to the number asked for.
	Messages []MessageInfo `json:"messages"`
	// Truncated reports that the queue holds more messages than listed.
	Truncated bool `json:"truncated,omitempty"`
}

// MessageInfo describes a message in the diagnostics snapshot.
type MessageInfo struct {
	ID            uint64    `json:"id"`                       // in its queue
	Origin        string    `json:"origin"`                   // client id of the sender
	EnqueuedAt    time.Time `json:"enqueued_at"`              // when it was sent
	CorrelationID string    `json:"correlation_id,omitempty"` // as sent
	ReplyTo       string    `json:"reply_to,omitempty"`       // as sent
	Status        uint8     `json:"status,omitempty"`         // as sent; non-zero: a failure reply
	Topic         string    `json:"topic,omitempty"`          // what a published copy was published to
	Size          int       `json:"size"`                     // of the payload, in bytes
	// Preview is the start of the payload, made printable.
	Preview       string `json:"preview"`
	InFlight      bool   `json:"in_flight"`      // delivered and not yet acked
	DeliveryCount uint32 `json:"delivery_count"` // how often it was delivered
	// Holder is the client id holding the message in flight.
	Holder string `json:"holder,omitempty"`
}

// SessionInfo describes a live session in the diagnostics snapshot.
type SessionInfo struct {
	ID          string    `json:"id"`                   // the session token
	ClientID    string    `json:"client_id"`            // the name the client logged in with
	Started     time.Time `json:"started"`              // when it logged in
	Connections int       `json:"connections"`          // open connections carrying it
	Subscribed  []string  `json:"subscribed,omitempty"` // queues its transfers take from
	LastPoll    time.Time `json:"last_poll,omitzero"`   // its last transfer; zero if none
	// Gateway is the gateway holding the session, when the switch is one
	// of a cluster's gateways (msw-switch --backend).
	Gateway string `json:"gateway,omitempty"`
}

// snapshotOf converts the switch's snapshot.
func snapshotOf(w *wire.Snapshot) *Snapshot {
	s := &Snapshot{Started: w.Started, Now: w.Now,
		Queues: make([]QueueSnapshot, len(w.Queues)), Sessions: make([]SessionInfo, len(w.Sessions))}
	for i := range w.Queues {
		q := &w.Queues[i]
		ms := make([]MessageInfo, len(q.Messages))
		for j := range q.Messages {
			ms[j] = MessageInfo(q.Messages[j])
		}
		s.Queues[i] = QueueSnapshot{QueueInfo: QueueInfo(q.QueueInfo), EverSubscribed: q.EverSubscribed,
			Messages: ms, Truncated: q.Truncated}
	}
	for i := range w.Sessions {
		s.Sessions[i] = SessionInfo(w.Sessions[i])
	}
	if w.Storage != nil {
		st := StorageInfo(*w.Storage)
		s.Storage = &st
	}
	if w.Cluster != nil {
		ci := ClusterInfo(*w.Cluster)
		s.Cluster = &ci
	}
	return s
}

// TraceEvent is one entry of the switch's trace: something that happened
// to a message, a queue or a session. Kind says which (the wire's Event
// names: "send", "deliver", "ack", ...).
type TraceEvent struct {
	Seq           uint64    `json:"seq"`                      // its place in the trace, increasing
	Time          time.Time `json:"time"`                     // when it happened
	Kind          string    `json:"kind"`                     // what happened
	Queue         string    `json:"queue,omitempty"`          // the queue it happened in
	From          string    `json:"from,omitempty"`           // client id acting (sender, acker)
	To            string    `json:"to,omitempty"`             // client id receiving (deliver)
	MessageID     uint64    `json:"message_id,omitempty"`     // the message's id in its queue
	CorrelationID string    `json:"correlation_id,omitempty"` // the message's
	ReplyTo       string    `json:"reply_to,omitempty"`       // the message's
	Size          int       `json:"size,omitempty"`           // of the message's payload
	Preview       string    `json:"preview,omitempty"`        // the start of the payload, made printable
	// ProcessingMicros is set on the send of a reply: how long the request
	// it answers took, from its enqueue to this reply.
	ProcessingMicros int64 `json:"processing_us,omitempty"`
	// Reply marks a send that answers a request the sender held.
	Reply bool `json:"reply,omitempty"`
	// Copies is set on a publish: the queues that received a copy of
	// the message, each also traced as a send to that queue.
	Copies int `json:"copies,omitempty"`
	// Gateway is the gateway where the event happened, when the switch
	// is one of a cluster's gateways (msw-switch --backend).
	Gateway string `json:"gateway,omitempty"`
}

// TraceResponse is a page of trace events, as Trace returns it.
type TraceResponse struct {
	// Events are the events after the one asked from, oldest first.
	Events []TraceEvent `json:"events"`
	// Next is the sequence number to ask for next (Trace's after).
	Next uint64 `json:"next"`
	// Lost counts events that fell out of the switch's ring before they
	// were read.
	Lost uint64 `json:"lost,omitempty"`
}

// traceOf converts a page of the switch's trace.
func traceOf(w *wire.TraceResponse) *TraceResponse {
	t := &TraceResponse{Events: make([]TraceEvent, len(w.Events)), Next: w.Next, Lost: w.Lost}
	for i := range w.Events {
		t.Events[i] = TraceEvent(w.Events[i])
	}
	return t
}
