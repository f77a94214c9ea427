package natsbackend_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"msw/broker"
	"msw/broker/natsbackend"
	"msw/internal/natstest"
	"msw/internal/switchtest"
	"msw/internal/testutil"
	"msw/lib"
	"msw/server"
)

// testAckWait is the ack wait of the tests' queues: short, so that a dead
// gateway's messages come back within the test's time.
const testAckWait = 2 * time.Second

// gateway is a switch serving over the cluster, as msw-switch --backend
// runs one.
type gateway struct {
	*switchtest.Switch
	engine *natsbackend.Engine
}

// startGateway runs a gateway on c whose queues have three replicas.
func startGateway(t *testing.T, c *natstest.Cluster, name string) *gateway {
	t.Helper()
	return startGatewayAt(t, c, name, "")
}

// startGatewayAt is startGateway listening on addr ("" for a free port).
func startGatewayAt(t *testing.T, c *natstest.Cluster, name, addr string) *gateway {
	t.Helper()
	e, err := natsbackend.Open(natsbackend.Options{URL: c.URL, Replicas: 3, AckWait: testAckWait, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close) // after the switch stops: cleanups run last first
	sw := switchtest.Start(t, addr, broker.Options{Engine: e, KeepAlive: testAckWait / 4}, server.Options{})
	return &gateway{Switch: sw, engine: e}
}

// crash ends the gateway as a crash would: its connection to the cluster
// goes first, so nothing it holds is given back.
func (g *gateway) crash() {
	g.engine.Close()
	g.Stop()
}

func client(t *testing.T, g *gateway, id string) *lib.Client {
	return switchtest.Client(t, g.Addr, lib.Options{ClientID: id, Wait: 10 * time.Second})
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// serveEcho serves queue on cl until the test ends, answering each
// request with "re: " and its payload.
func serveEcho(t *testing.T, cl *lib.Client, queue string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		cl.Serve(ctx, queue, lib.ServeOptions{Concurrency: 4}, func(_ context.Context, r *lib.Request) ([]byte, error) {
			return append([]byte("re: "), r.Payload...), nil
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func TestSendRecvRPC(t *testing.T) {
	c := natstest.Start(t, 3)
	g := startGateway(t, c, "a")
	ctx := ctxT(t)
	cl := client(t, g, "t")
	if err := cl.CreateQueue(ctx, "jobs.q1"); err != nil {
		t.Fatal(err)
	}
	id, err := cl.SendBatch(ctx, "jobs.q1", []lib.Message{{Payload: []byte("one"), CorrelationID: "c1"}, {Payload: []byte("two"), ReplyTo: "elsewhere", Status: 3}})
	if err != nil || id == 0 {
		t.Fatalf("send: id %d, %v", id, err)
	}
	if err := cl.Subscribe(ctx, "jobs.q1"); err != nil {
		t.Fatal(err)
	}
	ds := take(t, ctx, cl, 2)
	if d := ds[0]; string(d.Payload) != "one" || d.CorrelationID != "c1" || d.ID != id || d.DeliveryCount != 1 || d.Origin != "t" {
		t.Errorf("first delivery: %+v", d)
	}
	if d := ds[1]; string(d.Payload) != "two" || d.ReplyTo != "elsewhere" || d.Status != 3 {
		t.Errorf("second delivery: %+v", d)
	}
	qi, err := cl.Info(ctx, "jobs.q1")
	if err != nil || qi.InFlight != 2 || qi.Depth != 0 {
		t.Errorf("info while held: %+v, %v", qi, err)
	}
	// A release comes back, counted; an ack is gone for good.
	if err := cl.Release(ctx, lib.Acks{"jobs.q1": {ds[1].ID}}); err != nil {
		t.Fatal(err)
	}
	if err := cl.Ack(ctx, lib.Acks{"jobs.q1": {ds[0].ID}}); err != nil {
		t.Fatal(err)
	}
	ds, err = cl.Transfer(ctx, lib.TransferOptions{Timeout: 5 * time.Second})
	if err != nil || len(ds) != 1 || string(ds[0].Payload) != "two" || ds[0].DeliveryCount != 2 {
		t.Fatalf("after release: %+v, %v", ds, err)
	}
	if err := cl.Ack(ctx, lib.Acks{"jobs.q1": {ds[0].ID}}); err != nil {
		t.Fatal(err)
	}
	ds, err = cl.Transfer(ctx, lib.TransferOptions{Timeout: 100 * time.Millisecond})
	if err != nil || len(ds) != 0 {
		t.Fatalf("after acks: %+v, %v", ds, err)
	}
	if err := cl.Ack(ctx, lib.Acks{"jobs.q1": {id}}); !lib.IsCode(err, "no_such_message") {
		t.Errorf("ack of an acked message: %v, want no_such_message", err)
	}

	// RPC through the one gateway.
	serveEcho(t, client(t, g, "server"), "svc")
	out, err := cl.Call(ctx, "svc", []byte("hello"))
	if err != nil || string(out) != "re: hello" {
		t.Fatalf("call: %q, %v", out, err)
	}

	// A send to a transient queue nobody has is an error, never a drop.
	if _, err := cl.Send(ctx, "tmp-nobody", lib.Message{Payload: []byte("x")}); !lib.IsCode(err, "no_such_queue") {
		t.Errorf("send to a missing transient queue: %v, want no_such_queue", err)
	}
	// Listing shows the cluster's queues; destroy removes one.
	qs, err := cl.List(ctx, lib.ListOptions{All: true, Prefix: "jobs."})
	if err != nil || len(qs) != 1 || qs[0].Name != "jobs.q1" || !qs[0].Durable {
		t.Errorf("list: %+v, %v", qs, err)
	}
	if err := cl.DestroyQueue(ctx, "jobs.q1", lib.DestroyOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Send(ctx, "jobs.q1", lib.Message{Payload: []byte("x")}); !lib.IsCode(err, "no_such_queue") {
		t.Errorf("send to a destroyed queue: %v, want no_such_queue", err)
	}
}

func TestTwoGateways(t *testing.T) {
	c := natstest.Start(t, 3)
	a, b := startGateway(t, c, "a"), startGateway(t, c, "b")
	ctx := ctxT(t)

	// A call through gateway a is answered by a server on gateway b: the
	// request goes through the cluster, the reply to a's transient queue.
	serveEcho(t, client(t, b, "server-b"), "svc")
	ca := client(t, a, "caller-a")
	start := time.Now()
	for i := range 20 {
		p := fmt.Sprintf("req %d", i)
		out, err := ca.Call(ctx, "svc", []byte(p))
		if err != nil || string(out) != "re: "+p {
			t.Fatalf("call %d through a, served on b: %q, %v", i, out, err)
		}
	}
	t.Logf("20 calls through a served on b: %v", time.Since(start).Round(time.Millisecond))

	// Receivers on both gateways compete for one queue's messages: each
	// message goes to exactly one of them.
	const n = 200
	if err := ca.CreateQueue(ctx, "work"); err != nil {
		t.Fatal(err)
	}
	ms := make([]lib.Message, n)
	for i := range ms {
		ms[i].Payload = fmt.Appendf(nil, "%d", i)
	}
	if _, err := ca.SendBatch(ctx, "work", ms); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	per := map[string]int{}
	var wg sync.WaitGroup
	for _, g := range []*gateway{a, b} {
		name := g.Addr
		cl := client(t, g, "recv-"+name)
		if err := cl.Subscribe(ctx, "work"); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for {
				ds, err := cl.Transfer(ctx, lib.TransferOptions{Max: 5, Timeout: 300 * time.Millisecond})
				if err != nil {
					t.Error(err)
					return
				}
				if len(ds) == 0 {
					return
				}
				acks := lib.Acks{}
				mu.Lock()
				for _, d := range ds {
					seen[string(d.Payload)]++
					per[name]++
					acks["work"] = append(acks["work"], d.ID)
				}
				mu.Unlock()
				if err := cl.Ack(ctx, acks); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d messages: %v per gateway", n, per)
	if len(seen) != n {
		t.Errorf("%d distinct messages received, want %d", len(seen), n)
	}
	for p, k := range seen {
		if k != 1 {
			t.Errorf("message %s received %d times", p, k)
		}
	}
	if len(per) != 2 {
		t.Errorf("only one gateway's receiver got messages: %v", per)
	}
}

// TestGatewayCrash: messages a crashed gateway's session held come back
// from the cluster after the ack wait, to a receiver on another gateway.
func TestGatewayCrash(t *testing.T) {
	c := natstest.Start(t, 3)
	a, b := startGateway(t, c, "a"), startGateway(t, c, "b")
	ctx := ctxT(t)
	ca, cb := client(t, a, "recv-a"), client(t, b, "recv-b")
	if err := ca.CreateQueue(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := cb.Send(ctx, "q", lib.Message{Payload: fmt.Appendf(nil, "m%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ca.Subscribe(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	held := take(t, ctx, ca, 3)
	// Held past the ack wait, they stay with a: its keep-alive says so.
	if err := cb.Subscribe(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	if ds, err := cb.Transfer(ctx, lib.TransferOptions{Timeout: testAckWait * 3 / 2}); err != nil || len(ds) != 0 {
		t.Fatalf("b took %d messages a holds (%v)", len(ds), err)
	}
	crashed := time.Now()
	a.crash()
	var back []lib.Delivery
	for len(back) < 3 {
		ds, err := cb.Transfer(ctx, lib.TransferOptions{Timeout: 5 * time.Second})
		if err != nil || len(ds) == 0 {
			t.Fatalf("b after a's crash: %d back, then %v", len(back), err)
		}
		back = append(back, ds...)
	}
	t.Logf("a crashed holding 3 messages: back on b after %v (ack wait %v)", time.Since(crashed).Round(time.Millisecond), testAckWait)
	// Each comes back when its own ack wait runs out, in the order the
	// cluster's timers fire, not necessarily id order (docs/scale-out.md,
	// "FIFO after a redelivery"): compare them in id order.
	byID := func(x, y lib.Delivery) int { return cmp.Compare(x.ID, y.ID) }
	slices.SortFunc(back, byID)
	slices.SortFunc(held, byID)
	for i, d := range back {
		if want := fmt.Sprintf("m%d", i); string(d.Payload) != want || d.DeliveryCount != 2 || d.ID != held[i].ID {
			t.Errorf("redelivery %d: %q count %d id %d, want %s count 2 id %d", i, d.Payload, d.DeliveryCount, d.ID, want, held[i].ID)
		}
	}

}

// TestPeekPurgeAcrossGateways: a peek through one gateway shows the
// messages nobody has taken, a purge through it removes them and leaves
// the one another gateway's receiver holds, which that receiver then
// acks; binding a cluster queue is still refused, changing nothing.
func TestPeekPurgeAcrossGateways(t *testing.T) {
	c := natstest.Start(t, 3)
	ga, gb := startGateway(t, c, "a"), startGateway(t, c, "b")
	ctx := ctxT(t)
	ca, cb := client(t, ga, "a"), client(t, gb, "b")
	if err := ca.CreateQueue(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"m0", "m1", "m2"} {
		if _, err := ca.Send(ctx, "kept", lib.Message{Payload: []byte(p)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := cb.Subscribe(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
	held := take(t, ctx, cb, 1)
	ds, err := ca.Peek(ctx, "kept", 10)
	if err != nil || len(ds) != 2 || string(ds[0].Payload) != "m1" || string(ds[1].Payload) != "m2" {
		t.Fatalf("peek through a: %d messages, %v; want m1, m2", len(ds), err)
	}
	if n, err := ca.Purge(ctx, "kept"); err != nil || n != 2 {
		t.Fatalf("purge through a: %d, %v; want 2", n, err)
	}
	// The cluster's counts follow the purge a moment later.
	testutil.Eventually(t, "after the purge, nothing ready and one in flight", func() bool {
		qi, err := ca.Info(ctx, "kept")
		return err == nil && qi.Depth == 0 && qi.InFlight == 1
	})
	if err := cb.Ack(ctx, lib.Acks{"kept": {held[0].ID}}); err != nil {
		t.Errorf("ack of the held message after the purge: %v", err)
	}
	if err := ca.Bind(ctx, "kept", "news.>"); err == nil || !strings.Contains(err.Error(), "bind kept: not supported by the NATS backend") {
		t.Errorf("bind: %v; want not supported", err)
	}
	if bs, err := ca.Bindings(ctx); err != nil || len(bs) != 0 {
		t.Errorf("bindings after a refused bind: %v, %v", bs, err)
	}
}

// take transfers until cl holds n messages (asking for no more than are
// missing), failing on an error or on a transfer that times out empty. A pull hands over
// what has arrived when the first message does, so n may take several.
func take(t *testing.T, ctx context.Context, cl *lib.Client, n int) []lib.Delivery {
	t.Helper()
	var got []lib.Delivery
	for len(got) < n {
		ds, err := cl.Transfer(ctx, lib.TransferOptions{Max: n - len(got), Timeout: 5 * time.Second})
		if err != nil || len(ds) == 0 {
			t.Fatalf("transfer: %d more after %d of %d, %v", len(ds), len(got), n, err)
		}
		got = append(got, ds...)
	}
	return got
}

// Sends pipelined on one stream (SendAsync: many on their way, the
// gateway answering each later) through gateway a: with no transfer
// waiting anywhere, each is offered, found no taker and is stored, and
// they are stored in the order sent; with a receiver waiting on gateway
// b, taking them as they come, each arrives exactly once.
func TestPipelinedSendsThroughAGateway(t *testing.T) {
	c := natstest.Start(t, 3)
	a, b := startGateway(t, c, "a"), startGateway(t, c, "b")
	ctx := ctxT(t)
	sa, rb := client(t, a, "sender-a"), client(t, b, "receiver-b")
	if err := sa.CreateQueue(ctx, "pipe"); err != nil {
		t.Fatal(err)
	}
	if err := rb.Subscribe(ctx, "pipe"); err != nil {
		t.Fatal(err)
	}
	const n = 100
	send := func(from int) {
		t.Helper()
		var ps []*lib.Pending
		for i := from; i < from+n; i++ {
			ps = append(ps, sa.SendAsync(ctx, "pipe", lib.Message{Payload: fmt.Appendf(nil, "%d", i)}))
		}
		if err := sa.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for i, p := range ps {
			if err := p.Err(); err != nil {
				t.Fatalf("send %d: %v", from+i, err)
			}
		}
	}
	how := map[string][]string{} // each delivery's id and count, by payload
	// receive takes n messages, acking them; in a goroutine of its own.
	receive := func() ([]string, error) {
		var got []string
		for len(got) < n {
			ds, err := rb.Transfer(ctx, lib.TransferOptions{Max: n - len(got), Timeout: 5 * time.Second})
			if err != nil || len(ds) == 0 {
				return got, fmt.Errorf("transfer after %d of %d: %d, %v", len(got), n, len(ds), err)
			}
			acks := lib.Acks{}
			for _, d := range ds {
				got = append(got, string(d.Payload))
				how[string(d.Payload)] = append(how[string(d.Payload)], fmt.Sprintf("id %x, delivery %d", d.ID, d.DeliveryCount))
				acks["pipe"] = append(acks["pipe"], d.ID)
			}
			if err := rb.Ack(ctx, acks); err != nil {
				return got, err
			}
		}
		return got, nil
	}

	send(0)
	got, err := receive()
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range got {
		if p != fmt.Sprint(i) {
			t.Fatalf("stored out of order: message %d is %s (all: %v)", i, p, got)
		}
	}

	done := make(chan error)
	go func() {
		got, err = receive()
		done <- err
	}()
	send(n)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, p := range got {
		seen[p]++
	}
	for i := n; i < 2*n; i++ {
		if k := seen[fmt.Sprint(i)]; k != 1 {
			t.Errorf("message %d received %d times, want once: %s", i, k, strings.Join(how[fmt.Sprint(i)], "; "))
		}
	}
}

// TestDestroyIfEmptyRightAfterASend: a queue's depth counts every message
// a send was answered for, whichever gateway asks, even while the
// consumer's own counts trail the stream: a destroy-if-empty right after
// a send through another gateway refuses, and the message is there.
func TestDestroyIfEmptyRightAfterASend(t *testing.T) {
	c := natstest.Start(t, 3)
	ga, gb := startGateway(t, c, "a"), startGateway(t, c, "b")
	ctx := ctxT(t)
	ca, cb := client(t, ga, "a"), client(t, gb, "b")
	for i := range 10 {
		q := fmt.Sprintf("q%d", i)
		if err := ca.CreateQueue(ctx, q); err != nil {
			t.Fatal(err)
		}
		if _, err := ca.Send(ctx, q, lib.Message{Payload: []byte("kept")}); err != nil {
			t.Fatal(err)
		}
		if err := cb.DestroyQueue(ctx, q, lib.DestroyOptions{IfEmpty: true}); !lib.IsCode(err, lib.CodeQueueNotEmpty) {
			t.Fatalf("destroy-if-empty of %s right after a send = %v; want queue_not_empty", q, err)
		}
		if ds, err := ca.Peek(ctx, q, 10); err != nil || len(ds) != 1 {
			t.Fatalf("peek of %s: %d messages, %v; want the one sent", q, len(ds), err)
		}
	}
}
