package broker

import (
	"context"
	"errors"
	"testing"

	"msw/internal/testutil"
	"msw/internal/wire"
)

// TestPurgeKeepsQueueAndInFlight: a purge removes the ready messages and
// keeps the queue, its subscriber and the message in flight, which its
// receiver can still ack.
func TestPurgeKeepsQueueAndInFlight(t *testing.T) {
	b := newTestBroker(t, Options{})
	s := login(t, b, "r")
	if err := b.CreateQueue(s, "q"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Send(s, "q", []wire.Message{{Payload: []byte("a")}, {Payload: []byte("bb")}, {Payload: []byte("ccc")}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(s, []string{"q"}); err != nil {
		t.Fatal(err)
	}
	ds, err := b.Transfer(context.Background(), s, 1, 0)
	if err != nil || len(ds) != 1 {
		t.Fatalf("Transfer = %d, %v; want one", len(ds), err)
	}
	n, err := b.PurgeQueue("q")
	if err != nil || n != 2 {
		t.Fatalf("PurgeQueue = %d, %v; want 2", n, err)
	}
	// Over an engine the cluster's counts follow a purge a moment later.
	testutil.Eventually(t, "depth 0, 1 in flight of 1 byte, 1 subscriber after the purge", func() bool {
		qi, err := b.Info("q")
		wantBytes := int64(1)
		if makeEngine != nil {
			wantBytes = qi.Bytes // a stream's bytes count subjects and headers too (docs/scale-out.md)
		}
		return err == nil && qi.Depth == 0 && qi.InFlight == 1 && qi.Subscribers == 1 && qi.Bytes == wantBytes && qi.Bytes > 0
	})
	if err := b.Ack(s, wire.Acks{"q": {ds[0].ID}}); err != nil {
		t.Errorf("Ack after purge: %v", err)
	}
	if _, err := b.PurgeQueue("nosuch"); !errors.Is(err, ErrNoSuchQueue) {
		t.Errorf("PurgeQueue(nosuch) = %v; want ErrNoSuchQueue", err)
	}
}
