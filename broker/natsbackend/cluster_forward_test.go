package natsbackend_test

import (
	"bytes"
	"testing"

	"msw/internal/natstest"
	"msw/internal/testutil"
	"msw/lib"
)

// TestSendToQueueNotSeenHere: a gateway forwards a small send to a queue
// it has not seen to the gateways' transient queues first (replies are
// the common case), and looks in the cluster when none has it; a batch
// larger than one NATS message goes to the cluster directly.
func TestSendToQueueNotSeenHere(t *testing.T) {
	c := natstest.Start(t, 3)
	a := startGateway(t, c, "a")
	b := startGateway(t, c, "b")
	ctx := ctxT(t)
	onA := client(t, a, "maker")
	onB := client(t, b, "sender")
	for _, q := range []string{"small", "big"} {
		if err := onA.CreateQueue(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := onB.Send(ctx, "small", lib.Message{Payload: []byte("one")}); err != nil {
		t.Fatalf("small send through the gateway that never saw the queue: %v", err)
	}
	big := make([]lib.Message, 100) // 2 MB: more than a NATS message holds
	for i := range big {
		big[i].Payload = bytes.Repeat([]byte{'x'}, 20<<10)
	}
	if _, err := onB.SendBatch(ctx, "big", big); err != nil {
		t.Fatalf("2 MB batch through the gateway that never saw the queue: %v", err)
	}
	for q, want := range map[string]int{"small": 1, "big": len(big)} {
		testutil.Eventually(t, q+" holds what was sent", func() bool {
			qi, err := onA.Info(ctx, q)
			return err == nil && qi.Depth == want
		})
	}
	if _, err := onB.Send(ctx, "tmp-nobody", lib.Message{Payload: []byte("x")}); err == nil {
		t.Error("a send to a queue nobody has succeeded")
	}
}
