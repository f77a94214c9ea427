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
