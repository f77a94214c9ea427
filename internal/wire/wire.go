// Package wire is the one place where the switch's HTTP protocol is
// defined: paths, headers, JSON shapes, error codes and the binary message
// frame. The server and the client library both use it, and
// docs/protocol.md describes the same things for people writing clients in
// other languages.
package wire

import (
	"bytes"
	"strings"
	"time"
)

// API paths. Every state change is a POST, PUT or DELETE.
const (
	PathSession     = "/v1/session"           // POST login, DELETE logout
	PathKeepalive   = "/v1/session/keepalive" // POST
	PathQueues      = "/v1/queues"            // GET list
	PathQueuePrefix = "/v1/queues/"           // PUT create, DELETE destroy, GET info; {name}/messages: DELETE purge
	PathTransient   = "/v1/transient"         // POST create transient queue
	PathSubscribe   = "/v1/subscribe"         // POST
	PathUnsubscribe = "/v1/unsubscribe"       // POST
	PathTransfer    = "/v1/transfer"          // POST long-poll
	PathAck         = "/v1/ack"               // POST
	PathRelease     = "/v1/release"           // POST
	PathDiagnostics = "/v1/diagnostics"       // GET
	PathTrace       = "/v1/trace"             // GET long-poll
	PathShutdown    = "/v1/shutdown"          // POST
	PathHealth      = "/v1/health"            // GET
	PathHistory     = "/v1/history"           // GET depth and rate samples per queue
	PathMetrics     = "/metrics"              // GET, Prometheus text format

	// SuffixMessages follows a queue's path (PathQueuePrefix and its
	// path-escaped name) to name its messages: GET peeks, POST sends
	// (OpSend).
	SuffixMessages  = "/messages"
	PathTopicPrefix = "/v1/topics/"  // POST TOPIC/messages publishes
	PathBindings    = "/v1/bindings" // GET list; PUT, DELETE /v1/queues/Q/bindings/PATTERN
)

// Query parameters of the GET and DELETE endpoints (docs/protocol.md).
// A flag parameter is on when it is "1" or "true".
const (
	ParamAll         = "all"          // GET /v1/queues: dead queues too
	ParamPrefix      = "prefix"       // GET /v1/queues: names starting so
	ParamIfEmpty     = "if_empty"     // DELETE /v1/queues/{name}: only if empty
	ParamMax         = "max"          // peek, trace: most messages or events
	ParamMaxMessages = "max_messages" // diagnostics: most messages per queue
	ParamAfter       = "after"        // trace: events after this sequence number
	ParamTimeout     = "timeout_ms"   // trace: how long to wait for an event
	ParamStale       = "stale_ms"     // diagnostics: group by service, stuck after this long unpolled
)

// Headers.
const (
	HeaderSession       = "Msw-Session"
	HeaderCorrelationID = "Msw-Correlation-Id"
	HeaderReplyTo       = "Msw-Reply-To"
	HeaderStatus        = "Msw-Status"
	// ContentTypeFrames marks a body made of message frames (see frame.go).
	ContentTypeFrames = "application/x-msw-frames"
	ContentTypeJSON   = "application/json"
)

// Message is what a sender gives the switch.
type Message struct {
	Payload       []byte `json:"-"`
	CorrelationID string `json:"correlation_id,omitempty"`
	ReplyTo       string `json:"reply_to,omitempty"`
	// Status is 0 for an ordinary message. A non-zero status marks a
	// failure reply: msw-serve puts the failed program's exit status here
	// (1 when it has none) and its error text in the payload.
	Status uint8 `json:"status,omitempty"`
}

// CloneMessages copies ms, payloads and strings too, for keeping past the
// life of the buffers they were parsed from.
func CloneMessages(ms []Message) []Message {
	out := make([]Message, len(ms))
	for i := range ms {
		out[i] = ms[i]
		out[i].CorrelationID, out[i].ReplyTo = strings.Clone(ms[i].CorrelationID), strings.Clone(ms[i].ReplyTo)
		out[i].Payload = bytes.Clone(ms[i].Payload)
	}
	return out
}

