package compat

import (
	"strconv"
	"strings"
	"time"

	"msw/broker"
)

// The original's clients decode JSON strictly (see docs/compat.md): an
// optional key is omitted, never null; "next" is a string; a map keyed by
// name is an object; and payload bytes are written raw, not forced
// through UTF-8 as encoding/json would. Replies are therefore built by
// this small encoder, which appends compact JSON to a byte slice.

// enc appends JSON to b.
type enc struct{ b []byte }

const hexDigits = "0123456789abcdef"

// str appends s as a JSON string: '"' and '\\' escaped, control bytes
// and DEL as escapes, every other byte (0x80-0xff included) as it is.
func (e *enc) str(s string) {
	e.b = append(e.b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var esc string
		switch c {
		case '"':
			esc = `\"`
		case '\\':
			esc = `\\`
		case '\b':
			esc = `\b`
		case '\f':
			esc = `\f`
		case '\n':
			esc = `\n`
		case '\r':
			esc = `\r`
		case '\t':
			esc = `\t`
		default:
			if c >= 0x20 && c != 0x7f {
				continue
			}
		}
		e.b = append(e.b, s[start:i]...)
		if esc != "" {
			e.b = append(e.b, esc...)
		} else {
			e.b = append(e.b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		}
		start = i + 1
	}
	e.b = append(e.b, s[start:]...)
	e.b = append(e.b, '"')
}

// raw appends literal JSON text.
func (e *enc) raw(s string) { e.b = append(e.b, s...) }

// int appends an integer.
func (e *enc) int(n int64) { e.b = strconv.AppendInt(e.b, n, 10) }

// float appends f as the original does: the shortest of %.16g and %.17g
// that reads back as f, with ".0" added when it looks like an integer.
func (e *enc) float(f float64) {
	s := strconv.FormatFloat(f, 'g', 16, 64)
	if v, err := strconv.ParseFloat(s, 64); err != nil || v != f {
		s = strconv.FormatFloat(f, 'g', 17, 64)
	}
	if !strings.ContainsAny(s, ".eEnN") {
		s += ".0"
	}
	e.raw(s)
}

// key appends an object key and its colon, after a comma unless first.
func (e *enc) key(k string, first bool) {
	if !first {
		e.b = append(e.b, ',')
	}
	e.str(k)
	e.b = append(e.b, ':')
}

// messageID appends ["<queue>",<id>].
func (e *enc) messageID(queue string, id int64) {
	e.raw("[")
	e.str(queue)
	e.raw(",")
	e.int(id)
	e.raw("]")
}

// message appends MESSAGE: {"payload":"...","kind":KIND}.
func (e *enc) message(payload []byte, k kind) {
	e.raw(`{"payload":`)
	e.str(string(payload))
	e.raw(`,"kind":`)
	k.append(e)
	e.raw("}")
}

// idMessage appends [ID,MESSAGE] for a message as a cursor read gives it.
func (e *enc) idMessage(m *broker.CursorMessage) {
	e.raw("[")
	e.messageID(m.Queue, m.Cursor)
	e.raw(",")
	e.message(m.Payload, kindOf(m.ReplyTo, m.CorrelationID))
	e.raw("]")
}

// sinceStart is t in nanoseconds since start, the original's clock.
func sinceStart(t, start time.Time) int64 { return t.UnixNano() - start.UnixNano() }
