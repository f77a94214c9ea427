package broker

import (
	"encoding/binary"
	"slices"
	"time"
	"unsafe"

	"msw/internal/wire"
)

// message is a queued message: 32 bytes in its queue's slot, and one
// allocation, its record, holding everything fixed when it was sent:
//
//	enqueued (8 bytes) | corrLen (2) | replyLen (1) | status (1) | [topicLen (1) | topic] | corr | replyTo | payload
//
// The header rides in the payload's allocation, where the allocator's
// rounding up to a size class mostly has room for it (a 100-byte payload
// and its header fill the 112-byte class a payload alone takes). What
// changes after the send (the id its queue gives it, its delivery count,
// its origin when dead-lettered) stays in the slot. Records are never
// written after they are made: a publish's copies share one, so the
// topic it was published to is kept there once (topicFlag set in
// corrLen; a correlation id is at most MaxFieldLen bytes, so its top
// bit is free), and a delivery's payload, correlation id and reply-to
// alias it. A change of a fixed field makes a new record (withEnqueued).
type message struct {
	id         uint64
	rec        *byte // the record, recHeader+n bytes
	origin     *Session
	n          uint32 // bytes after the header: topic, corr, replyTo and payload
	deliveries uint32
}

// recHeader is the size of a record's header.
const recHeader = 12

// topicFlag, set in the header's corrLen, says the body starts with a
// topic.
const topicFlag = 1 << 15

// diskFlag, set in the header's corrLen, says the payload is on disk
// only (the payload cache, cache.go): the body ends with the payload's
// length, diskLenSize bytes, in its place. A correlation id is at most
// MaxFieldLen bytes, so this bit is free as well.
const diskFlag = 1 << 14

// diskLenSize is the size of the payload length that stands in for the
// payload of a message on disk only.
const diskLenSize = 4

// maxRecordBody bounds corr+replyTo+payload of one message: n is 32 bits,
// and a topic may come with them.
const maxRecordBody = 1<<32 - 1 - (1 + MaxNameLen)

// newMessage makes the stored form of m, published to topic (empty for
// a send), enqueued at the given time.
func newMessage(m *wire.Message, topic string, enqueued int64) message {
	rec, n := newRecord(enqueued, topic, m.CorrelationID, m.ReplyTo, m.Status, m.Payload)
	return message{rec: rec, n: n}
}

// newRecord makes a record. corr fits 15 bits, replyTo and topic 8
// (names are at most MaxNameLen, 200, bytes): the callers checked.
func newRecord(enqueued int64, topic, corr, replyTo string, status uint8, payload []byte) (*byte, uint32) {
	t := 0
	if topic != "" {
		t = 1 + len(topic)
	}
	n := t + len(corr) + len(replyTo) + len(payload)
	b := make([]byte, recHeader+n)
	binary.LittleEndian.PutUint64(b, uint64(enqueued))
	corrLen := uint16(len(corr))
	if t > 0 {
		corrLen |= topicFlag
		b[recHeader] = uint8(len(topic))
		copy(b[recHeader+1:], topic)
	}
	binary.LittleEndian.PutUint16(b[8:], corrLen)
	b[10] = uint8(len(replyTo))
	b[11] = status
	i := recHeader + t + copy(b[recHeader+t:], corr)
	i += copy(b[i:], replyTo)
	copy(b[i:], payload)
	return &b[0], uint32(n)
}

// record returns the whole record.
func (m *message) record() []byte { return unsafe.Slice(m.rec, recHeader+int(m.n)) }

// body returns topic (if any), corr, replyTo and payload, one after the
// other.
func (m *message) body() []byte { return m.record()[recHeader:] }

// fields returns corr, replyTo and payload, one after the other.
func (m *message) fields() []byte { return m.body()[m.topicEnd():] }

// size is the bytes the message's body holds in memory: what a queue
// counts for it, unless its payload is on disk only (Queue.sizeLocked,
// heldSize).
func (m *message) size() int { return int(m.n) }

func (m *message) enqueued() int64 { return int64(binary.LittleEndian.Uint64(m.record())) }

func (m *message) corrLen() int {
	return int(binary.LittleEndian.Uint16(m.record()[8:]) &^ (topicFlag | diskFlag))
}

