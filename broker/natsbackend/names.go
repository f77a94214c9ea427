package natsbackend

import (
	"fmt"
	"strconv"
	"strings"
)

// A queue's name becomes a stream name and a subject token: letters,
// digits and '-' stay, every other byte (queue names also allow '.', '_',
// ':' and '@', which streams or subjects do not) becomes '_' and two hex
// digits, so the mapping is one to one and reversible.
const (
	streamPrefix     = "msw_"
	queueSubject     = "msw.q."
	transientSubject = "msw.t."
	consumerName     = "msw"
	// maxStreamName is the longest stream name used: a stream's name is a
	// directory name in each server's store.
	maxStreamName = 240
)

func escape(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "_%02X", c)
		}
	}
	return b.String()
}

func unescape(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '_' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), true
}

// streamOf returns the stream holding queue q, or an error naming a queue
// whose escaped name is too long for one.
func streamOf(q string) (string, error) {
	s := streamPrefix + escape(q)
	if len(s) > maxStreamName {
		return "", fmt.Errorf("queue name %.40s...: too long for the nats backend once escaped (%d bytes, limit %d)", q, len(s), maxStreamName)
	}
	return s, nil
}

// queueOf returns the queue a stream holds, if it is one of msw's.
func queueOf(stream string) (string, bool) {
	rest, ok := strings.CutPrefix(stream, streamPrefix)
	if !ok {
		return "", false
	}
	return unescape(rest)
}
