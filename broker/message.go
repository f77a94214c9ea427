package broker

import (
	"time"
	"unsafe"

	"msw/internal/wire"
)

// message is a queued message. Correlation id, reply-to and payload share
// one allocation: data = corr | replyTo | payload.
type message struct {
	id         uint64
	enqueued   int64 // Unix nanoseconds
	data       []byte
	origin     *Session
	corrLen    uint16
	replyLen   uint8 // queue names are at most MaxNameLen (200) bytes
	status     uint8
	deliveries uint32
}

func newMessage(m *wire.Message) message {
	n := len(m.CorrelationID) + len(m.ReplyTo)
	data := make([]byte, n+len(m.Payload))
	copy(data, m.CorrelationID)
	copy(data[len(m.CorrelationID):], m.ReplyTo)
	copy(data[n:], m.Payload)
	return message{
		data:     data,
		corrLen:  uint16(len(m.CorrelationID)),
		replyLen: uint8(len(m.ReplyTo)),
		status:   m.Status,
	}
}

// corr and replyTo return strings that alias the stored bytes, which are
// never written after enqueue: delivering a message, and matching a reply
// to its request, then allocate nothing (an RPC made four allocations per
// call here). A string kept longer than the message (the trace ring) must
// be copied, or the whole message stays alive with it.
func (m *message) corr() string {
	return unsafe.String(unsafe.SliceData(m.data), int(m.corrLen))
}

func (m *message) replyTo() string {
	if m.replyLen == 0 {
		return ""
	}
	return unsafe.String(&m.data[m.corrLen], int(m.replyLen))
}

func (m *message) payload() []byte {
	n := int(m.corrLen) + int(m.replyLen)
	return m.data[n:len(m.data):len(m.data)]
}

func (m *message) originID() string {
	if m.origin == nil {
		return ""
	}
	return m.origin.clientID
}

// delivery renders m as handed out from queue q. The payload aliases the
// stored bytes, which are never written after enqueue.
func (m *message) delivery(q string) wire.Delivery {
	return wire.Delivery{
		Queue:         q,
		ID:            m.id,
		DeliveryCount: m.deliveries,
		Origin:        m.originID(),
		EnqueuedAt:    time.Unix(0, m.enqueued),
		Message: wire.Message{
			Payload:       m.payload(),
			CorrelationID: m.corr(),
			ReplyTo:       m.replyTo(),
			Status:        m.status,
		},
	}
}
