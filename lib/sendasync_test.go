package lib_test

import (
	"context"
	"fmt"
	"testing"

	"msw/broker"
	"msw/internal/switchtest"
	"msw/lib"
	"msw/server"
)

// SendAsync's messages all arrive, in order, each Pending says accepted,
// and Flush returns only once every one has its outcome.
func TestSendAsyncDeliversAll(t *testing.T) {
	ctx := context.Background()
	sw := switchtest.Start(t, "", broker.Options{}, server.Options{})
	c := switchtest.Client(t, sw.Addr, lib.Options{})
	if err := c.CreateQueue(ctx, "async"); err != nil {
		t.Fatal(err)
	}
	const n = 1000 // several pings' worth (one per 64 quiet sends)
	ps := make([]*lib.Pending, n)
	for i := range ps {
		ps[i] = c.SendAsync(ctx, "async", lib.Message{Payload: []byte(fmt.Sprint(i))})
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		select {
		case <-p.Done():
		default:
			t.Fatalf("send %d has no outcome after Flush", i)
		}
		if p.Err() != nil {
			t.Fatalf("send %d: %v", i, p.Err())
		}
	}
	ds, err := c.Peek(ctx, "async", n+1)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != n {
		t.Fatalf("queue holds %d messages, want %d", len(ds), n)
	}
	for i, d := range ds {
		if string(d.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d is %q, want %q", i, d.Payload, fmt.Sprint(i))
		}
	}
}

// A send the switch refuses fails its own Pending with the switch's
// error, and the sends around it are accepted.
func TestSendAsyncRefused(t *testing.T) {
	ctx := context.Background()
	sw := switchtest.Start(t, "", broker.Options{MaxPayload: 100}, server.Options{})
	c := switchtest.Client(t, sw.Addr, lib.Options{})
	if err := c.CreateQueue(ctx, "async"); err != nil {
		t.Fatal(err)
	}
	before := c.SendAsync(ctx, "async", lib.Message{Payload: []byte("a")})
	missing := c.SendAsync(ctx, "no-such-queue", lib.Message{Payload: []byte("b")})
	big := c.SendAsync(ctx, "async", lib.Message{Payload: make([]byte, 101)})
	after := c.SendAsync(ctx, "async", lib.Message{Payload: []byte("c")})
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := missing.Wait(ctx); !lib.IsCode(err, lib.CodeNoSuchQueue) {
		t.Errorf("send to a missing queue: %v, want %s", err, lib.CodeNoSuchQueue)
	}
	if err := big.Wait(ctx); !lib.IsCode(err, lib.CodeTooLarge) {
		t.Errorf("send over the payload limit: %v, want %s", err, lib.CodeTooLarge)
	}
	for _, p := range []*lib.Pending{before, after} {
		if err := p.Wait(ctx); err != nil {
			t.Errorf("accepted send: %v", err)
		}
	}
	if qi, err := c.Info(ctx, "async"); err != nil || qi.Depth != 2 {
		t.Fatalf("queue depth %d (%v), want 2", qi.Depth, err)
	}
}
