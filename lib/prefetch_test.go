package lib_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"msw/internal/testutil"
	"msw/lib"
)

// TestServePrefetchHoldsAndRunsInOrder: with Concurrency 1 and Prefetch
// 4 the server holds four requests (one running, three waiting), never
// runs two at once, and handles them in the order sent.
func TestServePrefetchHoldsAndRunsInOrder(t *testing.T) {
	sw := rpcSwitch(t, "127.0.0.1:0")
	release := make(chan struct{})
	var running, most atomic.Int32
	var mu sync.Mutex
	var order []string
	rpcServe(t, rpcClient(t, sw.Addr), "work", lib.ServeOptions{Concurrency: 1, Prefetch: 4}, func(ctx context.Context, req *lib.Request) ([]byte, error) {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-release
		mu.Lock()
		order = append(order, string(req.Payload))
		mu.Unlock()
		running.Add(-1)
		return nil, nil
	})
	c := rpcClient(t, sw.Addr)
	ctx := context.Background()
	if err := c.CreateQueue(ctx, "work"); err != nil { // Serve may not have made it yet
		t.Fatal(err)
	}
	var want []string
	for i := range 6 {
		p := fmt.Sprint(i)
		want = append(want, p)
		if _, err := c.Send(ctx, "work", lib.Message{Payload: []byte(p)}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, "four requests held by the server, two left in the queue", queueIs(sw, "work", 2, 4))
	for range want {
		release <- struct{}{}
	}
	testutil.Eventually(t, "every request acked", queueIs(sw, "work", 0, 0))
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(order, want) {
		t.Errorf("handled in the order %q, want %q", order, want)
	}
	if m := most.Load(); m != 1 {
		t.Errorf("%d handlers ran at once, want 1", m)
	}
}

// TestServePrefetchedGivenBackOnStop: requests waiting for a handler go
// back to the queue when Serve stops, with the running one, and another
// server then answers every call.
func TestServePrefetchedGivenBackOnStop(t *testing.T) {
	sw := rpcSwitch(t, "127.0.0.1:0")
	started := make(chan struct{}, 1)
	stop := rpcServe(t, rpcClient(t, sw.Addr), "work", lib.ServeOptions{Concurrency: 1, Prefetch: 3}, stuck(started))
	res := callsInBackground(rpcClient(t, sw.Addr), "work", 3)
	<-started
	testutil.Eventually(t, "three requests held by the server", queueIs(sw, "work", 0, 3))
	if err := stop(); err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	testutil.Eventually(t, "the three requests given back", queueIs(sw, "work", 3, 0))

	rpcServe(t, rpcClient(t, sw.Addr), "work", lib.ServeOptions{}, answerDone)
	wantAllDone(t, res, 3)
}

// TestServePrefetchedNotLostWhenServerDies: a server whose connection
// dies while it holds requests, one running and the rest waiting, loses
// none: the switch puts them back at once, and another server answers
// every call.
func TestServePrefetchedNotLostWhenServerDies(t *testing.T) {
	sw := rpcSwitch(t, "127.0.0.1:0")
	via, cut := cuttable(t, sw.Addr)
	started := make(chan struct{}, 1)
	rpcServe(t, rpcClient(t, via), "work", lib.ServeOptions{Concurrency: 1, Prefetch: 4}, stuck(started))
	res := callsInBackground(rpcClient(t, sw.Addr), "work", 4)
	<-started
	testutil.Eventually(t, "four requests held by the server", queueIs(sw, "work", 0, 4))
	cut()
	testutil.Eventually(t, "the four requests back in the queue", queueIs(sw, "work", 4, 0))

	rpcServe(t, rpcClient(t, sw.Addr), "work", lib.ServeOptions{Concurrency: 2, Prefetch: 8}, answerDone)
	wantAllDone(t, res, 4)
}

// stuck is a handler that signals started, then waits for its context
// to end.
func stuck(started chan<- struct{}) lib.Handler {
	return func(ctx context.Context, req *lib.Request) ([]byte, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}
}

// answerDone answers "done " and the request.
func answerDone(ctx context.Context, req *lib.Request) ([]byte, error) {
	return append([]byte("done "), req.Payload...), nil
}

// callsInBackground makes n calls to queue at once, with payloads "0"
// to n-1, and reports each one's reply and error.
func callsInBackground(c *lib.Client, queue string, n int) <-chan string {
	res := make(chan string, n)
	for i := range n {
		go func() {
			got, err := c.Call(context.Background(), queue, []byte(fmt.Sprint(i)))
			res <- fmt.Sprintf("%s %v", got, err)
		}()
	}
	return res
}

// wantAllDone waits for the n calls of res and checks that answerDone
// answered each.
func wantAllDone(t *testing.T, res <-chan string, n int) {
	t.Helper()
	var got, want []string
	for i := range n {
		got = append(got, <-res)
		want = append(want, fmt.Sprintf("done %d <nil>", i))
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("calls answered %q, want %q", got, want)
	}
}

// cuttable relays TCP connections to addr; cut drops every one and
// refuses new ones, as a client's machine dying would.
func cuttable(t *testing.T, addr string) (via string, cut func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	dropped := false
	track := func(c net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if !dropped {
			conns = append(conns, c)
		}
		return !dropped
	}
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", addr)
			if err != nil {
				in.Close()
				continue
			}
			if !track(in) || !track(out) {
				in.Close()
				out.Close()
				continue
			}
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
	cut = func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		dropped = true
		for _, c := range conns {
			c.Close()
		}
	}
	t.Cleanup(cut)
	return ln.Addr().String(), cut
}

// TestServeDropsWaitingOfAGoneSession: requests waiting in the server
// when the switch restarts belong to a session that is gone (the
// restarted switch has them again, or their callers send them again): the
// server does not run them, and runs what the new session brings.
func TestServeDropsWaitingOfAGoneSession(t *testing.T) {
	sock := "unix:" + filepath.Join(t.TempDir(), "sock")
	sw := rpcSwitch(t, sock)
	hold := make(chan struct{})
	var mu sync.Mutex
	var ran []string
	// Room for more than it is sent: the serve loop, not short of
	// slots, logs in to the new switch while b, c and d wait.
	rpcServe(t, rpcClient(t, sock), "svc", lib.ServeOptions{Concurrency: 1, Prefetch: 8}, func(ctx context.Context, req *lib.Request) ([]byte, error) {
		if string(req.Payload) == "a" {
			<-hold
		}
		mu.Lock()
		ran = append(ran, string(req.Payload))
		mu.Unlock()
		return nil, nil
	})
	c := rpcClient(t, sock)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.CreateQueue(ctx, "svc"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a", "b", "c", "d"} {
		if _, err := c.Send(ctx, "svc", lib.Message{Payload: []byte(p)}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, "a running and b, c, d waiting in the server", queueIs(sw, "svc", 0, 4))

	sw.Stop()
	sw2 := rpcSwitch(t, sock)
	testutil.Eventually(t, "the server serving the new switch", func() bool {
		qi, err := sw2.Broker.Info("svc")
		return err == nil && qi.Subscribers == 1
	})
	if _, err := c.Send(ctx, "svc", lib.Message{Payload: []byte("e")}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "e pushed to the server", queueIs(sw2, "svc", 0, 1))
	close(hold)
	testutil.Eventually(t, "e handled and acked", queueIs(sw2, "svc", 0, 0))
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"a", "e"}; !slices.Equal(ran, want) {
		t.Errorf("the handler ran %q, want %q", ran, want)
	}
}
