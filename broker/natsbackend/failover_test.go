package natsbackend_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"msw/broker/natsbackend"
	"msw/internal/natstest"
	"msw/internal/testutil"
	"msw/lib"
)

// load is a steady load through two gateways: sends through a, receives
// (each acked) and RPC serving on b, calls through a. It records what
// was answered and what was received.
type load struct {
	mu       sync.Mutex
	answered map[int]bool // sends the switch answered with an id
	received map[int]int  // deliveries of each message
	lastSend time.Time    // the last answered send
	lastRecv time.Time    // the last delivery

	sendFailed, callsOK, callsFailed atomic.Int64
	callErrs                         sync.Map // error text -> count, for the report
}

// run drives the sends and calls until ctx ends; receive runs apart, to
// drain what was sent.
func (l *load) run(ctx context.Context, sender, caller *lib.Client) *sync.WaitGroup {
	var wg sync.WaitGroup
	tick := func(d time.Duration, f func()) {
		wg.Go(func() {
			tk := time.NewTicker(d)
			defer tk.Stop()
			for ctx.Err() == nil {
				f()
				select {
				case <-tk.C:
				case <-ctx.Done():
				}
			}
		})
	}
	next := 0
	tick(5*time.Millisecond, func() {
		next++
		_, err := sender.Send(ctx, "load", lib.Message{Payload: []byte(strconv.Itoa(next))})
		l.mu.Lock()
		defer l.mu.Unlock()
		if err == nil {
			l.answered[next] = true
			l.lastSend = time.Now()
		} else if ctx.Err() == nil {
			l.sendFailed.Add(1)
		}
	})
	tick(20*time.Millisecond, func() {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := caller.Call(cctx, "svc", []byte("ping"))
		switch {
		case err == nil:
			l.callsOK.Add(1)
		case ctx.Err() == nil:
			l.callsFailed.Add(1)
			n, _ := l.callErrs.LoadOrStore(err.Error(), new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
		}
	})
	return &wg
}

// receive takes and acks until ctx ends, recording each delivery.
func (l *load) receive(ctx context.Context, cl *lib.Client) {
	for ctx.Err() == nil {
		ds, err := cl.Transfer(ctx, lib.TransferOptions{Max: 50, Timeout: time.Second})
		if err != nil {
			continue // an outage: the transfer is tried again
		}
		acks := lib.Acks{}
		l.mu.Lock()
		for _, d := range ds {
			n, _ := strconv.Atoi(string(d.Payload))
			l.received[n]++
			l.lastRecv = time.Now()
			acks["load"] = append(acks["load"], d.ID)
		}
		l.mu.Unlock()
		if len(ds) > 0 {
			cl.Ack(ctx, acks)
		}
	}
}

// lost and duplicates compare what was answered with what was received.
func (l *load) count() (answered, lost, duplicates int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for n := range l.answered {
		if l.received[n] == 0 {
			lost++
		}
	}
	for _, k := range l.received {
		duplicates += max(k-1, 0)
	}
	return len(l.answered), lost, duplicates
}

// streamLeader returns the index of the node leading queue's stream.
func streamLeader(t *testing.T, url, queue string) int {
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	s, err := js.Stream(t.Context(), "msw_"+queue)
	if err != nil {
		t.Fatal(err)
	}
	var i int
	if _, err := fmt.Sscanf(s.CachedInfo().Cluster.Leader, "n%d", &i); err != nil {
		t.Fatal(err)
	}
	return i - 1
}

// TestNodeKilledUnderLoad kills the node leading the load's queue, and
// later restarts it, while sends, receives and calls go on through two
// gateways: every answered send is delivered.
func TestNodeKilledUnderLoad(t *testing.T) {
	underLoad(t, func(c *natstest.Cluster, _, _ *gateway) (string, func()) {
		victim := streamLeader(t, c.URL, "load")
		c.Kill(victim)
		return fmt.Sprintf("node n%d (the queue's leader) killed", victim+1), func() { c.Restart(victim) }
	})
}

// TestGatewayKilledUnderLoad crashes the gateway the receiver and the
// server use and starts a new one on its address: their clients log in
// again, what they held comes back after the ack wait, and every
// answered send is delivered.
func TestGatewayKilledUnderLoad(t *testing.T) {
	underLoad(t, func(c *natstest.Cluster, _, b *gateway) (string, func()) {
		b.crash()
		startGatewayAt(t, c, "b2", b.Addr)
		return "gateway b (receiver's and server's) crashed and restarted", func() {}
	})
}

// underLoad runs sends and calls through gateway a and receives and a
// server on gateway b, disrupts them, recovers and checks that every
// answered send was delivered, printing its figures.
func underLoad(t *testing.T, disrupt func(c *natstest.Cluster, a, b *gateway) (what string, recover func())) {
	c := natstest.Start(t, 3)
	a, b := startGateway(t, c, "a"), startGateway(t, c, "b")
	sender, caller := client(t, a, "sender"), client(t, a, "caller")
	receiver := client(t, b, "receiver")
	ctx := ctxT(t)
	if err := sender.CreateQueue(ctx, "load"); err != nil {
		t.Fatal(err)
	}
	if err := receiver.Subscribe(ctx, "load"); err != nil {
		t.Fatal(err)
	}
	serveEcho(t, client(t, b, "server"), "svc")
	if _, err := caller.Call(ctx, "svc", []byte("first")); err != nil {
		t.Fatal(err)
	}

	l := &load{answered: map[int]bool{}, received: map[int]int{}}
	lctx, stop := context.WithCancel(ctx)
	wg := l.run(lctx, sender, caller)
	rctx, stopReceiving := context.WithCancel(ctx)
	received := make(chan struct{})
	go func() { l.receive(rctx, receiver); close(received) }()
	defer func() { stopReceiving(); <-received }()
	since := func(t0 time.Time, n int) func() bool {
		return func() bool {
			l.mu.Lock()
			defer l.mu.Unlock()
			return l.lastSend.After(t0) && l.lastRecv.After(t0) && len(l.answered) >= n
		}
	}
	testutil.Eventually(t, "load running", since(time.Time{}, 20))

	before, _, _ := l.count()
	hit := time.Now()
	what, recover := disrupt(c, a, b)
	// A killed leader is replaced by an election, which NATS calls only
	// after 4 to 9 s without it.
	if !testutil.Within(natstest.ElectionWait, since(hit, before+1)) {
		t.Fatalf("sends answered and received again after the disruption: not reached within %v", natstest.ElectionWait)
	}
	resumed := time.Since(hit)
	mid, _, _ := l.count()
	testutil.Eventually(t, "more sends and receives, disrupted", since(time.Now(), mid+20))

	recover()
	recovered := time.Now()
	mid, _, _ = l.count()
	if !testutil.Within(natstest.ElectionWait, since(recovered, mid+20)) {
		t.Fatalf("sends and receives after recovery: not reached within %v", natstest.ElectionWait)
	}
	stop()
	wg.Wait()

	testutil.Eventually(t, "every answered send delivered", func() bool {
		_, lost, _ := l.count()
		return lost == 0
	})
	answered, lost, dups := l.count()
	t.Logf("%s and recovered under load: %d sends answered, %d failed with an error; %d delivered, %d lost, %d duplicates; sent and received again %v after the disruption",
		what, answered, l.sendFailed.Load(), answered-lost, lost, dups, resumed.Round(time.Millisecond))
	t.Logf("calls: %d answered, %d failed", l.callsOK.Load(), l.callsFailed.Load())
	l.callErrs.Range(func(k, v any) bool {
		t.Logf("  call error x%d: %s", v.(*atomic.Int64).Load(), k)
		return true
	})
	if lost != 0 {
		t.Errorf("%d answered sends lost", lost)
	}
	if l.callsOK.Load() == 0 {
		t.Errorf("no call answered")
	}
}

// TestReceivingGatewayKilledWithDirectHandOffs: sends through gateway a
// handed directly to a receiver waiting on gateway b, which holds them
// unacked, are delivered again once b crashes: a stores its copies when
// b has not been heard of for an ack wait.
func TestReceivingGatewayKilledWithDirectHandOffs(t *testing.T) {
	c := natstest.Start(t, 3)
	a, b := startGateway(t, c, "a"), startGateway(t, c, "b")
	sender, receiver := client(t, a, "sender"), client(t, b, "receiver")
	ctx := ctxT(t)
	if err := sender.CreateQueue(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	if err := receiver.Subscribe(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	// One send at a time once the receiver waits on b: handed directly
	// (the first may be stored, if a's node does not know of b's
	// subscription to the queue's offers yet).
	held := map[string]lib.Delivery{}
	direct := 0
	for i := 0; direct < 3; i++ {
		if i == 10 {
			t.Fatalf("after %d sends, %d handed directly", i, direct)
		}
		got := make(chan []lib.Delivery, 1)
		go func() {
			ds, err := receiver.Transfer(ctx, lib.TransferOptions{Max: 1, Timeout: 10 * time.Second})
			if err != nil {
				t.Error(err)
			}
			got <- ds
		}()
		testutil.Eventually(t, "the receiver's transfer waiting on b", func() bool { return b.engine.WaitingDirect("q") == 1 })
		payload := fmt.Sprintf("m%d", i)
		id, err := sender.Send(ctx, "q", lib.Message{Payload: []byte(payload)})
		if err != nil {
			t.Fatal(err)
		}
		ds := <-got
		if len(ds) != 1 || string(ds[0].Payload) != payload {
			t.Fatalf("send %d (id %d): received %+v", i, id, ds)
		}
		if ds[0].ID != id {
			t.Errorf("send %d answered id %d, delivered with id %d", i, id, ds[0].ID)
		}
		if id&natsbackend.DirectIDBit != 0 {
			direct++
		}
		held[payload] = ds[0]
	}
	crashed := time.Now()
	b.crash()
	other := client(t, a, "other")
	if err := other.Subscribe(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	back := map[string]int{}
	for len(back) < len(held) {
		ds, err := other.Transfer(ctx, lib.TransferOptions{Timeout: 5 * time.Second})
		if err != nil || len(ds) == 0 {
			t.Fatalf("after b's crash: %d of %d back, then %v", len(back), len(held), err)
		}
		for _, d := range ds {
			back[string(d.Payload)]++
			if _, ok := held[string(d.Payload)]; !ok {
				t.Errorf("delivered %q, never sent", d.Payload)
			}
			if d.DeliveryCount != 2 {
				t.Errorf("%q delivered again with count %d, want 2", d.Payload, d.DeliveryCount)
			}
		}
		if err := other.Ack(ctx, ackAll("q", ds)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("b crashed holding %d messages, %d of them handed directly: all back on a after %v (ack wait %v)",
		len(held), direct, time.Since(crashed).Round(time.Millisecond), testAckWait)
}

// ackAll is the acks of every delivery in ds, of queue.
func ackAll(queue string, ds []lib.Delivery) lib.Acks {
	acks := lib.Acks{}
	for _, d := range ds {
		acks[queue] = append(acks[queue], d.ID)
	}
	return acks
}
