package recv

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"msw/internal/tool/tooltest"
	"msw/lib"
)

// takeForAck sends n messages to q and takes them, as msw-recv does,
// returning their acknowledgements.
func takeForAck(t *testing.T, cl *lib.Client, n int) lib.Acks {
	t.Helper()
	ctx := context.Background()
	var ms []lib.Message
	for i := range n {
		ms = append(ms, lib.Message{Payload: fmt.Appendf(nil, "%d", i)})
	}
	if _, err := cl.SendBatch(ctx, "q", ms); err != nil {
		t.Fatal(err)
	}
	acks := lib.Acks{}
	for len(acks["q"]) < n {
		ds, err := cl.Transfer(ctx, lib.TransferOptions{Max: n - len(acks["q"])})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			acks["q"] = append(acks["q"], d.ID)
		}
	}
	return acks
}

func ackTestReceiver(t *testing.T) (*receiver, *lib.Client) {
	t.Helper()
	_, cl := recvTestSwitch(t)
	ctx := context.Background()
	if err := cl.CreateQueue(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	if err := cl.Subscribe(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r := testReceiver(formatLines, &out)
	r.cl = cl
	return r, cl
}

// TestRecvAcksInTheBackground: what the reader takes while an
// acknowledgement is on its way waits for the next one, and every
// message ends up acknowledged.
func TestRecvAcksInTheBackground(t *testing.T) {
	r, cl := ackTestReceiver(t)
	ctx := context.Background()
	r.pending, r.npending = takeForAck(t, cl, 5), 5
	r.ackTaken(ctx)
	if !r.ack.busy() || r.npending != 0 {
		t.Fatalf("after ackTaken: in flight %v, %d pending; want the 5 in flight", r.ack.busy(), r.npending)
	}
	r.pending, r.npending = takeForAck(t, cl, 3), 3
	r.ackTaken(ctx) // starts the 3 only if the 5 are done
	if r.ack.busy() && r.npending != 0 && r.npending != 3 {
		t.Fatalf("%d pending; want the 3 waiting or in flight", r.npending)
	}
	if err := r.ackPending(ctx); err != nil {
		t.Fatal(err)
	}
	if r.ack.busy() || r.npending != 0 {
		t.Fatalf("after ackPending: in flight %v, %d pending", r.ack.busy(), r.npending)
	}
	qi, err := cl.Info(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	if qi.Depth != 0 || qi.InFlight != 0 {
		t.Fatalf("queue after: %+v; want all 8 acknowledged", qi)
	}
}

// TestRecvFailedBackgroundAckStaysPending: an acknowledgement that fails
// in the background (here its client is closed) leaves its messages
// pending, and the one msw-recv sends before it exits acknowledges them.
func TestRecvFailedBackgroundAckStaysPending(t *testing.T) {
	r, cl := ackTestReceiver(t)
	r.pending, r.npending = takeForAck(t, cl, 4), 4
	closed := tooltest.Client(t, r.cl.Addr(), "closed")
	closed.Close()
	r.cl = closed
	r.ackTaken(context.Background())
	r.collectAck(true)
	if r.npending != 4 || len(r.pending["q"]) != 4 {
		t.Fatalf("%d pending (%v) after a failed acknowledgement; want the 4 back", r.npending, r.pending)
	}
	r.cl = cl
	if err := r.ackPending(context.Background()); err != nil {
		t.Fatal(err)
	}
	qi, err := cl.Info(context.Background(), "q")
	if err != nil {
		t.Fatal(err)
	}
	if qi.Depth != 0 || qi.InFlight != 0 {
		t.Fatalf("queue after: %+v; want all 4 acknowledged", qi)
	}
}