// Delivery is a message as the switch hands it out: by transfer (in flight
// until acked) or by peek (left in place).
type Delivery struct {
	Queue         string
	ID            uint64
	DeliveryCount uint32 // 1 on first delivery; 0 for a peek of a message never delivered
	Origin        string // client id of the sending session
	EnqueuedAt    time.Time
	// Topic is the topic a published copy was published to; empty for
	// a message sent to the queue itself.
	Topic string
	Message
}

// Redelivered reports whether the message was handed out before.
func (d Delivery) Redelivered() bool { return d.DeliveryCount > 1 }

// LoginRequest is the body of POST /v1/session.
type LoginRequest struct {
	ClientID string `json:"client_id"`
}

// LoginResponse answers a login.
type LoginResponse struct {
	Session       string    `json:"session"`
	SwitchStarted time.Time `json:"switch_started"`
	GraceMillis   int64     `json:"grace_ms"`
	// MaxPayload is the switch's payload limit in bytes (absent from a
	// switch older than the field: DefaultMaxPayload).
	MaxPayload int `json:"max_payload,omitempty"`
}

// PurgeResponse answers DELETE /v1/queues/{name}/messages.
type PurgeResponse struct {
	Purged int `json:"purged"` // ready messages removed
}

// TransientRequest is the body of POST /v1/transient.
type TransientRequest struct {
	Name string `json:"name,omitempty"` // empty: the switch picks a fresh name
}

// TransientResponse names the transient queue created.
type TransientResponse struct {
	Name string `json:"name"`
}

// QueuesRequest names queues, for subscribe and unsubscribe.
type QueuesRequest struct {
	Queues []string `json:"queues"`
}

// Acks lists message ids by queue name; used by ack, release and the acks
// piggy-backed on a transfer.
type Acks map[string][]uint64

// AckRequest is the body of POST /v1/ack and POST /v1/release.
type AckRequest struct {
	Acks Acks `json:"acks"`
}

// TransferRequest is the body of POST /v1/transfer.
type TransferRequest struct {
	// Acks are applied before waiting for messages.
	Acks Acks `json:"acks,omitempty"`
	// Max is the largest number of messages to return; 0 means the
	// switch's default.
	Max int `json:"max,omitempty"`
	// TimeoutMillis is how long to wait for a first message; the switch
	// clamps it to its maximum. 0 returns at once.
	TimeoutMillis int64 `json:"timeout_ms"`
}

// SendResponse answers a send: the id of the first message and how many
// messages were enqueued (ids are consecutive).
type SendResponse struct {
	ID    uint64 `json:"id"`
	Count int    `json:"count"`
}

// JSONDelivery is the JSON form of a delivery, as the transfer and peek
// endpoints return it when frames are not asked for and as msw-recv --json
// prints it. Exactly one of Payload and PayloadBase64 is set: Payload when
// the bytes are valid UTF-8.
type JSONDelivery struct {
	Queue         string    `json:"queue,omitempty"`
	ID            uint64    `json:"id,omitempty"`
	CorrelationID string    `json:"correlation_id"`
	ReplyTo       string    `json:"reply_to,omitempty"`
	Status        uint8     `json:"status,omitempty"`
	Redelivered   bool      `json:"redelivered"`
	DeliveryCount uint32    `json:"delivery_count"`
	Origin        string    `json:"origin,omitempty"`
	EnqueuedAt    time.Time `json:"enqueued_at,omitzero"`
	Topic         string    `json:"topic,omitempty"`
	Payload       *string   `json:"payload,omitempty"`
	PayloadBase64 []byte    `json:"payload_base64,omitempty"`
}

// DeliveriesResponse is the JSON body of a transfer or peek answer.
type DeliveriesResponse struct {
	Messages []JSONDelivery `json:"messages"`
}