// onDisk reports whether m's payload is on disk only: its record holds
// the payload's length instead (withPayloadOnDisk).
func (m *message) onDisk() bool {
	return binary.LittleEndian.Uint16(m.record()[8:])&diskFlag != 0
}

// diskLen is the length of the payload of a message on disk only.
func (m *message) diskLen() int {
	r := m.record()
	return int(binary.LittleEndian.Uint32(r[len(r)-diskLenSize:]))
}

// heldSize is the bytes m's record holds beside the header, less the
// length standing in for a payload on disk only: what the payload cache
// and MaxMemory count for it.
func (m *message) heldSize() int {
	if m.onDisk() {
		return int(m.n) - diskLenSize
	}
	return int(m.n)
}

func (m *message) replyLen() int { return int(m.record()[10]) }

func (m *message) status() uint8 { return m.record()[11] }

// topicEnd is where the topic ends in the body: 0 for a message not
// published.
func (m *message) topicEnd() int {
	r := m.record()
	if binary.LittleEndian.Uint16(r[8:])&topicFlag == 0 {
		return 0
	}
	return 1 + int(r[recHeader])
}

// withPayload returns m with a record holding its fixed fields and
// payload p in place of the payload it has (for the payload cache).
func (m *message) withPayload(p []byte) message {
	c := *m
	c.rec, c.n = newRecord(m.enqueued(), m.topic(), m.corr(), m.replyTo(), m.status(), p)
	return c
}

// withPayloadOnDisk returns m with a record holding its fixed fields and,
// in place of its payload, the payload's length n: its payload is then on
// disk only (for the payload cache).
func (m *message) withPayloadOnDisk(n uint32) message {
	var l [diskLenSize]byte
	binary.LittleEndian.PutUint32(l[:], n)
	c := *m
	c.rec, c.n = newRecord(m.enqueued(), m.topic(), m.corr(), m.replyTo(), m.status(), l[:])
	r := c.record()
	binary.LittleEndian.PutUint16(r[8:], binary.LittleEndian.Uint16(r[8:])|diskFlag)
	return c
}

// withEnqueued returns m with a record that says it was enqueued at t,
// the rest of it as it was (a payload on disk only stays so).
func (m *message) withEnqueued(t int64) message {
	c := *m
	r := slices.Clone(m.record())
	binary.LittleEndian.PutUint64(r, uint64(t))
	c.rec = &r[0]
	return c
}

// topic, corr and replyTo return strings that alias the record, which is
// never written after it is made: delivering a message, and matching a
// reply to its request, then allocate nothing (an RPC made four
// allocations per call here). A string kept longer than the message (the
// trace ring) must be copied, or the whole message stays alive with it.
func (m *message) topic() string {
	t := m.topicEnd()
	if t == 0 {
		return ""
	}
	return unsafe.String(&m.body()[1], t-1)
}

func (m *message) corr() string {
	f := m.fields()
	return unsafe.String(unsafe.SliceData(f), m.corrLen())
}

func (m *message) replyTo() string {
	r := m.replyLen()
	if r == 0 {
		return ""
	}
	return unsafe.String(&m.fields()[m.corrLen()], r)
}

// payload is m's payload: empty for a message whose payload is on disk
// only.
func (m *message) payload() []byte {
	f := m.fields()
	end := len(f)
	if m.onDisk() {
		end -= diskLenSize
	}
	return f[m.corrLen()+m.replyLen() : end : end]
}

func (m *message) originID() string {
	if m.origin == nil {
		return ""
	}
	return m.origin.clientID
}

// delivery renders m as handed out from queue q. The payload aliases the
// record.
func (m *message) delivery(q string) wire.Delivery {
	return wire.Delivery{
		Queue:         q,
		ID:            m.id,
		DeliveryCount: m.deliveries,
		Origin:        m.originID(),
		EnqueuedAt:    time.Unix(0, m.enqueued()),
		Topic:         m.topic(),
		Message: wire.Message{
			Payload:       m.payload(),
			CorrelationID: m.corr(),
			ReplyTo:       m.replyTo(),
			Status:        m.status(),
		},
	}
}
