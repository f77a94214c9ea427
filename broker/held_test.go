package broker

import (
	"context"
	"testing"

	"msw/internal/wire"
)

// TestHeldFollowsMessages: what messages count against MaxMemory comes
// back to nothing as they leave, whichever way (acked, withdrawn,
// destroyed with their queue), and over a store a payload left on disk
// does not count.
func TestHeldFollowsMessages(t *testing.T) {
	st := testStore(t)
	b := New(Options{Store: st, CacheBytes: 4 << 10, MaxMemory: 1 << 30})
	defer b.Close()
	for _, q := range []string{"a", "b"} {
		if err := b.CreateQueue(nil, q); err != nil {
			t.Fatal(err)
		}
	}
	ms := make([]wire.Message, 100)
	for i := range ms {
		ms[i].Payload = make([]byte, 1024)
	}
	for _, q := range []string{"a", "b"} {
		if _, err := b.Send(nil, q, ms); err != nil {
			t.Fatal(err)
		}
	}
	full := int64(2 * 100 * (1024 + wire.MessageOverhead))
	if h := b.Held(); (st == nil && h != full) || h > full || h < 200*wire.MessageOverhead {
		t.Fatalf("held %d after 200 messages of 1 KiB; want %d (less what a store left on disk)", h, full)
	}
	t.Logf("held %d bytes for 200 messages of 1 KiB (store: %v)", b.Held(), st != nil)
	s, err := b.Login("t")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(s, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	ds, err := b.Transfer(context.Background(), s, 60, 0)
	if err != nil {
		t.Fatal(err)
	}
	acks := wire.Acks{}
	for _, d := range ds {
		acks[d.Queue] = append(acks[d.Queue], d.ID)
	}
	if err := b.Ack(s, acks); err != nil {
		t.Fatal(err)
	}
	if err := b.Withdraw(s, "a", 100); err != nil {
		t.Fatal(err)
	}
	if err := b.DestroyQueue(nil, "b", false); err != nil {
		t.Fatal(err)
	}
	b.EndSession(s)
	if err := b.DestroyQueue(nil, "a", false); err != nil {
		t.Fatal(err)
	}
	if h := b.Held(); h != 0 {
		t.Errorf("held %d bytes with no message left", h)
	}
}