// Queue kinds, as QueueInfo.Kind names them.
const (
	KindPersistent = "persistent" // lives until destroyed
	KindTransient  = "transient"  // owned by a session, gone when it ends
)

// QueueInfo describes one queue in a listing.
type QueueInfo struct {
	Name          string    `json:"name"`
	Kind          string    `json:"kind"` // KindPersistent or KindTransient
	Owner         string    `json:"owner,omitempty"`
	Depth         int       `json:"depth"`     // ready messages
	InFlight      int       `json:"in_flight"` // delivered, not yet acked
	Subscribers   int       `json:"subscribers"`
	Alive         bool      `json:"alive"`
	Created       time.Time `json:"created"`
	OldestMessage time.Time `json:"oldest_message,omitzero"`
	LastTransfer  time.Time `json:"last_transfer,omitzero"`
	Bytes         int64     `json:"bytes"`
	// Durable: a persistent queue of a switch with --data, kept on disk.
	Durable bool `json:"durable,omitempty"`
	// The queue's policy, as in Policy (policy.go).
	MaxDepth      int    `json:"max_depth,omitempty"`
	MaxBytes      int64  `json:"max_bytes,omitempty"`
	Overflow      string `json:"overflow,omitempty"`
	TTL           string `json:"ttl,omitempty"`
	MaxDeliveries int    `json:"max_deliveries,omitempty"`
	DeadLetter    string `json:"dead_letter,omitempty"`
	// What the policy removed since the queue was made: messages that
	// expired, moved to the dead-letter queue, or were dropped by
	// drop-oldest.
	Expired      uint64 `json:"expired,omitempty"`
	DeadLettered uint64 `json:"dead_lettered,omitempty"`
	Dropped      uint64 `json:"dropped,omitempty"`
	// Bindings are the patterns the queue is bound to, sorted.
	Bindings []string `json:"bindings,omitempty"`
}

// Policy returns the policy fields of qi.
func (qi *QueueInfo) Policy() Policy {
	return Policy{MaxDepth: qi.MaxDepth, MaxBytes: qi.MaxBytes, Overflow: qi.Overflow, TTL: qi.TTL,
		MaxDeliveries: qi.MaxDeliveries, DeadLetter: qi.DeadLetter}
}

// QueuesResponse is the body of GET /v1/queues.
type QueuesResponse struct {
	Queues []QueueInfo `json:"queues"`
}

// MessageInfo describes a message in the diagnostics snapshot.
type MessageInfo struct {
	ID            uint64    `json:"id"`
	Origin        string    `json:"origin"`
	EnqueuedAt    time.Time `json:"enqueued_at"`
	CorrelationID string    `json:"correlation_id,omitempty"`
	ReplyTo       string    `json:"reply_to,omitempty"`
	Status        uint8     `json:"status,omitempty"`
	Topic         string    `json:"topic,omitempty"` // a published copy's topic
	Size          int       `json:"size"`
	Preview       string    `json:"preview"`
	InFlight      bool      `json:"in_flight"`
	DeliveryCount uint32    `json:"delivery_count"`
	Holder        string    `json:"holder,omitempty"` // client id holding it in flight
}

// QueueSnapshot is one queue in the diagnostics snapshot.
type QueueSnapshot struct {
	QueueInfo
	EverSubscribed bool          `json:"ever_subscribed"`
	Messages       []MessageInfo `json:"messages"`
	Truncated      bool          `json:"truncated,omitempty"` // more messages than listed
}

// SessionInfo describes a live session.
type SessionInfo struct {
	ID          string    `json:"id"` // the public session id, never its token
	ClientID    string    `json:"client_id"`
	Started     time.Time `json:"started"`
	Connections int       `json:"connections"`
	Subscribed  []string  `json:"subscribed,omitempty"`
	LastPoll    time.Time `json:"last_poll,omitzero"`
	// Gateway is the gateway holding the session, in a snapshot gathered
	// from a cluster's gateways (msw-switch --backend); empty otherwise.
	Gateway string `json:"gateway,omitempty"`
}

