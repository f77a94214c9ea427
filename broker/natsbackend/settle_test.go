package natsbackend_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"msw/internal/natstest"
	"msw/internal/testutil"
	"msw/lib"
)

// spy counts, on a connection of its own, the offers and the "done"
// notices that cross the cluster.
type spy struct {
	mu     sync.Mutex
	offers int
	done   int
}

func startSpy(t *testing.T, url string) (*spy, *nats.Conn) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	s := &spy{}
	// Not in the gateways' queue group: it sees every offer, answers none.
	if _, err := nc.Subscribe("msw.d.>", func(*nats.Msg) { s.mu.Lock(); s.offers++; s.mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Subscribe("msw.dn.>", func(m *nats.Msg) {
		if strings.HasPrefix(string(m.Data), "done ") {
			s.mu.Lock()
			s.done++
			s.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return s, nc
}

func (s *spy) counts(t *testing.T, nc *nats.Conn) (offers, done int) {
	t.Helper()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.offers, s.done
}

// A call through gateway a served on b: the reply forwarded to a settles
// a's copy of the request, so b sends no "done" notice for it, and a
// keeps no copy once the call is answered.
func TestReplyForwardSettlesRequest(t *testing.T) {
	c := natstest.Start(t, 3)
	a, b := startGateway(t, c, "a"), startGateway(t, c, "b")
	ctx := ctxT(t)
	watch, nc := startSpy(t, c.URL)

	serveEcho(t, client(t, b, "server-b"), "svc")
	testutil.Eventually(t, "a transfer of svc waits on b", func() bool { return b.engine.WaitingDirect("svc") > 0 })
	ca := client(t, a, "caller-a")
	const n = 20
	for i := range n {
		p := fmt.Sprintf("req %d", i)
		out, err := ca.Call(ctx, "svc", []byte(p))
		if err != nil || string(out) != "re: "+p {
			t.Fatalf("call %d: %q, %v", i, out, err)
		}
	}
	// Before, a dropped its copies as b's done notices came: the spy saw
	// them (all, if its node carried them as fast as a's did).
	testutil.Eventually(t, "a keeps no copy", func() bool { return a.engine.CopiesKept() == 0 })
	offers, done := watch.counts(t, nc)
	t.Logf("%d calls: %d offers, %d done notices", n, offers, done)
	if offers == 0 {
		t.Fatal("no request was offered: the test did not go through the hand-off")
	}
	if done != 0 {
		t.Errorf("%d done notices for %d offers, want none: the forwarded replies settle the requests", done, offers)
	}
}

// A request sent through gateway c whose reply goes to a transient queue
// of gateway a: the forward to a names c's copy, which a cannot settle,
// so b tells c "done" as before, and c's copy goes.
func TestReplyForwardToAnotherGatewayStillNotifiesSender(t *testing.T) {
	cl := natstest.Start(t, 3)
	a, b, c := startGateway(t, cl, "a"), startGateway(t, cl, "b"), startGateway(t, cl, "c")
	ctx := ctxT(t)
	watch, nc := startSpy(t, cl.URL)

	serveEcho(t, client(t, b, "server-b"), "svc")
	testutil.Eventually(t, "a transfer of svc waits on b", func() bool { return b.engine.WaitingDirect("svc") > 0 })
	ca := client(t, a, "replies-a")
	replies, err := ca.CreateTransient(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	cc := client(t, c, "sender-c")
	if _, err := cc.Send(ctx, "svc", lib.Message{Payload: []byte("x"), ReplyTo: replies}); err != nil {
		t.Fatal(err)
	}
	if err := ca.Subscribe(ctx, replies); err != nil {
		t.Fatal(err)
	}
	ds, err := ca.Transfer(ctx, lib.TransferOptions{Max: 1, Timeout: 10 * time.Second})
	if err != nil || len(ds) != 1 || string(ds[0].Payload) != "re: x" {
		t.Fatalf("reply on a: %v, %v", ds, err)
	}
	testutil.Eventually(t, "c keeps no copy", func() bool { return c.engine.CopiesKept() == 0 })
	// The notice reached c, maybe through another node than the spy's.
	testutil.Eventually(t, "the spy saw b's done notice", func() bool { _, done := watch.counts(t, nc); return done > 0 })
	if offers, done := watch.counts(t, nc); offers != 1 || done != 1 {
		t.Errorf("%d offers, %d done notices; want 1 and 1", offers, done)
	}
}
