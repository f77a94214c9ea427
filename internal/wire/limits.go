package wire

// Limits every party to the protocol agrees on.
const (
	// MaxFieldLen bounds correlation ids and client ids, in bytes.
	MaxFieldLen = 1024
	// MaxFrameFieldLen bounds a string field of a message frame (queue,
	// correlation id, reply-to, origin), in bytes.
	MaxFrameFieldLen = 4096
	// PreviewLen is how many payload bytes a trace event or a diagnostics
	// snapshot shows of a message.
	PreviewLen = 64
	// DefaultMaxPayload is the switch's payload limit, in bytes, unless
	// it is started with another (msw-switch --max-payload).
	DefaultMaxPayload = 16 << 20
	// MaxJSONBody bounds the JSON body of a control request (ack lists,
	// queue lists, a transfer's request), in bytes.
	MaxJSONBody = 16 << 20
	// MaxConsumeWindow is the largest window a stream consume takes.
	MaxConsumeWindow = 1 << 16
	// DefaultPeek and MaxPeek are how many messages a peek returns
	// without a max parameter, and at most.
	DefaultPeek, MaxPeek = 100, 10000
	// DefaultSnapshotMessages is how many messages of each queue the
	// diagnostics snapshot lists without a max_messages parameter.
	DefaultSnapshotMessages = 100
	// MaxSnapshotMessages is the most messages of each queue a snapshot
	// lists, whatever max_messages asks, and MaxSnapshotQueues the most
	// queues it lists (the busiest first): an answer that lists things
	// stays bounded however much the switch holds.
	MaxSnapshotMessages, MaxSnapshotQueues = 1000, 1000
	// MaxSendMessages is the most messages one send request (an HTTP
	// frames body or a stream send) may carry: decoding a body of many
	// tiny messages costs memory per message, not per byte.
	MaxSendMessages = 1 << 16
	// MessageOverhead is what the switch charges against its memory
	// bound for each message it holds, on top of the message's bytes.
	MessageOverhead = 128
)

// MaxRequestLen is the largest frames body of a send and the largest
// stream request frame a switch whose payload limit is maxPayload
// takes: 64 MiB, or the payload limit and 1 MiB for the rest of a frame
// if that is more.
func MaxRequestLen(maxPayload int) int {
	return max(64<<20, maxPayload+1<<20)
}
