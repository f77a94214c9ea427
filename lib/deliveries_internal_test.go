package lib

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"msw/internal/wire"
)

// fanoutAnswer is a transfer's answer as a fan-out's reader gets it: n
// copies of 100-byte messages published to one topic, taken from 25
// queues in runs; with varied, every seventh has a correlation id, a
// reply-to and a status.
func fanoutAnswer(n int, varied bool) ([]byte, []wire.Delivery) {
	payload := make([]byte, 100)
	ds := make([]wire.Delivery, n)
	var body []byte
	for i := range ds {
		ds[i] = wire.Delivery{Queue: fmt.Sprintf("fan7-%d", i*25/n), ID: uint64(1000 + i), DeliveryCount: 1,
			Origin: "bench-publisher", EnqueuedAt: time.Unix(0, 1_764_000_000_000_000_000+int64(i)), Topic: "fan7.x",
			Message: wire.Message{Payload: payload}}
		if varied && i%7 == 3 {
			ds[i].CorrelationID, ds[i].ReplyTo, ds[i].Status = fmt.Sprint("c", i), "replies", 3
		}
		body = wire.AppendFrame(body, &ds[i])
	}
	return body, ds
}

// TestDeliveriesParsesEveryField holds the parse of a transfer's answer
// to the deliveries that were framed, field by field, and checks the
// payloads alias the answer without reaching past their own bytes.
func TestDeliveriesParsesEveryField(t *testing.T) {
	c := &Client{}
	for _, n := range []int{0, 1, 2, 3, 1000} {
		body, want := fanoutAnswer(n, true)
		got, err := c.deliveries(&request{op: wire.OpTransfer}, body)
		if err != nil {
			t.Fatalf("n=%d: deliveries: %v", n, err)
		}
		if len(got) != n {
			t.Fatalf("n=%d: %d deliveries; want %d", n, len(got), n)
		}
		for i := range want {
			w := &want[i]
			g := got[i]
			if g.Queue != w.Queue || g.ID != w.ID || g.DeliveryCount != w.DeliveryCount || g.Origin != w.Origin ||
				!g.EnqueuedAt.Equal(w.EnqueuedAt) || g.Topic != w.Topic || string(g.Payload) != string(w.Payload) ||
				g.CorrelationID != w.CorrelationID || g.ReplyTo != w.ReplyTo || g.Status != w.Status {
				t.Fatalf("n=%d: delivery %d = %+v; want %+v", n, i, g, w)
			}
			if cap(g.Payload) != len(g.Payload) {
				t.Fatalf("n=%d: delivery %d: payload cap %d > len %d: an append would write over the next frame", n, i, cap(g.Payload), len(g.Payload))
			}
		}
	}
}

// TestDeliveriesRefusesATruncatedAnswer: a frame cut short is an error
// naming the bad answer, with the deliveries before it.
func TestDeliveriesRefusesATruncatedAnswer(t *testing.T) {
	c := &Client{}
	body, _ := fanoutAnswer(3, true)
	got, err := c.deliveries(&request{op: wire.OpTransfer}, body[:len(body)-1])
	if err == nil {
		t.Fatalf("deliveries of a truncated answer: no error")
	}
	if len(got) != 2 {
		t.Errorf("deliveries of a truncated answer: %d before the error; want 2", len(got))
	}
}

// BenchmarkDeliveries parses a transfer's answer of 1,000 fan-out copies
// into the deliveries Transfer returns (b.N counts answers).
func BenchmarkDeliveries(b *testing.B) {
	c := &Client{}
	body, _ := fanoutAnswer(1000, false)
	r := &request{op: wire.OpTransfer}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		ds, err := c.deliveries(r, body)
		if err != nil || len(ds) != 1000 {
			b.Fatal(len(ds), err)
		}
	}
}

// TestDeliveryLayoutIsTheWire holds asWire's conversion to what it
// needs: Delivery and wire.Delivery have the same size and the same
// fields, of the same types, at the same offsets (an embedded struct
// field by field).
func TestDeliveryLayoutIsTheWire(t *testing.T) {
	var same func(path string, a, b reflect.Type)
	same = func(path string, a, b reflect.Type) {
		if a.Size() != b.Size() || a.Align() != b.Align() || a.Kind() != b.Kind() {
			t.Fatalf("%s: %v (size %d) and %v (size %d) differ", path, a, a.Size(), b, b.Size())
		}
		if a.Kind() != reflect.Struct || a == b {
			if a != b {
				t.Fatalf("%s: %v and %v differ", path, a, b)
			}
			return
		}
		if a.NumField() != b.NumField() {
			t.Fatalf("%s: %d fields and %d", path, a.NumField(), b.NumField())
		}
		for i := range a.NumField() {
			fa, fb := a.Field(i), b.Field(i)
			if fa.Name != fb.Name || fa.Offset != fb.Offset || fa.Anonymous != fb.Anonymous {
				t.Fatalf("%s: field %d is %s at %d and %s at %d", path, i, fa.Name, fa.Offset, fb.Name, fb.Offset)
			}
			same(path+"."+fa.Name, fa.Type, fb.Type)
		}
	}
	same("Delivery", reflect.TypeFor[Delivery](), reflect.TypeFor[wire.Delivery]())
}
