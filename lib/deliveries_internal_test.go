package lib

import (
	"fmt"
	"reflect"
	"testing"
	"time"
	"unsafe"

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
		sameDeliveries(t, fmt.Sprintf("n=%d", n), got, want)
	}
}

// TestDeliveriesInto: a transfer's answer parsed into the slice a
// caller passes as Into is written over it, every field of every
// delivery, when it fits; slots past the answer are cleared, so that
// they keep no old answer alive; and a slice too short is left alone
// for a new one.
func TestDeliveriesInto(t *testing.T) {
	c := &Client{}
	r := &request{op: wire.OpTransfer}
	stale := Delivery{Queue: "stale", ID: 99, DeliveryCount: 9, Origin: "stale", EnqueuedAt: time.Unix(5, 0), Topic: "stale.t",
		Message: Message{Payload: []byte("stale"), CorrelationID: "stale", ReplyTo: "stale", Status: 9}}
	for _, tc := range []struct{ into, cap, n int }{{10, 10, 0}, {10, 10, 3}, {10, 10, 10}, {0, 10, 7}, {3, 3, 4}, {0, 0, 5}} {
		name := fmt.Sprintf("into %d of %d, answer of %d", tc.into, tc.cap, tc.n)
		into := make([]Delivery, tc.cap)
		for i := range into {
			into[i] = stale
		}
		into = into[:tc.into]
		body, want := fanoutAnswer(tc.n, true)
		got, err := c.deliveriesInto(r, body, into)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sameDeliveries(t, name, got, want)
		reused := tc.cap > 0 && unsafe.SliceData(got) == unsafe.SliceData(into)
		if fits := tc.n <= tc.cap; reused != fits {
			t.Errorf("%s: into's array reused = %v; want %v", name, reused, fits)
		}
		if reused {
			for i := tc.n; i < tc.into; i++ {
				if !reflect.ValueOf(into[i]).IsZero() {
					t.Errorf("%s: slot %d past the answer = %+v; want it cleared", name, i, into[i])
				}
			}
		}
	}
}

// sameDeliveries fails unless got holds want's deliveries, field by
// field, each payload ending its capacity.
func sameDeliveries(t *testing.T, name string, got []Delivery, want []wire.Delivery) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d deliveries; want %d", name, len(got), len(want))
	}
	for i := range want {
		w := &want[i]
		g := got[i]
		if g.Queue != w.Queue || g.ID != w.ID || g.DeliveryCount != w.DeliveryCount || g.Origin != w.Origin ||
			!g.EnqueuedAt.Equal(w.EnqueuedAt) || g.Topic != w.Topic || string(g.Payload) != string(w.Payload) ||
			g.CorrelationID != w.CorrelationID || g.ReplyTo != w.ReplyTo || g.Status != w.Status {
			t.Fatalf("%s: delivery %d = %+v; want %+v", name, i, g, w)
		}
		if cap(g.Payload) != len(g.Payload) {
			t.Fatalf("%s: delivery %d: payload cap %d > len %d: an append would write over the next frame", name, i, cap(g.Payload), len(g.Payload))
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
// into the deliveries Transfer returns (b.N counts answers): into a new
// slice each time, and into the last one's (TransferOptions.Into).
func BenchmarkDeliveries(b *testing.B) {
	c := &Client{}
	body, _ := fanoutAnswer(1000, false)
	r := &request{op: wire.OpTransfer}
	for _, into := range []bool{false, true} {
		b.Run(map[bool]string{false: "new", true: "into"}[into], func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			var ds []Delivery
			for b.Loop() {
				var err error
				if !into {
					ds = nil
				}
				ds, err = c.deliveriesInto(r, body, ds)
				if err != nil || len(ds) != 1000 {
					b.Fatal(len(ds), err)
				}
			}
		})
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
