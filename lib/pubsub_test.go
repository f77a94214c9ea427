package lib_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"msw/broker"
	"msw/lib"
)

// TestRestartRestoresBindings: after the switch restarts in memory
// (losing every queue and binding), the client's re-login binds its
// queues again, and an unbound or destroyed queue's bindings stay gone.
func TestRestartRestoresBindings(t *testing.T) {
	sock := "unix:" + t.TempDir() + "/sock"
	_, stop := runSwitch(t, sock, broker.Options{})
	ctx := context.Background()
	c := newClient(t, sock, 10*time.Second)
	tmp, err := c.CreateTransient(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"kept", "gone"} {
		if err := c.CreateQueue(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for q, ps := range map[string][]string{tmp: {"news.>"}, "kept": {"a.*", "b"}, "gone": {"c"}} {
		if err := c.Bind(ctx, q, ps...); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Unbind(ctx, "kept", "b"); err != nil {
		t.Fatal(err)
	}
	if err := c.DestroyQueue(ctx, "gone", lib.DestroyOptions{}); err != nil {
		t.Fatal(err)
	}
	stop()
	runSwitch(t, sock, broker.Options{})

	// A request in the session finds it gone, and logs in again, restoring.
	if _, err := c.Transfer(ctx, lib.TransferOptions{Timeout: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	other := newClient(t, sock, 0)
	bs, err := other.Bindings(ctx)
	want := []lib.Binding{{Queue: "kept", Pattern: "a.*"}, {Queue: tmp, Pattern: "news.>"}}
	if err != nil || !slices.Equal(bs, want) {
		t.Errorf("bindings after restart = %v, %v; want %v", bs, err, want)
	}
	if n, err := other.Publish(ctx, "news.uk", lib.Message{Payload: []byte("x")}); n != 1 || err != nil {
		t.Errorf("Publish after restart = %d, %v; want 1 queue", n, err)
	}
}

// TestTransferIntoReusesTheSlice: a reader that passes its last batch as
// Into gets the next batch in the same array, right field by field, and
// what it copied out of the last batch is still intact; over HTTP (no
// stream) as on the stream.
func TestTransferIntoReusesTheSlice(t *testing.T) {
	for _, stream := range []bool{true, false} {
		t.Run(map[bool]string{true: "stream", false: "http"}[stream], func(t *testing.T) {
			cs := startCounting(t, !stream)
			ctx := context.Background()
			c := newClient(t, cs.addr, 0)
			if err := c.CreateQueue(ctx, "q"); err != nil {
				t.Fatal(err)
			}
			if err := c.Bind(ctx, "q", "t.>"); err != nil {
				t.Fatal(err)
			}
			if err := c.Subscribe(ctx, "q"); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{"one", "two", "three"} {
				if _, err := c.Publish(ctx, "t."+p, lib.Message{Payload: []byte(p), CorrelationID: "c-" + p}); err != nil {
					t.Fatal(err)
				}
			}
			first, err := c.Transfer(ctx, lib.TransferOptions{Max: 2})
			if err != nil || len(first) != 2 {
				t.Fatalf("Transfer = %d deliveries, %v; want 2", len(first), err)
			}
			kept := first[1]
			acks := lib.Acks{"q": {first[0].ID, first[1].ID}}
			next, err := c.Transfer(ctx, lib.TransferOptions{Acks: acks, Into: first})
			if err != nil || len(next) != 1 {
				t.Fatalf("Transfer with Into = %d deliveries, %v; want 1", len(next), err)
			}
			if &next[0] != &first[0] {
				t.Errorf("Transfer with Into answered in a new array")
			}
			d := next[0]
			if d.Queue != "q" || d.Topic != "t.three" || string(d.Payload) != "three" || d.CorrelationID != "c-three" || d.DeliveryCount != 1 {
				t.Errorf("delivery through Into = %+v; want the third message", d)
			}
			if first[1].ID != 0 || first[1].Payload != nil {
				t.Errorf("slot past the answer = %+v; want it cleared", first[1])
			}
			if kept.Topic != "t.two" || string(kept.Payload) != "two" || kept.CorrelationID != "c-two" {
				t.Errorf("delivery copied out before = %+v; want the second message intact", kept)
			}
			if err := c.Ack(ctx, lib.Acks{"q": {d.ID}}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
