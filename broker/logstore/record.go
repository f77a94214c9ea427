package logstore

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"

	"msw/broker"
)

// A record on disk is a frame: a 4-byte little-endian body length, the
// body's 4-byte CRC-32C, then the body. The body's first byte is its
// kind; its fields are unsigned varints, zig-zag varints and
// length-prefixed byte strings, in the order the encoders below write
// them. A record is decoded only once its checksum matched, and decoding
// checks every length against what is left, so no file content can make
// the decoder panic or allocate more than the file holds.

// Record kinds.
const (
	kindCreate   = 1 // queue, next id: a persistent queue exists
	kindDestroy  = 2 // queue[, next id]: it and its messages are gone (a snapshot's carries the id floor)
	kindMessages = 3 // queue, count, messages: one accepted group
	kindDeliver  = 4 // queue, ids: handed to a receiver once more
	kindAck      = 5 // queue, ids: deleted
	kindMeta     = 6 // queue, key, present, value: a queue property
	kindEnd      = 7 // a snapshot ends here
	// kindPublished is kindMessages whose messages each carry a topic
	// (a string after the reply-to): copies of published messages. A
	// group without one is written as kindMessages, as before topics
	// existed, so logs of either age read alike.
	kindPublished = 8
)

const (
	frameHeader = 8
	// maxBody bounds a record body; a length above it is corruption.
	maxBody = 1 << 30
	// magicLen is the length of the magic string a file starts with.
	magicLen = 8
)

// File magics: what a log file starts with.
const (
	segmentMagic  = "mswlog1\n"
	snapshotMagic = "mswsnp1\n"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errBadRecord is a body that does not decode.
var errBadRecord = errors.New("malformed record")

// encoder builds a frame in place.
type encoder struct{ b []byte }

// begin starts a frame of the given kind.
func (e *encoder) begin(kind byte) int {
	start := len(e.b)
	e.b = append(e.b, 0, 0, 0, 0, 0, 0, 0, 0, kind)
	return start
}

// end fills in the frame header of the frame started at start.
func (e *encoder) end(start int) {
	body := e.b[start+frameHeader:]
	binary.LittleEndian.PutUint32(e.b[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(e.b[start+4:], crc32.Checksum(body, castagnoli))
}

// frame appends a whole frame: its kind, its queue (but for kindEnd),
// and what fill adds.
func (e *encoder) frame(kind byte, queue string, fill func(e *encoder)) {
	start := e.begin(kind)
	if kind != kindEnd {
		e.str(queue)
	}
	if fill != nil {
		fill(e)
	}
	e.end(start)
}

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bytes(p []byte)   { e.uvarint(uint64(len(p))); e.b = append(e.b, p...) }

func (e *encoder) ids(ids []uint64) {
	e.uvarint(uint64(len(ids)))
	for _, id := range ids {
		e.uvarint(id)
	}
}

// messagesKind is the kind of the record of ms: kindPublished if one has
// a topic, else kindMessages.
func messagesKind(ms []broker.StoredMessage) byte {
	for i := range ms {
		if ms[i].Topic != "" {
			return kindPublished
		}
	}
	return kindMessages
}

// messages appends the count and messages of a body of the given kind.
func (e *encoder) messages(kind byte, ms []broker.StoredMessage) {
	e.uvarint(uint64(len(ms)))
	for i := range ms {
		m := &ms[i]
		e.uvarint(m.ID)
		e.varint(m.Enqueued)
		e.uvarint(uint64(m.Deliveries))
		e.b = append(e.b, m.Status)
		e.str(m.Origin)
		e.str(m.CorrelationID)
		e.str(m.ReplyTo)
		if kind == kindPublished {
			e.str(m.Topic)
		}
		e.bytes(m.Payload)
	}
}

// frame is what readFrame found at an offset.
type frame struct {
	body []byte // aliases the file's bytes
	size int    // header and body
}

// Frame reading outcomes other than a good frame.
var (
	// errShort: the data ends inside the frame (a torn write).
	errShort = errors.New("record cut short")
	// errChecksum: the frame is whole but its checksum or length is wrong.
	errChecksum = errors.New("record checksum mismatch")
)

// readFrame reads the frame at the start of data.
func readFrame(data []byte) (frame, error) {
	if len(data) < frameHeader {
		return frame{}, errShort
	}
	n := binary.LittleEndian.Uint32(data)
	if n == 0 || n > maxBody {
		return frame{}, errChecksum
	}
	if uint64(len(data)-frameHeader) < uint64(n) {
		return frame{}, errShort
	}
	body := data[frameHeader : frameHeader+int(n)]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(data[4:]) {
		return frame{}, errChecksum
	}
	return frame{body: body, size: frameHeader + int(n)}, nil
}

// decoder reads a body's fields; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errBadRecord
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) str() string { return string(d.bytes()) }

// strLike reads a string, returning like itself when the bytes are the
// same: replay meets the same queue name and origin record after record,
// and need not allocate each again.
func (d *decoder) strLike(like string) string {
	if b := d.bytes(); string(b) != like {
		return string(b)
	}
	return like
}

// count reads a count of items each at least min bytes long, refusing one
// the rest of the body cannot hold.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/min) {
		d.fail()
		return 0
	}
	return int(n)
}