// Snapshot is the diagnostics view of the whole switch.
type Snapshot struct {
	Started  time.Time       `json:"started"`
	Now      time.Time       `json:"now"`
	Queues   []QueueSnapshot `json:"queues"`
	Sessions []SessionInfo   `json:"sessions"`
	// QueuesOmitted counts the queues past MaxSnapshotQueues left out
	// (those holding the fewest messages).
	QueuesOmitted int `json:"queues_omitted,omitempty"`
	// Services is the diagnosis of the snapshot (see Diagnose), present
	// when the request asked for it with stale_ms.
	Services *Services `json:"services,omitempty"`
	// Storage describes the log of a switch with --data; nil without.
	Storage *StorageInfo `json:"storage,omitempty"`
	// Cluster says which gateways a snapshot gathered from a cluster
	// covers (msw-switch --backend); nil for a switch on its own.
	Cluster *ClusterInfo `json:"cluster,omitempty"`
}

// ClusterInfo says which gateways of a cluster an answer gathered from
// them covers: the one asked gathers from all it knows, waiting a short
// while, and names those that did not answer.
type ClusterInfo struct {
	// Gateway is the gateway that was asked and gathered.
	Gateway string `json:"gateway"`
	// Answered lists the gateways whose part is in the answer, sorted.
	Answered []string `json:"answered"`
	// Missing lists the gateways known to the one asked that did not
	// answer in time, sorted: their sessions and held messages are not in
	// the answer.
	Missing []string `json:"missing,omitempty"`
}

// StorageInfo describes the log a durable switch keeps.
type StorageInfo struct {
	Fsync     string  `json:"fsync"`              // always, interval=D or never
	LogBytes  int64   `json:"log_bytes"`          // bytes of log files on disk
	LastFsync float64 `json:"last_fsync_seconds"` // how long the last fsync took
	DiskOnly  int     `json:"disk_only"`          // messages whose payload is on disk only
	Failed    string  `json:"failed,omitempty"`   // the write error the log is in, if any
}

// Error is the JSON body of every 4xx and 5xx answer.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"error"`
}

// Error codes carried in Error.Code.
const (
	CodeBadRequest     = "bad_request"
	CodeNoSuchEndpoint = "no_such_endpoint" // 404: no route for the path
	CodeBadQueueName   = "bad_queue_name"
	CodeNoSuchQueue    = "no_such_queue"
	CodeQueueExists    = "queue_exists" // exists with another kind
	CodeQueueNotEmpty  = "queue_not_empty"
	CodeNoSuchMessage  = "no_such_message"
	CodeInFlight       = "in_flight"
	CodeTooLarge       = "payload_too_large"
	CodeNoSession      = "no_session"      // the request needs Msw-Session
	CodeUnknownSession = "unknown_session" // ended, or the switch restarted
	CodeForbidden      = "forbidden"
	CodeShuttingDown   = "shutting_down"
	CodeInternal       = "internal"
	// CodeUnauthorized (401): the switch has a token and the request
	// did not carry it (see auth.go).
	CodeUnauthorized = "unauthorized"
	// CodeLimit (429): a switch-wide bound (connections, sessions,
	// queues, subscriptions, waiting transfers) is reached; the message
	// names it.
	CodeLimit = "limit_reached"
	// CodeMemoryFull (507): the switch holds as many bytes as
	// --max-memory allows; a send is refused until messages are taken.
	CodeMemoryFull   = "memory_full"
	CodeStorageFull  = "storage_full"  // 507: the switch's disk is full
	CodeStorageError = "storage_error" // 507: writing its log failed
	CodeBadTopic     = "bad_topic"     // 400: a topic or pattern breaks the rules
	CodeQueueFull    = "queue_full"    // 429: the queue's max-depth or max-bytes is reached
	// CodeAborted (409): a stream send that names an earlier send of
	// the stream as the one it follows (its argument) was not carried
	// out because that one failed.
	CodeAborted = "aborted"
)
