package wire

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// BenchmarkFrameReader decodes a transfer answer of 64 RPC requests (same
// queue, reply-to and origin, own correlation ids, 100-byte payloads).
func BenchmarkFrameReader(b *testing.B) {
	var body []byte
	payload := make([]byte, 100)
	for i := range 64 {
		body = AppendFrame(body, &Delivery{Queue: "svc", ID: uint64(i + 1), DeliveryCount: 1,
			Origin: "caller[123]@host", EnqueuedAt: time.Unix(0, 1),
			Message: Message{Payload: payload, CorrelationID: "3f2a9c1b7d4e-" + string(rune('a'+i%26)), ReplyTo: "tmp-0123456789abcdef"}})
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	var d Delivery
	for b.Loop() {
		fr := NewFrameReader(bytes.NewReader(body), 1<<20)
		for {
			if err := fr.Next(&d); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
		fr.Close()
	}
}