// ids appends the ids of a body to ids.
func (d *decoder) ids(ids []uint64) []uint64 {
	n := d.count(1)
	ids = slices.Grow(ids, n)
	for i := 0; i < n && d.err == nil; i++ {
		ids = append(ids, d.uvarint())
	}
	return ids
}

// message reads one message of a kindMessages or kindPublished body into
// m, its origin and topic shared with origin and topic when the same. Its
// payload aliases the body.
func (d *decoder) message(m *broker.StoredMessage, kind byte, origin, topic string) {
	m.ID = d.uvarint()
	m.Enqueued = d.varint()
	dl := d.uvarint()
	if dl > 1<<32-1 {
		d.fail()
	}
	m.Deliveries = uint32(dl)
	m.Status = d.byte()
	m.Origin = d.strLike(origin)
	m.CorrelationID = d.str()
	m.ReplyTo = d.str()
	m.Topic = ""
	if kind == kindPublished {
		m.Topic = d.strLike(topic)
	}
	m.Payload = d.bytes()
	m.DiskOnly = 0
}

// minMessage is the fewest bytes a message encodes to.
const minMessage = 8

// record is a decoded body.
type record struct {
	kind    byte
	queue   string
	nextID  uint64                 // kindCreate, kindDestroy (a snapshot's)
	ids     []uint64               // kindDeliver, kindAck
	msgs    []broker.StoredMessage // kindMessages (and kindPublished, which decodes as it)
	key     string                 // kindMeta
	value   []byte                 // kindMeta; nil removes
	present bool                   // kindMeta
}

// decodeRecord decodes a body whose checksum matched.
func decodeRecord(body []byte) (record, error) {
	var rd recordDecoder
	r, err := rd.decode(body)
	if err != nil {
		return record{}, err
	}
	return *r, nil
}

// recordDecoder decodes bodies one after another into one record, reusing
// its slices and the strings of the last queue name and origin: replay
// decodes a million records without an allocation each. What decode
// returns is valid until the next call.
type recordDecoder struct {
	r                    record
	queue, origin, topic string
}

// decode decodes a body whose checksum matched.
func (rd *recordDecoder) decode(body []byte) (*record, error) {
	d := decoder{b: body}
	r := &rd.r
	*r = record{kind: d.byte(), msgs: r.msgs[:0], ids: r.ids[:0]}
	if r.kind == kindEnd {
		if len(d.b) != 0 {
			return nil, errBadRecord
		}
		return r, nil
	}
	r.queue = d.strLike(rd.queue)
	rd.queue = r.queue
	switch r.kind {
	case kindCreate:
		r.nextID = d.uvarint()
	case kindDestroy:
		if len(d.b) > 0 {
			r.nextID = d.uvarint()
		}
	case kindMessages, kindPublished:
		n := d.count(minMessage)
		r.msgs = slices.Grow(r.msgs, n)[:n]
		for i := 0; i < n && d.err == nil; i++ {
			d.message(&r.msgs[i], r.kind, rd.origin, rd.topic)
			rd.origin, rd.topic = r.msgs[i].Origin, r.msgs[i].Topic
		}
		r.kind = kindMessages // what it records is the same
	case kindDeliver, kindAck:
		r.ids = d.ids(r.ids)
	case kindMeta:
		r.key = d.str()
		r.present = d.byte() == 1
		r.value = d.bytes()
		if !r.present {
			r.value = nil
		}
	default:
		return nil, errBadRecord
	}
	if d.err != nil || len(d.b) != 0 || r.queue == "" {
		return nil, errBadRecord
	}
	return r, nil
}
