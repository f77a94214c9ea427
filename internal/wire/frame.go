package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
	"unsafe"
)

// A frames body (Content-Type application/x-msw-frames) is a sequence of
// message records, back to back, ending at the end of the body. Each record
// is, in order:
//
//	uvarint  id               (0 when sending)
//	uvarint  delivery count   (0 when sending)
//	string   queue            (empty when sending)
//	string   correlation id
//	string   reply-to
//	uvarint  status           (0 for an ordinary message, 1-255)
//	string   origin           (empty when sending)
//	string   topic            (what a published copy was published to; empty when sending)
//	varint   enqueue time, Unix nanoseconds (0 when sending)
//	bytes    payload
//
// where a string or bytes field is a uvarint length followed by that many
// bytes, and varints are those of encoding/binary.

// ErrFrameTooLarge is returned by a FrameReader for a payload over its limit.
var ErrFrameTooLarge = errors.New("payload too large")

// AppendFrame appends the record for d to b.
func AppendFrame(b []byte, d *Delivery) []byte {
	return append(AppendFrameHead(b, d), d.Payload...)
}

// AppendFrameHead appends the record for d up to its payload, which
// follows it on the wire: a writer of a large payload writes it from
// where it is instead of copying it after the head.
func AppendFrameHead(b []byte, d *Delivery) []byte {
	b = binary.AppendUvarint(b, d.ID)
	b = binary.AppendUvarint(b, uint64(d.DeliveryCount))
	b = appendString(b, d.Queue)
	b = appendString(b, d.CorrelationID)
	b = appendString(b, d.ReplyTo)
	b = binary.AppendUvarint(b, uint64(d.Status))
	b = appendString(b, d.Origin)
	b = appendString(b, d.Topic)
	var ns int64
	if !d.EnqueuedAt.IsZero() {
		ns = d.EnqueuedAt.UnixNano()
	}
	b = binary.AppendVarint(b, ns)
	return binary.AppendUvarint(b, uint64(len(d.Payload)))
}

