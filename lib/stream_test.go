package lib_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"msw/broker"
	"msw/internal/switchtest"
	"msw/internal/testutil"
	"msw/internal/wire"
	"msw/lib"
	"msw/server"
)

// countingSwitch serves a switch through a handler that counts requests
// by "METHOD path", and answers the stream's upgrade with 404 when
// noStream is set (a switch that has no stream).
type countingSwitch struct {
	addr   string
	broker *broker.Broker
	mu     sync.Mutex
	counts map[string]int
}

func startCounting(t *testing.T, noStream bool) *countingSwitch {
	b := broker.New(broker.Options{Grace: 300 * time.Millisecond})
	h := server.New(b, switchLog(t)).Handler()
	cs := &countingSwitch{broker: b, counts: map[string]int{}}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs.mu.Lock()
		cs.counts[r.Method+" "+r.URL.Path]++
		cs.mu.Unlock()
		if noStream && r.URL.Path == wire.PathStream {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		b.Close()
		ts.CloseClientConnections()
		ts.Close()
	})
	cs.addr = strings.TrimPrefix(ts.URL, "http://")
	return cs
}

func (cs *countingSwitch) count(key string) int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.counts[key]
}

// exercise sends, takes and acks messages and makes calls to a served
// queue: the hot paths of the library.
func exercise(t *testing.T, addr string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := plainClient(t, addr)
	if err := c.CreateQueue(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := c.Send(ctx, "q", lib.Message{Payload: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
		ds, err := c.Transfer(ctx, lib.TransferOptions{Timeout: 5 * time.Second})
		if err != nil || len(ds) != 1 || string(ds[0].Payload) != fmt.Sprint(i) {
			t.Fatalf("transfer %d: %v %v", i, ds, err)
		}
		if err := c.Ack(ctx, lib.Acks{"q": {ds[0].ID}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.SendBatch(ctx, "q", []lib.Message{{Payload: []byte("a")}, {Payload: []byte("b")}}); err != nil {
		t.Fatal(err)
	}

	srv := plainClient(t, addr)
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() {
		served <- srv.Serve(sctx, "svc", lib.ServeOptions{Concurrency: 2}, func(_ context.Context, r *lib.Request) ([]byte, error) {
			return append([]byte("re:"), r.Payload...), nil
		})
	}()
	for i := range 20 {
		got, err := c.Call(ctx, "svc", []byte(fmt.Sprint(i)))
		if err != nil || string(got) != fmt.Sprintf("re:%d", i) {
			t.Fatalf("call %d: %q %v", i, got, err)
		}
	}
	stop()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

func plainClient(t *testing.T, addr string) *lib.Client {
	c, err := lib.New(lib.Options{Addr: addr, ClientID: t.Name(), Wait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestHotPathRidesTheStream(t *testing.T) {
	cs := startCounting(t, false)
	exercise(t, cs.addr)
	for _, key := range []string{
		"POST " + wire.PathQueuePrefix + "q/messages",
		"POST " + wire.PathQueuePrefix + "svc/messages",
		"POST " + wire.PathTransfer,
		"POST " + wire.PathAck,
	} {
		if n := cs.count(key); n != 0 {
			t.Errorf("%s: %d HTTP requests, want none (the stream carries them)", key, n)
		}
	}
	// One stream per session: the client, its caller and the server.
	if n := cs.count("GET " + wire.PathStream); n != 3 {
		t.Errorf("%d streams opened, want 3", n)
	}
	if qi, err := cs.broker.Info("svc"); err != nil || qi.Depth != 0 || qi.InFlight != 0 {
		t.Errorf("svc after the calls: %+v %v", qi, err)
	}
}

func TestWithoutStreamFallsBackToHTTP(t *testing.T) {
	cs := startCounting(t, true)
	exercise(t, cs.addr)
	if n := cs.count("GET " + wire.PathStream); n != 3 {
		t.Errorf("%d stream upgrades tried, want one per session (3)", n)
	}
	if n := cs.count("POST " + wire.PathQueuePrefix + "q/messages"); n < 20 {
		t.Errorf("%d sends over HTTP, want at least 20", n)
	}
	if n := cs.count("POST " + wire.PathTransfer); n < 20 {
		t.Errorf("%d transfers over HTTP, want at least 20", n)
	}
}

func TestAbandonedTransferTakesNothing(t *testing.T) {
	sw := rpcSwitch(t, "127.0.0.1:0")
	ctx := context.Background()
	a, b, sender := rpcClient(t, sw.Addr), rpcClient(t, sw.Addr), rpcClient(t, sw.Addr)
	if err := sender.CreateQueue(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*lib.Client{a, b} {
		if err := c.Subscribe(ctx, "q"); err != nil {
			t.Fatal(err)
		}
	}
	actx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := a.Transfer(actx, lib.TransferOptions{Timeout: 30 * time.Second})
		errc <- err
	}()
	testutil.Eventually(t, "a's transfer to reach the switch", polled(sw, a))
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned transfer: %v, want context.Canceled", err)
	}
	// a's transfer waited first: had it stayed waiting at the switch, it
	// would take the message and b would get nothing.
	got := make(chan []lib.Delivery, 1)
	go func() {
		ds, _ := b.Transfer(ctx, lib.TransferOptions{Timeout: 5 * time.Second})
		got <- ds
	}()
	testutil.Eventually(t, "b's transfer to reach the switch", polled(sw, b))
	if _, err := sender.Send(ctx, "q", lib.Message{Payload: []byte("m")}); err != nil {
		t.Fatal(err)
	}
	// First delivery: a's transfer did not take it and give it back.
	if ds := <-got; len(ds) != 1 || string(ds[0].Payload) != "m" || ds[0].DeliveryCount != 1 {
		t.Fatalf("b got %+v, want the message, delivered once", ds)
	}
}

// polled reports whether c's session has polled the switch.
func polled(sw *switchtest.Switch, c *lib.Client) func() bool {
	return func() bool {
		for _, s := range sw.Broker.Snapshot(0).Sessions {
			if s.ClientID == c.ClientID() && !s.LastPoll.IsZero() {
				return true
			}
		}
		return false
	}
}

func TestServeHoldsNoMoreThanItsConcurrency(t *testing.T) {
	sw := rpcSwitch(t, "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	caller, slow, fast := rpcClient(t, sw.Addr), rpcClient(t, sw.Addr), rpcClient(t, sw.Addr)
	release := make(chan struct{})
	stopSlow := rpcServe(t, slow, "svc", lib.ServeOptions{Concurrency: 2}, func(ctx context.Context, r *lib.Request) ([]byte, error) {
		<-release
		return []byte("slow"), nil
	})
	defer stopSlow()
	testutil.Eventually(t, "the slow server", func() bool {
		qi, err := sw.Broker.Info("svc")
		return err == nil && qi.Subscribers == 1
	})
	answers := make(chan string, 10)
	for i := range 10 {
		go func() {
			got, err := caller.Call(ctx, "svc", []byte(fmt.Sprint(i)))
			if err != nil {
				got = []byte(err.Error())
			}
			answers <- string(got)
		}()
	}
	testutil.Eventually(t, "the slow server to hold two", queueIs(sw, "svc", 8, 2))
	// The other eight are left for other servers.
	stopFast := rpcServe(t, fast, "svc", lib.ServeOptions{Concurrency: 8}, func(ctx context.Context, r *lib.Request) ([]byte, error) {
		return []byte("fast"), nil
	})
	defer stopFast()
	for range 8 {
		if a := <-answers; a != "fast" {
			t.Fatalf("answer %q, want fast", a)
		}
	}
	close(release)
	for range 2 {
		if a := <-answers; a != "slow" {
			t.Fatalf("answer %q, want slow", a)
		}
	}
}

func TestServeWithMoreHandlersThanAWindow(t *testing.T) {
	// The switch pushes at most 65536 unacked requests to one consume;
	// a larger concurrency is clamped to that, not refused.
	sw := rpcSwitch(t, "127.0.0.1:0")
	caller, srv := rpcClient(t, sw.Addr), rpcClient(t, sw.Addr)
	stop := rpcServe(t, srv, "svc", lib.ServeOptions{Concurrency: 1 << 17}, func(_ context.Context, r *lib.Request) ([]byte, error) {
		return r.Payload, nil
	})
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if got, err := caller.Call(ctx, "svc", []byte("hi")); err != nil || string(got) != "hi" {
		t.Fatalf("call: %q %v", got, err)
	}
}
