package natsbackend

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/nats-io/nats.go"

	"msw/internal/wire"
)

// A forward's or offer's messages come out as they went in, from the
// frames body, and from a JSON one as gateways sent before it.
func TestForwardedBody(t *testing.T) {
	ms := []wire.Message{
		{Payload: []byte("one"), CorrelationID: "c1", ReplyTo: "r1"},
		{Payload: nil, Status: 3},
		{Payload: []byte{0, 1, 2, 255}, ReplyTo: "r2"},
	}
	want := forwarded{Origin: "client-7"}
	for _, m := range ms {
		want.Messages = append(want.Messages, forwardedItem{Message: m, Payload: m.Payload})
	}
	// The readers take an item's Payload (the embedded one is not in the
	// JSON); nil and empty payloads alike.
	norm := func(f forwarded) forwarded {
		f.Messages = append([]forwardedItem(nil), f.Messages...)
		for i := range f.Messages {
			f.Messages[i].Message.Payload = nil
			if len(f.Messages[i].Payload) == 0 {
				f.Messages[i].Payload = nil
			}
		}
		return f
	}

	m := nats.NewMsg("msw.t.q")
	encodeForwarded(m, ms, "client-7")
	got, err := decodeForwarded(m)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(norm(got), norm(want)) {
		t.Errorf("frames: got %+v, want %+v", got, want)
	}

	old := nats.NewMsg("msw.t.q")
	old.Data, _ = json.Marshal(want)
	got, err = decodeForwarded(old)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(norm(got), norm(want)) {
		t.Errorf("json: got %+v, want %+v", got, want)
	}

	m.Data = m.Data[:len(m.Data)-1] // a payload cut short
	if _, err := decodeForwarded(m); err == nil {
		t.Error("a truncated body decoded")
	}
}

// BenchmarkForwardedBody is the encoding and decoding of one forward or
// offer of a 100-byte RPC message, as frames (now) and as JSON (before).
func BenchmarkForwardedBody(b *testing.B) {
	ms := []wire.Message{{Payload: make([]byte, 100), CorrelationID: "0123456789abcdef", ReplyTo: "_reply.0123456789abcdef"}}
	b.Run("frames", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := nats.NewMsg("msw.t.q")
			encodeForwarded(m, ms, "client-7")
			if _, err := decodeForwarded(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := nats.NewMsg("msw.t.q")
			f := forwarded{Origin: "client-7", Messages: []forwardedItem{{Message: ms[0], Payload: ms[0].Payload}}}
			m.Data, _ = json.Marshal(f)
			if _, err := decodeForwarded(m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