// FrameSize is the length of d's record, as AppendFrame appends it.
func FrameSize(d *Delivery) int {
	var ns int64
	if !d.EnqueuedAt.IsZero() {
		ns = d.EnqueuedAt.UnixNano()
	}
	return uvarintLen(d.ID) + uvarintLen(uint64(d.DeliveryCount)) + stringLen(d.Queue) +
		stringLen(d.CorrelationID) + stringLen(d.ReplyTo) + uvarintLen(uint64(d.Status)) +
		stringLen(d.Origin) + stringLen(d.Topic) + uvarintLen(uint64(ns<<1^ns>>63)) +
		uvarintLen(uint64(len(d.Payload))) + len(d.Payload)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func stringLen(s string) int { return uvarintLen(uint64(len(s))) + len(s) }

// AppendSendFrame appends the record for a message being sent.
func AppendSendFrame(b []byte, m *Message) []byte {
	b = append(b, 0, 0, 0) // id, delivery count, queue
	b = appendString(b, m.CorrelationID)
	b = appendString(b, m.ReplyTo)
	b = binary.AppendUvarint(b, uint64(m.Status))
	b = append(b, 0, 0, 0) // origin, topic, enqueue time
	b = binary.AppendUvarint(b, uint64(len(m.Payload)))
	return append(b, m.Payload...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// FrameReader decodes records from a frames body.
type FrameReader struct {
	r          *bufio.Reader
	pooled     bool // r came from readerPool
	maxPayload int
	n          int

	// Decoding allocates little: queue, reply-to, origin and topic repeat from
	// record to record (a transfer's deliveries, a batch of requests or
	// replies), so each is kept as a string until it changes; the
	// correlation id and the payload share one allocation. This cut the
	// RPC benchmark's allocations by a fifth (four strings, made twice
	// each, per delivery).
	queue, replyTo, origin, topic string
	scratch, corr                 []byte
}

// readerPool holds the read buffers of FrameReaders. Every send and
// transfer reads one frames body: allocating (and zeroing) a fresh 64 KiB
// buffer for each showed up as a tenth of the CPU of an RPC benchmark.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}

// NewFrameReader reads frames from r, refusing payloads over maxPayload
// bytes with ErrFrameTooLarge. Call Close when done to recycle its buffer.
func NewFrameReader(r io.Reader, maxPayload int) *FrameReader {
	br, ok := r.(*bufio.Reader)
	if ok {
		return &FrameReader{r: br, maxPayload: maxPayload}
	}
	br = readerPool.Get().(*bufio.Reader)
	br.Reset(r)
	return &FrameReader{r: br, pooled: true, maxPayload: maxPayload}
}

// Close recycles the reader's buffer; the reader must not be used after.
// Records already decoded stay valid: they never alias the buffer.
func (fr *FrameReader) Close() {
	if fr.pooled && fr.r != nil {
		fr.r.Reset(nil)
		readerPool.Put(fr.r)
	}
	fr.r = nil
}

// Next decodes the next record into d. It returns io.EOF at a clean end of
// the body and a descriptive error for a malformed or truncated record.
func (fr *FrameReader) Next(d *Delivery) error {
	if _, err := fr.r.Peek(1); err == io.EOF {
		return io.EOF
	}
	fr.n++
	id, err := binary.ReadUvarint(fr.r)
	if err != nil {
		return fr.bad("id", err)
	}
	dc, err := binary.ReadUvarint(fr.r)
	if err != nil || dc > 1<<32-1 {
		return fr.bad("delivery count", err)
	}
	d.ID, d.DeliveryCount = id, uint32(dc)
	if d.Queue, err = fr.repeated("queue", &fr.queue); err != nil {
		return err
	}
	if fr.corr, err = fr.field("correlation id", fr.corr); err != nil {
		return err
	}
	if d.ReplyTo, err = fr.repeated("reply-to", &fr.replyTo); err != nil {
		return err
	}
	st, err := binary.ReadUvarint(fr.r)
	if err != nil || st > 255 {
		return fr.bad("status", err)
	}
	d.Status = uint8(st)
	if d.Origin, err = fr.repeated("origin", &fr.origin); err != nil {
		return err
	}
	if d.Topic, err = fr.repeated("topic", &fr.topic); err != nil {
		return err
	}
	ns, err := binary.ReadVarint(fr.r)
	if err != nil {
		return fr.bad("enqueue time", err)
	}
	d.EnqueuedAt = time.Time{}
	if ns != 0 {
		d.EnqueuedAt = time.Unix(0, ns)
	}
	n, err := binary.ReadUvarint(fr.r)
	if err != nil {
		return fr.bad("payload length", err)
	}
	if n > uint64(fr.maxPayload) {
		return fmt.Errorf("frame %d: %w: %d bytes, limit %d", fr.n, ErrFrameTooLarge, n, fr.maxPayload)
	}
	// One allocation: the correlation id, then the payload. The id is
	// only ever seen as a string and the payload's capacity ends with it,
	// so neither can write over the other.
	c := len(fr.corr)
	buf := make([]byte, c+int(n))
	copy(buf, fr.corr)
	if _, err := io.ReadFull(fr.r, buf[c:]); err != nil {
		return fr.bad("payload", err)
	}
	d.CorrelationID = ""
	if c > 0 {
		d.CorrelationID = unsafe.String(&buf[0], c)
	}
	d.Payload = buf[c:len(buf):len(buf)]
	return nil
}

// field reads a string field's bytes into dst (reused) and returns them.
func (fr *FrameReader) field(field string, dst []byte) ([]byte, error) {
	n, err := binary.ReadUvarint(fr.r)
	if err != nil {
		return dst[:0], fr.bad(field, err)
	}
	if n > MaxFrameFieldLen {
		return dst[:0], fmt.Errorf("frame %d: %s is %d bytes, limit %d", fr.n, field, n, MaxFrameFieldLen)
	}
	if uint64(cap(dst)) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	if _, err := io.ReadFull(fr.r, dst); err != nil {
		return dst[:0], fr.bad(field, err)
	}
	return dst, nil
}

// repeated reads a string field, reusing *last when the bytes are the same
// as the previous record's.
func (fr *FrameReader) repeated(field string, last *string) (string, error) {
	b, err := fr.field(field, fr.scratch)
	fr.scratch = b
	if err != nil {
		return "", err
	}
	if string(b) != *last {
		*last = string(b)
	}
	return *last, nil
}

func (fr *FrameReader) bad(field string, err error) error {
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("frame %d: bad %s: %w", fr.n, field, err)
}

// ParseFrame decodes the record at the head of b into d without copying:
// d's strings and payload alias b (the payload's capacity ends with it,
// so appending to it cannot write over what follows). It returns the
// rest of b. The caller must not change b while d is in use; the switch
// parses into a reused buffer only because the broker copies what it
// keeps. A payload over maxPayload is ErrFrameTooLarge.
func ParseFrame(b []byte, maxPayload int, d *Delivery) ([]byte, error) {
	p := frameParser{b: b}
	id := p.uvarint()
	dc := p.uvarint()
	d.Queue = p.str()
	d.CorrelationID = p.str()
	d.ReplyTo = p.str()
	st := p.uvarint()
	d.Origin = p.str()
	d.Topic = p.str()
	ns := p.varint()
	n := p.uvarint()
	if p.err != nil {
		return b, fmt.Errorf("malformed: %w", p.err)
	}
	if dc > 1<<32-1 || st > 255 {
		return b, errors.New("malformed: delivery count or status out of range")
	}
	if n > uint64(maxPayload) {
		return b, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, maxPayload)
	}
	if n > uint64(len(p.b)) {
		return b, fmt.Errorf("malformed: payload: %w", io.ErrUnexpectedEOF)
	}
	d.ID, d.DeliveryCount, d.Status = id, uint32(dc), uint8(st)
	d.EnqueuedAt = time.Time{}
	if ns != 0 {
		d.EnqueuedAt = time.Unix(0, ns)
	}
	d.Payload = p.b[:n:n]
	return p.b[n:], nil
}

// frameParser reads a record's fields from a byte slice; the first
// failure sticks in err.
type frameParser struct {
	b   []byte
	err error
}

func (p *frameParser) uvarint() uint64 {
	if p.err != nil {
		return 0
	}
	v, n := binary.Uvarint(p.b)
	if n <= 0 {
		p.err = io.ErrUnexpectedEOF
		return 0
	}
	p.b = p.b[n:]
	return v
}

func (p *frameParser) varint() int64 {
	if p.err != nil {
		return 0
	}
	v, n := binary.Varint(p.b)
	if n <= 0 {
		p.err = io.ErrUnexpectedEOF
		return 0
	}
	p.b = p.b[n:]
	return v
}

func (p *frameParser) str() string {
	n := p.uvarint()
	if p.err != nil {
		return ""
	}
	if n > MaxFrameFieldLen {
		p.err = fmt.Errorf("field of %d bytes, limit %d", n, MaxFrameFieldLen)
		return ""
	}
	if n > uint64(len(p.b)) {
		p.err = io.ErrUnexpectedEOF
		return ""
	}
	s := ""
	if n > 0 {
		s = unsafe.String(&p.b[0], int(n))
	}
	p.b = p.b[n:]
	return s
}
