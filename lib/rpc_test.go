package lib_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"msw/broker"
	"msw/internal/switchtest"
	"msw/internal/testutil"
	"msw/lib"
	"msw/server"
)

// rpcSwitch serves a fresh broker on addr ("127.0.0.1:0" or
// "unix:/path") until the test ends or Stop is called.
func rpcSwitch(t *testing.T, addr string) *switchtest.Switch {
	return switchtest.Start(t, addr, broker.Options{Grace: 300 * time.Millisecond}, switchLog(t))
}

func rpcClient(t *testing.T, addr string) *lib.Client {
	return switchtest.Client(t, addr, lib.Options{ClientID: t.Name(), Wait: 5 * time.Second})
}

// queueIs reports whether queue has the given ready and in-flight counts.
func queueIs(sw *switchtest.Switch, name string, depth, inflight int) func() bool {
	return func() bool {
		qi, err := sw.Broker.Info(name)
		return err == nil && qi.Depth == depth && qi.InFlight == inflight
	}
}

// serve runs c.Serve in the background; the returned stop cancels it and
// returns Serve's result.
func rpcServe(t *testing.T, c *lib.Client, queue string, opts lib.ServeOptions, h lib.Handler) (stop func() error) {
	t.Helper()
	if opts.Logf == nil {
		l := testutil.LogWriter(t, "serve "+queue+": ")
		opts.Logf = func(format string, args ...any) { fmt.Fprintf(l, format+"\n", args...) }
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Serve(ctx, queue, opts, h) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(10 * time.Second):
				err = errors.New("Serve did not return")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func rpcEcho(ctx context.Context, req *lib.Request) ([]byte, error) { return req.Payload, nil }

func TestCallManyConcurrent(t *testing.T) {
	sw := rpcSwitch(t, "127.0.0.1:0")
	srvc := rpcClient(t, sw.Addr)
	var maxRunning, running atomic.Int32
	rpcServe(t, srvc, "svc", lib.ServeOptions{Concurrency: 8}, func(ctx context.Context, req *lib.Request) ([]byte, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := maxRunning.Load()
			if n <= m || maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		return append([]byte("re:"), req.Payload...), nil
	})

	c := rpcClient(t, sw.Addr)
	const callers, per = 64, 20
	var wg sync.WaitGroup
	errc := make(chan error, callers*per)
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				body := fmt.Sprintf("%d/%d", g, i)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				got, err := c.Call(ctx, "svc", []byte(body))
				cancel()
				if err != nil {
					errc <- err
					return
				}
				if string(got) != "re:"+body {
					errc <- fmt.Errorf("call %q got reply %q", body, got)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if m := maxRunning.Load(); m > 8 {
		t.Errorf("%d handlers ran at once; concurrency is 8", m)
	}
	testutil.Eventually(t, "svc drained", queueIs(sw, "svc", 0, 0))
}

// A call to a queue the switch would refuse is refused before anything is
// sent, with the error the name deserves.
func TestCallBadQueueNameRefused(t *testing.T) {
	sw := rpcSwitch(t, "127.0.0.1:0")
	c := rpcClient(t, sw.Addr)
	for _, name := range []string{"", "..", "a/b"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.Call(ctx, name, []byte("x"))
		cancel()
		if !lib.IsCode(err, lib.CodeBadQueueName) {
			t.Errorf("Call(%q) = %v; want a bad_queue_name error", name, err)
		}
	}
}

func TestCallBeforeServe(t *testing.T) {
	// The quick start: the call is made first and blocks until a server
	// comes.
	sw := rpcSwitch(t, "127.0.0.1:0")
	c := rpcClient(t, sw.Addr)
	res := make(chan string, 1)
	go func() {
		got, err := c.Call(context.Background(), "late", []byte("hello"))
		if err != nil {
			res <- "error: " + err.Error()
			return
		}
		res <- string(got)
	}()
	testutil.Eventually(t, "request queued", queueIs(sw, "late", 1, 0))
	rpcServe(t, rpcClient(t, sw.Addr), "late", lib.ServeOptions{}, rpcEcho)
	if got := <-res; got != "hello" {
		t.Fatalf("got %q", got)
	}
	testutil.Eventually(t, "request acked", queueIs(sw, "late", 0, 0))
}

func TestCallBinaryPayload(t *testing.T) {
	sw := rpcSwitch(t, "127.0.0.1:0")
	c := rpcClient(t, sw.Addr)
	rpcServe(t, c, "bin", lib.ServeOptions{}, rpcEcho)
	payload := make([]byte, 256*3)
	for i := range payload {
		payload[i] = byte(i)
	}
	for _, p := range [][]byte{payload, {}, {0}, []byte("\r\n\x00\xff")} {
		got, err := c.Call(context.Background(), "bin", p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, p) {
			t.Fatalf("sent %q, got %q", p, got)
		}
	}
}

func TestHandlerErrors(t *testing.T) {
	sw := rpcSwitch(t, "127.0.0.1:0")
	c := rpcClient(t, sw.Addr)
	rpcServe(t, c, "fail", lib.ServeOptions{Concurrency: 2}, func(ctx context.Context, req *lib.Request) ([]byte, error) {
		switch string(req.Payload) {
		case "remote":
			return nil, &lib.RemoteError{Status: 3, Message: "disk full\n"}
		case "plain":
			return nil, errors.New("plain failure")
		case "zero":
			return nil, &lib.RemoteError{Status: 0, Message: "status zero"}
		}
		return []byte("ok"), nil
	})
	for _, tc := range []struct {
		body, msg string
		status    int
	}{
		{"remote", "disk full\n", 3},
		{"plain", "plain failure", 1},
		{"zero", "status zero", 1},
	} {
		_, err := c.Call(context.Background(), "fail", []byte(tc.body))
		var re *lib.RemoteError
		if !errors.As(err, &re) {
			t.Fatalf("%s: got %v, want a RemoteError", tc.body, err)
		}
		if re.Status != tc.status || re.Message != tc.msg {
			t.Errorf("%s: got status %d message %q; want %d %q", tc.body, re.Status, re.Message, tc.status, tc.msg)
		}
	}
	if got, err := c.Call(context.Background(), "fail", []byte("fine")); err != nil || string(got) != "ok" {
		t.Fatalf("after failures: got %q, %v", got, err)
	}
	testutil.Eventually(t, "failures acked", queueIs(sw, "fail", 0, 0))
}

// callInBackground makes a call in a goroutine; its error arrives on the
// channel returned.
func callInBackground(ctx context.Context, c *lib.Client, queue, payload string) <-chan error {
	errc := make(chan error, 1)
	go func() {
		_, err := c.Call(ctx, queue, []byte(payload))
		errc <- err
	}()
	return errc
}

func TestCallCancelWithdraws(t *testing.T) {
	sw := rpcSwitch(t, "127.0.0.1:0")
	c := rpcClient(t, sw.Addr)
	ctx, cancel := context.WithCancel(context.Background())
	errc := callInBackground(ctx, c, "nobody", "anyone?")
	testutil.Eventually(t, "request queued", queueIs(sw, "nobody", 1, 0))
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	// Withdrawn before Call returned.
	if !queueIs(sw, "nobody", 0, 0)() {
		qi, _ := sw.Broker.Info("nobody")
		t.Fatalf("request not withdrawn: depth %d, in flight %d", qi.Depth, qi.InFlight)
	}

	// A deadline does the same.
	dctx, dcancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer dcancel()
	if _, err := c.Call(dctx, "nobody", []byte("still?")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	if !queueIs(sw, "nobody", 0, 0)() {
		t.Fatal("request not withdrawn after deadline")
	}
}

func TestCallCancelTakenLateReplyDiscarded(t *testing.T) {
	sw := rpcSwitch(t, "127.0.0.1:0")
	c := rpcClient(t, sw.Addr)
	release := make(chan struct{})
	rpcServe(t, rpcClient(t, sw.Addr), "slow", lib.ServeOptions{Concurrency: 2}, func(ctx context.Context, req *lib.Request) ([]byte, error) {
		if string(req.Payload) == "slow" {
			<-release
		}
		return append([]byte("re:"), req.Payload...), nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	errc := callInBackground(ctx, c, "slow", "slow")
	testutil.Eventually(t, "request taken", queueIs(sw, "slow", 0, 1))
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if !queueIs(sw, "slow", 0, 1)() {
		t.Fatal("a taken request must be left to finish")
	}
	close(release)
	testutil.Eventually(t, "late request acked", queueIs(sw, "slow", 0, 0))
	// The late reply is dropped; the next call gets its own.
	got, err := c.Call(context.Background(), "slow", []byte("next"))
	if err != nil || string(got) != "re:next" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestServeGivesBackOnStop(t *testing.T) {
	sw := rpcSwitch(t, "127.0.0.1:0")
	started := make(chan struct{}, 1)
	var cancelled atomic.Bool
	stop := rpcServe(t, rpcClient(t, sw.Addr), "work", lib.ServeOptions{}, func(ctx context.Context, req *lib.Request) ([]byte, error) {
		started <- struct{}{}
		<-ctx.Done()
		cancelled.Store(true)
		return nil, ctx.Err()
	})
	c := rpcClient(t, sw.Addr)
	res := make(chan string, 1)
	go func() {
		got, err := c.Call(context.Background(), "work", []byte("job"))
		res <- fmt.Sprintf("%s %v", got, err)
	}()
	<-started
	if err := stop(); err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	if !cancelled.Load() {
		t.Error("the running handler's context was not cancelled")
	}
	testutil.Eventually(t, "request given back", queueIs(sw, "work", 1, 0))

	// A second server gets it, marked redelivered.
	var redelivered atomic.Bool
	rpcServe(t, rpcClient(t, sw.Addr), "work", lib.ServeOptions{}, func(ctx context.Context, req *lib.Request) ([]byte, error) {
		redelivered.Store(req.Redelivered && req.DeliveryCount == 2)
		return []byte("done"), nil
	})
	if got := <-res; got != "done <nil>" {
		t.Fatalf("got %q", got)
	}
	if !redelivered.Load() {
		t.Error("second delivery not marked redelivered with count 2")
	}
}

func TestServeGraceLetsRunningFinish(t *testing.T) {
	sw := rpcSwitch(t, "127.0.0.1:0")
	started := make(chan struct{}, 1)
	finish := make(chan struct{})
	stop := rpcServe(t, rpcClient(t, sw.Addr), "work", lib.ServeOptions{Grace: 10 * time.Second}, func(ctx context.Context, req *lib.Request) ([]byte, error) {
		started <- struct{}{}
		<-finish
		return []byte("finished"), nil
	})
	c := rpcClient(t, sw.Addr)
	res := make(chan string, 1)
	go func() {
		got, err := c.Call(context.Background(), "work", []byte("job"))
		res <- fmt.Sprintf("%s %v", got, err)
	}()
	<-started
	consumeEnded := make(chan struct{})
	defer lib.OnServeConsumeEnded(func() { close(consumeEnded) })()
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// Stopped servers take nothing new: sent once the switch pushes the
	// server nothing more (sent before, it could be pushed, and run, if
	// the running request's reply reached the switch before the stop).
	<-consumeEnded
	_, err := c.Send(context.Background(), "work", lib.Message{Payload: []byte("not taken")})
	if err != nil {
		t.Fatal(err)
	}
	close(finish)
	if err := <-stopped; err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	if got := <-res; got != "finished <nil>" {
		t.Fatalf("got %q", got)
	}
	testutil.Eventually(t, "only the new request left", queueIs(sw, "work", 1, 0))
}

func TestServeTimeout(t *testing.T) {
	sw := rpcSwitch(t, "127.0.0.1:0")
	c := rpcClient(t, sw.Addr)
	rpcServe(t, c, "t", lib.ServeOptions{Timeout: 50 * time.Millisecond}, func(ctx context.Context, req *lib.Request) ([]byte, error) {
		if string(req.Payload) == "ignore" {
			time.Sleep(200 * time.Millisecond) // ignores its context
			return []byte("too late"), nil
		}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	for _, body := range []string{"honour", "ignore"} {
		_, err := c.Call(context.Background(), "t", []byte(body))
		var re *lib.RemoteError
		if !errors.As(err, &re) || re.Status != lib.StatusTimeout {
			t.Fatalf("%s: got %v, want a timeout failure", body, err)
		}
	}
}

// A handler's context ends when the handler returns, before its reply
// leaves: a goroutine it started with that context stops, whether or not
// the handler looked at the context itself.
func TestServeHandlerContextEndsWithHandler(t *testing.T) {
	sw := rpcSwitch(t, "127.0.0.1:0")
	c := rpcClient(t, sw.Addr)
	kept := make(chan context.Context, 1)
	rpcServe(t, c, "ctx", lib.ServeOptions{}, func(ctx context.Context, req *lib.Request) ([]byte, error) {
		if string(req.Payload) == "look" && ctx.Err() != nil {
			return nil, fmt.Errorf("context done while its handler runs: %v", ctx.Err())
		}
		kept <- ctx
		return req.Payload, nil
	})
	for _, body := range []string{"ignore", "look"} {
		if _, err := c.Call(context.Background(), "ctx", []byte(body)); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		ctx := <-kept
		select {
		case <-ctx.Done():
		default:
			t.Fatalf("%s: the handler's context is not done once its reply came", body)
		}
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Fatalf("%s: err %v, want Canceled", body, ctx.Err())
		}
	}
}

func TestServeNoReplyTo(t *testing.T) {
	sw := rpcSwitch(t, "127.0.0.1:0")
	c := rpcClient(t, sw.Addr)
	got := make(chan string, 1)
	rpcServe(t, c, "oneway", lib.ServeOptions{}, func(ctx context.Context, req *lib.Request) ([]byte, error) {
		got <- string(req.Payload)
		return []byte("nobody reads this"), nil
	})
	testutil.Eventually(t, "server subscribed", func() bool {
		qi, err := sw.Broker.Info("oneway")
		return err == nil && qi.Subscribers == 1
	})
	if _, err := c.Send(context.Background(), "oneway", lib.Message{Payload: []byte("fire and forget")}); err != nil {
		t.Fatal(err)
	}
	if g := <-got; g != "fire and forget" {
		t.Fatalf("handler got %q", g)
	}
	testutil.Eventually(t, "acked", queueIs(sw, "oneway", 0, 0))
}

func TestCallSurvivesSwitchRestart(t *testing.T) {
	sock := "unix:" + filepath.Join(t.TempDir(), "sock")
	sw := rpcSwitch(t, sock)
	c := rpcClient(t, sock)
	res := make(chan string, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		got, err := c.Call(ctx, "svc", []byte("survive"))
		res <- fmt.Sprintf("%s %v", got, err)
	}()
	testutil.Eventually(t, "request queued", queueIs(sw, "svc", 1, 0))
	sw.Stop() // everything it held is lost

	sw2 := rpcSwitch(t, sock)
	testutil.Eventually(t, "request sent again", queueIs(sw2, "svc", 1, 0))
	rpcServe(t, rpcClient(t, sock), "svc", lib.ServeOptions{}, rpcEcho)
	if got := <-res; got != "survive <nil>" {
		t.Fatalf("got %q", got)
	}
}

func TestServeSurvivesSwitchRestart(t *testing.T) {
	sock := "unix:" + filepath.Join(t.TempDir(), "sock")
	sw := rpcSwitch(t, sock)
	rpcServe(t, rpcClient(t, sock), "svc", lib.ServeOptions{Concurrency: 2}, rpcEcho)
	c := rpcClient(t, sock)
	if got, err := c.Call(context.Background(), "svc", []byte("one")); err != nil || string(got) != "one" {
		t.Fatalf("got %q, %v", got, err)
	}
	sw.Stop()
	sw2 := rpcSwitch(t, sock)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if got, err := c.Call(ctx, "svc", []byte("two")); err != nil || string(got) != "two" {
		t.Fatalf("after restart: got %q, %v", got, err)
	}
	testutil.Eventually(t, "acked", queueIs(sw2, "svc", 0, 0))
}

func TestCallUnreachable(t *testing.T) {
	c, err := lib.New(lib.Options{Addr: "unix:" + filepath.Join(t.TempDir(), "none")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Call(context.Background(), "q", []byte("x")); !errors.Is(err, lib.ErrUnreachable) {
		t.Fatalf("got %v, want ErrUnreachable", err)
	}
	if err := c.Serve(context.Background(), "q", lib.ServeOptions{}, rpcEcho); !errors.Is(err, lib.ErrUnreachable) {
		t.Fatalf("Serve: got %v, want ErrUnreachable", err)
	}
}

func TestCloseEndsCallsAndServe(t *testing.T) {
	sw := rpcSwitch(t, "127.0.0.1:0")
	c, err := lib.New(lib.Options{Addr: sw.Addr})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- c.Serve(context.Background(), "other", lib.ServeOptions{}, rpcEcho) }()
	called := make(chan error, 1)
	go func() {
		_, err := c.Call(context.Background(), "q", []byte("x"))
		called <- err
	}()
	testutil.Eventually(t, "request queued", queueIs(sw, "q", 1, 0))
	testutil.Eventually(t, "server subscribed", func() bool {
		qi, err := sw.Broker.Info("other")
		return err == nil && qi.Subscribers == 1
	})
	c.Close()
	if err := <-called; !errors.Is(err, lib.ErrClosed) {
		t.Fatalf("Call after Close = %v; want ErrClosed", err)
	}
	if err := <-served; !errors.Is(err, lib.ErrClosed) {
		t.Fatalf("Serve after Close = %v; want ErrClosed", err)
	}
	if _, err := c.Call(context.Background(), "q", []byte("y")); !errors.Is(err, lib.ErrClosed) {
		t.Errorf("Call on a closed client = %v; want ErrClosed", err)
	}
	if err := c.CreateQueue(context.Background(), "q2"); !errors.Is(err, lib.ErrClosed) {
		t.Errorf("CreateQueue on a closed client = %v; want ErrClosed", err)
	}
	// The caller's reply queue went with its session.
	testutil.Eventually(t, "no transient queues", func() bool {
		for _, qi := range sw.Broker.List("", true) {
			if qi.Kind == "transient" {
				return false
			}
		}
		return true
	})
}

func TestHandlerGivesBack(t *testing.T) {
	sw := rpcSwitch(t, "127.0.0.1:0")
	var first atomic.Bool
	first.Store(true)
	rpcServe(t, rpcClient(t, sw.Addr), "gb", lib.ServeOptions{}, func(ctx context.Context, req *lib.Request) ([]byte, error) {
		if first.CompareAndSwap(true, false) {
			return nil, fmt.Errorf("not now: %w", lib.ErrGiveBack)
		}
		return []byte(fmt.Sprintf("delivery %d", req.DeliveryCount)), nil
	})
	got, err := rpcClient(t, sw.Addr).Call(context.Background(), "gb", []byte("x"))
	if err != nil || string(got) != "delivery 2" {
		t.Fatalf("got %q, %v; want the request answered on its second delivery", got, err)
	}
}

// BenchmarkCall measures round trips through an in-process switch over
// loopback TCP, with 1, 16 and 64 callers sharing one Client and a
// server handling 64 requests at a time.
func BenchmarkCall(b *testing.B) {
	for _, callers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			brk := broker.New(broker.Options{})
			srv := server.New(brk, server.Options{})
			l, err := server.Listen("127.0.0.1:0", 0o600)
			if err != nil {
				b.Fatal(err)
			}
			go srv.Serve(l)
			defer srv.Shutdown(context.Background())
			addr := l.Addr().String()
			sc, _ := lib.New(lib.Options{Addr: addr})
			defer sc.Close()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				sc.Serve(ctx, "bench", lib.ServeOptions{Concurrency: 64}, rpcEcho)
			}()
			defer func() { cancel(); <-done }()
			c, _ := lib.New(lib.Options{Addr: addr})
			defer c.Close()
			payload := make([]byte, 100)
			if _, err := c.Call(context.Background(), "bench", payload); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			cpu0, wake0 := processCPU(), goroutineWakeups()
			var n atomic.Int64
			var wg sync.WaitGroup
			for range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n.Add(1) <= int64(b.N) {
						if _, err := c.Call(context.Background(), "bench", payload); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
			// What a loaded machine does not move much: the CPU the
			// process (callers, server and switch) spends per call, and
			// how often a goroutine was made to run per call.
			b.ReportMetric(float64(processCPU()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/call")
			b.ReportMetric(float64(goroutineWakeups()-wake0)/float64(b.N), "wakeups/call")
		})
	}
}

// processCPU is the CPU time the process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// goroutineWakeups estimates how many times goroutines have been made
// to run after being runnable: the count of the runtime's scheduling
// latency histogram, which samples one goroutine transition in eight.
func goroutineWakeups() uint64 {
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	var n uint64
	for _, c := range s[0].Value.Float64Histogram().Counts {
		n += c
	}
	return 8 * n
}

func TestReplyTooLargeBecomesFailure(t *testing.T) {
	sw := switchtest.Start(t, "", broker.Options{MaxPayload: 1000}, switchLog(t))
	c := rpcClient(t, sw.Addr)
	rpcServe(t, c, "big", lib.ServeOptions{}, func(ctx context.Context, req *lib.Request) ([]byte, error) {
		return make([]byte, 2000), nil
	})
	_, err := c.Call(context.Background(), "big", []byte("x"))
	var re *lib.RemoteError
	if !errors.As(err, &re) || re.Status != 1 {
		t.Fatalf("got %v, want a failure reply", err)
	}
	t.Log(re.Message)
}
