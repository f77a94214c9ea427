package broker

import (
	"testing"

	"msw/internal/wire"
)

// TestReleaseWithoutSession: a release by someone holding nothing (an
// anonymous HTTP request) gives nothing back and does not crash.
func TestReleaseWithoutSession(t *testing.T) {
	b := New(Options{})
	defer b.Close()
	if err := b.CreateQueue(nil, "q"); err != nil {
		t.Fatal(err)
	}
	id, _ := b.Send(nil, "q", []wire.Message{{Payload: []byte("x")}})
	if err := b.Release(nil, wire.Acks{"q": {id}}); err != nil {
		t.Errorf("Release(nil) = %v; want nil", err)
	}
	if qi, _ := b.Info("q"); qi.Depth != 1 {
		t.Errorf("depth after an empty release = %d; want 1", qi.Depth)
	}
}
