package logstore

import (
	"context"
	"fmt"
	"testing"

	"msw/broker"
	"msw/internal/wire"
)

// TestBacklogLargerThanTheCache sends 1,000 messages of 1 KiB to a
// switch whose cache holds 10 KiB: nearly all payloads stay on disk, and
// draining the queue, before and after a restart, reads them back intact
// and in order.
func TestBacklogLargerThanTheCache(t *testing.T) {
	const n, size, cache = 1000, 1 << 10, 10 << 10
	dir := t.TempDir()
	payload := func(i int) string { return fmt.Sprintf("%0*d", size, i) }
	st, err := Open(dir, Options{CacheBytes: cache, SegmentSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	b := broker.New(broker.Options{Store: st, CacheBytes: cache, TraceSize: -1})
	if err := b.CreateQueue(nil, "q"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 10 {
		ms := make([]wire.Message, 10)
		for k := range ms {
			ms[k] = wire.Message{Payload: []byte(payload(i + k)), CorrelationID: fmt.Sprint("c", i+k)}
		}
		if _, err := b.Send(nil, "q", ms); err != nil {
			t.Fatal(err)
		}
	}
	if d := b.StoreStats().DiskOnly; d < n-cache/size-10 {
		t.Fatalf("%d of %d messages on disk only, with a cache of %d bytes", d, n, cache)
	}
	if qi, _ := b.Info("q"); qi.Bytes < n*size {
		t.Fatalf("queue bytes %d, want at least %d", qi.Bytes, n*size)
	}
	ds, err := b.Peek("q", n)
	if err != nil || len(ds) != n || string(ds[n-1].Payload) != payload(n-1) || ds[n-1].CorrelationID != fmt.Sprint("c", n-1) {
		t.Fatalf("peek of a message on disk only: %d messages, %v", len(ds), err)
	}
	drain(t, b, 0, n/2, payload)
	b.Close()
	st.Close()

	st = mustOpen(t, dir, Options{CacheBytes: cache})
	b = broker.New(broker.Options{Store: st, CacheBytes: cache, TraceSize: -1})
	defer b.Close()
	if d := b.StoreStats().DiskOnly; d < n/2-cache/size-10 {
		t.Fatalf("after restart %d of %d messages on disk only", d, n/2)
	}
	if qi, _ := b.Info("q"); qi.Bytes < n/2*size {
		t.Fatalf("after restart queue bytes %d, want at least %d", qi.Bytes, n/2*size)
	}
	drain(t, b, n/2, n, payload)
	if d := b.StoreStats().DiskOnly; d != 0 {
		t.Fatalf("%d messages on disk only after draining", d)
	}
	// What the queue counted for its messages, on disk or not, and what
	// they held against the memory bound, went with them.
	if qi, _ := b.Info("q"); qi.Bytes != 0 {
		t.Fatalf("queue bytes %d after draining", qi.Bytes)
	}
	if h := b.Held(); h != 0 {
		t.Fatalf("%d bytes held after draining", h)
	}
}

// drain takes and acks messages from..to-1 of q, checking each payload.
func drain(t *testing.T, b *broker.Broker, from, to int, payload func(int) string) {
	t.Helper()
	s, err := b.Login("drain")
	if err != nil {
		t.Fatal(err)
	}
	defer b.EndSession(s)
	if err := b.Subscribe(s, []string{"q"}); err != nil {
		t.Fatal(err)
	}
	for i := from; i < to; {
		ds, err := b.Transfer(context.Background(), s, min(64, to-i), 0)
		if err != nil || len(ds) == 0 {
			t.Fatalf("transfer at message %d: %d, %v", i, len(ds), err)
		}
		acks := wire.Acks{}
		for _, d := range ds {
			if string(d.Payload) != payload(i) || d.CorrelationID != fmt.Sprint("c", i) {
				t.Fatalf("message %d (id %d): payload %.12q... corr %q", i, d.ID, d.Payload, d.CorrelationID)
			}
			acks["q"] = append(acks["q"], d.ID)
			i++
		}
		if err := b.Ack(s, acks); err != nil {
			t.Fatal(err)
		}
	}
}
