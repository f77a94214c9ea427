package lib_test

import (
	"context"
	"testing"
	"time"

	"msw/broker"
	"msw/lib"
)

// SetPolicy creates the queue with its policy, Info gives it back, and
// a send past it fails with CodeQueueFull, on the stream as over HTTP.
func TestSetPolicy(t *testing.T) {
	addr, _ := runSwitch(t, "", broker.Options{})
	c := newClient(t, addr, time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	want := lib.Policy{MaxDepth: 2, MaxBytes: 1 << 20, Overflow: lib.OverflowReject, TTL: time.Hour, MaxDeliveries: 3, DeadLetter: "q.dead"}
	qi, err := c.SetPolicy(ctx, "q", want)
	if err != nil {
		t.Fatal(err)
	}
	if got := qi.Policy(); got != want {
		t.Fatalf("SetPolicy answered %+v; want %+v", got, want)
	}
	if qi, err = c.Info(ctx, "q"); err != nil || qi.Policy() != want {
		t.Fatalf("Info: %+v, %v; want %+v", qi.Policy(), err, want)
	}
	if _, err := c.SendBatch(ctx, "q", []lib.Message{{Payload: []byte("1")}, {Payload: []byte("2")}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(ctx, "q", lib.Message{Payload: []byte("3")})
	t.Logf("third send: %v", err)
	if !lib.IsCode(err, lib.CodeQueueFull) {
		t.Fatalf("a send past max-depth: %v; want %s", err, lib.CodeQueueFull)
	}
	if _, err := c.SetPolicy(ctx, "q", lib.Policy{Overflow: "sometimes"}); !lib.IsCode(err, lib.CodeBadRequest) {
		t.Fatalf("a bad overflow: %v; want %s", err, lib.CodeBadRequest)
	}
}
