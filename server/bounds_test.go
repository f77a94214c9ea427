package server_test

// Attacks on the switch's bounds, each refused at its documented limit
// while an RPC on another connection keeps working. The fast variants
// run in make test; MSW_ATTACK=1 runs them at the full sizes
// (see README, Limits, for figures).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
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

// heavy reports whether the attack tests run at full size.
func heavy() bool { return os.Getenv("MSW_ATTACK") != "" }

// scale is n at full size, small otherwise.
func scale(full, small int) int {
	if heavy() {
		return full
	}
	return small
}

// rssMiB is this process's resident memory (the switch runs in it).
func rssMiB() float64 { return readRSS("/proc/self/status") }

// rssOf is the resident memory of process pid.
func rssOf(pid int) float64 { return readRSS("/proc/" + strconv.Itoa(pid) + "/status") }

// readRSS reads VmRSS from a /proc status file, in MiB.
func readRSS(status string) float64 { return readStatus(status, "VmRSS:") }

// peakRSSMiB is this process's highest resident memory so far.
func peakRSSMiB() float64 { return readStatus("/proc/self/status", "VmHWM:") }

// readStatus reads a size in kB from a /proc status file, in MiB.
func readStatus(status, field string) float64 {
	b, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

// echo serves queue "quiet" from a client of its own until the test
// ends, and returns a caller on yet another connection.
func echo(t *testing.T, addr string) *lib.Client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := switchtest.Client(t, addr, lib.Options{ClientID: "echo"})
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ctx, "quiet", lib.ServeOptions{}, func(_ context.Context, r *lib.Request) ([]byte, error) {
			return r.Payload, nil
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	caller := switchtest.Client(t, addr, lib.Options{ClientID: "caller"})
	rpc(t, caller) // warm: the reply queue and the stream exist
	return caller
}

// rpc makes one call on the quiet queue and returns how long it took.
func rpc(t *testing.T, c *lib.Client) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	reply, err := c.Call(ctx, "quiet", []byte("ping"))
	if err != nil || string(reply) != "ping" {
		t.Fatalf("RPC on the quiet queue: %q %v", reply, err)
	}
	return time.Since(start)
}

// rpcTimes makes n RPCs and returns how long each took.
func rpcTimes(t *testing.T, c *lib.Client, n int) []time.Duration {
	ds := make([]time.Duration, n)
	for i := range ds {
		ds[i] = rpc(t, c)
	}
	return ds
}

// figures prints the median, p99 and slowest of RPC times.
func figures(ds []time.Duration) string {
	ds = slices.Sorted(slices.Values(ds))
	return fmt.Sprintf("p50 %v, p99 %v, max %v", ds[len(ds)/2], ds[len(ds)*99/100], ds[len(ds)-1])
}

// TestMemoryBound: a producer floods an unbounded queue; the switch
// refuses sends with 507 memory_full once its messages hold
// --max-memory, counted per message as well as per byte, while an RPC on
// a quiet queue keeps its latency.
func TestMemoryBound(t *testing.T) {
	bound := int64(32 << 20)
	const headroom = 256 << 20 // as msw-switch gives the runtime (switchd.memoryHeadroom)
	if heavy() {
		bound = 1 << 30
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(bound + headroom))
	}
	sw := switchtest.Start(t, "", broker.Options{MaxMemory: bound, TraceSize: -1}, server.Options{})
	caller := echo(t, sw.Addr)
	before := rpcTimes(t, caller, scale(2000, 200))
	t.Logf("RPC on the quiet queue before the flood (%d calls): %s", len(before), figures(before))
	rss0 := rssMiB()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	prod := switchtest.Client(t, sw.Addr, lib.Options{ClientID: "flood"})
	if err := prod.CreateQueue(ctx, "flood"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	floodErr := make(chan error, 1)
	var sent int
	go func() {
		batch := make([]lib.Message, 256)
		for i := range batch {
			batch[i].Payload = bytes.Repeat([]byte("x"), 100)
		}
		for {
			select {
			case <-stop:
				floodErr <- nil
				return
			default:
			}
			if _, err := prod.SendBatch(ctx, "flood", batch); err != nil {
				floodErr <- err
				return
			}
			sent += len(batch)
		}
	}()
	// RPCs go on until the flood is refused, so that they see it at
	// every size up to the bound (not only its first milliseconds).
	var during []time.Duration
	var err error
	deadline := time.After(4 * time.Minute)
measure:
	for {
		during = append(during, rpc(t, caller))
		select {
		case err = <-floodErr:
			break measure
		case <-deadline:
			close(stop)
			err = <-floodErr
			break measure
		default:
		}
	}
	t.Logf("RPC on the quiet queue during the flood (%d calls): %s", len(during), figures(during))
	if !lib.IsCode(err, lib.CodeMemoryFull) {
		t.Fatalf("the flood ended with %v; want %s", err, lib.CodeMemoryFull)
	}
	held := sw.Broker.Held()
	rss := rssMiB()
	t.Logf("refused after %d messages of 100 B: %v; held %d of %d bytes; RSS %.0f → %.0f MiB (peak %.0f)", sent, err, held, bound, rss0, rss, peakRSSMiB())
	if heavy() && !raceEnabled && rss > float64(bound+headroom)/(1<<20) {
		t.Errorf("resident memory %.0f MiB; want under the bound and %d MiB", rss, headroom>>20)
	}
	if held > bound {
		t.Errorf("held %d bytes, over the bound %d", held, bound)
	}
	if want := int64(sent) * (100 + wire.MessageOverhead); held < want {
		t.Errorf("held %d bytes for %d messages; want at least %d (payload and overhead each)", held, sent, want)
	}
	// Taking messages off makes room again.
	if err := prod.DestroyQueue(ctx, "flood", lib.DestroyOptions{}); err != nil {
		t.Fatal(err)
	}
	if h := sw.Broker.Held(); h > 1<<20 {
		t.Errorf("after destroying the queue the switch holds %d bytes", h)
	}
	rpc(t, caller)
}

// TestBoundedQueueFlood: producers flood a queue bounded by max-depth
// (overflow reject) and get 429 queue_full for everything past the bound,
// while an RPC on another queue is timed before and during the flood.
// The queue ends holding exactly its bound; no call fails.
func TestBoundedQueueFlood(t *testing.T) {
	const maxDepth, producers = 1000, 4
	sw := switchtest.Start(t, "", broker.Options{TraceSize: -1}, server.Options{})
	caller := echo(t, sw.Addr)
	calls := scale(20000, 300)
	before := rpcTimes(t, caller, calls)
	t.Logf("RPC on the quiet queue before the flood (%d calls): %s", len(before), figures(before))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	admin := switchtest.Client(t, sw.Addr, lib.Options{ClientID: "admin"})
	if _, err := admin.SetPolicy(ctx, "bounded", lib.Policy{MaxDepth: maxDepth, Overflow: lib.OverflowReject}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	type tally struct {
		accepted, refused int
		other             error
	}
	tallies := make(chan tally, producers)
	for p := range producers {
		prod := switchtest.Client(t, sw.Addr, lib.Options{ClientID: fmt.Sprintf("flood%d", p)})
		go func() {
			var n tally
			defer func() { tallies <- n }()
			batch := make([]lib.Message, 64)
			for i := range batch {
				batch[i].Payload = bytes.Repeat([]byte("x"), 100)
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				// A batch this small is one request: taken whole or not at all.
				_, err := prod.SendBatch(ctx, "bounded", batch)
				switch {
				case err == nil:
					n.accepted += len(batch)
				case lib.IsCode(err, lib.CodeQueueFull):
					n.refused++
				case err != nil:
					n.other = err
					return
				}
			}
		}()
	}
	// The flood runs until the RPCs are done: they see it from its first
	// batch to well past the bound.
	during := rpcTimes(t, caller, calls)
	close(stop)
	var total tally
	for range producers {
		n := <-tallies
		total.accepted += n.accepted
		total.refused += n.refused
		if n.other != nil {
			t.Errorf("a flooding producer failed with %v; want only %s", n.other, lib.CodeQueueFull)
		}
	}
	t.Logf("RPC on the quiet queue during the flood (%d calls): %s", len(during), figures(during))
	t.Logf("flood of %d producers: %d messages accepted, %d batches refused with queue_full", producers, total.accepted, total.refused)
	if total.refused == 0 {
		t.Errorf("no batch was refused; want queue_full past max-depth %d", maxDepth)
	}
	qi, err := admin.Info(ctx, "bounded")
	if err != nil {
		t.Fatal(err)
	}
	if qi.Depth != total.accepted || qi.Depth > maxDepth {
		t.Errorf("the bounded queue holds %d messages; %d were accepted, bound %d", qi.Depth, total.accepted, maxDepth)
	}
}

// TestBodyOfEmptyMessages: a frames body of more than
// wire.MaxSendMessages empty messages is refused with 413 before it is
// stored; one of exactly that many is taken, each message charged.
func TestBodyOfEmptyMessages(t *testing.T) {
	sw := switchtest.Start(t, "", broker.Options{TraceSize: -1}, server.Options{})
	if err := sw.Broker.CreateQueue(nil, "q"); err != nil {
		t.Fatal(err)
	}
	var frame []byte
	frame = wire.AppendSendFrame(frame, &wire.Message{})
	post := func(n int) (int, string) {
		body := bytes.Repeat(frame, n)
		resp, err := http.Post("http://"+sw.Addr+wire.OpSend.Path("q", 0), wire.ContentTypeFrames, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	n := wire.MaxSendMessages + 1
	if heavy() {
		n = (64 << 20) / len(frame) // 64 MiB of empty messages
	}
	rss0 := rssMiB()
	status, body := post(n)
	t.Logf("%d empty messages (%d bytes): %d %s; RSS %.0f → %.0f MiB", n, n*len(frame), status, strings.TrimSpace(body), rss0, rssMiB())
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, wire.CodeTooLarge) {
		t.Errorf("%d messages in one body: %d %s; want 413", n, status, body)
	}
	if status, body := post(wire.MaxSendMessages); status != http.StatusOK {
		t.Errorf("%d messages: %d %s; want 200", wire.MaxSendMessages, status, body)
	}
	if h := sw.Broker.Held(); h != int64(wire.MaxSendMessages)*wire.MessageOverhead {
		t.Errorf("held %d bytes for %d empty messages; want %d", h, wire.MaxSendMessages, wire.MaxSendMessages*wire.MessageOverhead)
	}
	// The library splits a batch of more into requests the switch takes.
	c := switchtest.Client(t, sw.Addr, lib.Options{})
	if _, err := c.SendBatch(context.Background(), "q", make([]lib.Message, wire.MaxSendMessages*2+1)); err != nil {
		t.Errorf("SendBatch of %d empty messages: %v", wire.MaxSendMessages*2+1, err)
	}
}

// TestCountBounds: sessions, queues and subscriptions each refused with
// 429 limit_reached at their bound, while an RPC keeps working.
func TestCountBounds(t *testing.T) {
	maxSessions, maxQueues, maxSubs := scale(100000, 200), scale(200000, 2000), 500
	// Sessions outlive the test's connections: each login's keep-alive
	// connection may be replaced on the way.
	sw := switchtest.Start(t, "", broker.Options{MaxSessions: maxSessions, MaxQueues: maxQueues, MaxSubscriptions: maxSubs, Grace: time.Hour, TraceSize: -1}, server.Options{})
	caller := echo(t, sw.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rss0 := rssMiB()

	// Queues: created through the broker up to the bound (fast), the last
	// ones and the refusal through HTTP.
	base := len(sw.Broker.List("", true))
	for i := base; i < maxQueues-1; i++ {
		if err := sw.Broker.CreateQueue(nil, fmt.Sprintf("q%d", i)); err != nil {
			t.Fatalf("queue %d: %v", i, err)
		}
	}
	c := switchtest.Client(t, sw.Addr, lib.Options{})
	if err := c.CreateQueue(ctx, "last"); err != nil {
		t.Fatalf("queue %d: %v", maxQueues, err)
	}
	err := c.CreateQueue(ctx, "one-too-many")
	if !lib.IsCode(err, lib.CodeLimit) || !strings.Contains(err.Error(), strconv.Itoa(maxQueues)+" queues") {
		t.Errorf("queue %d: %v; want 429 %s naming the bound", maxQueues+1, err, lib.CodeLimit)
	}
	_, err = c.CreateTransient(ctx, "")
	if !lib.IsCode(err, lib.CodeLimit) {
		t.Errorf("a transient queue past the bound: %v; want %s", err, lib.CodeLimit)
	}
	t.Logf("queues: %d, then %v; RPC %v; RSS %.0f → %.0f MiB", maxQueues, err, rpc(t, caller), rss0, rssMiB())

	// /metrics and the diagnostics stay bounded however many queues.
	for _, path := range []string{wire.PathMetrics, wire.PathDiagnostics + "?max_messages=1000000"} {
		start := time.Now()
		resp, err := http.Get("http://" + sw.Addr + path)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t.Logf("GET %s with %d queues: %d bytes in %v", path, maxQueues, n, time.Since(start).Round(time.Millisecond))
		if n > 4<<20 {
			t.Errorf("GET %s: %d bytes; want a bounded answer", path, n)
		}
	}

	// Subscriptions: one session up to its bound.
	names := make([]string, maxSubs+1)
	for i := range names {
		names[i] = fmt.Sprintf("q%d", base+i)
	}
	if err := c.Subscribe(ctx, names[:maxSubs]...); err != nil {
		t.Fatal(err)
	}
	err = c.Subscribe(ctx, names[maxSubs])
	if !lib.IsCode(err, lib.CodeLimit) {
		t.Errorf("subscription %d: %v; want %s", maxSubs+1, err, lib.CodeLimit)
	}
	t.Logf("subscriptions: %d, then %v", maxSubs, err)

	// Sessions: logins up to the bound, straight over HTTP.
	have := len(sw.Broker.Snapshot(0).Sessions)
	var refused string
	for i := have; i <= maxSessions; i++ {
		resp, err := http.Post("http://"+sw.Addr+wire.PathSession, wire.ContentTypeJSON, strings.NewReader(`{"client_id":"many"}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			if i < maxSessions || resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("login %d of %d: %d %s", i+1, maxSessions, resp.StatusCode, b)
			}
			refused = strings.TrimSpace(string(b))
		}
	}
	if refused == "" {
		t.Errorf("login %d: not refused", maxSessions+1)
	}
	t.Logf("sessions: %d, then %s; RPC %v; RSS %.0f MiB", maxSessions, refused, rpc(t, caller), rssMiB())
}

// TestWaitingBound: transfers left waiting on one stream are bounded;
// the one past the bound gets 429.
func TestWaitingBound(t *testing.T) {
	const perStream = 20
	sw := switchtest.Start(t, "", broker.Options{}, server.Options{Limits: server.Limits{MaxWaitingPerStream: perStream}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := switchtest.Client(t, sw.Addr, lib.Options{})
	if err := c.CreateQueue(ctx, "empty"); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(ctx, "empty"); err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	errs := make(chan error, perStream+5)
	var wg sync.WaitGroup
	for i := 0; i < perStream+5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Transfer(wctx, lib.TransferOptions{Timeout: 20 * time.Second})
			errs <- err
		}()
	}
	var limited int
	testutil.Eventually(t, "5 transfers refused", func() bool {
		for {
			select {
			case err := <-errs:
				if !lib.IsCode(err, lib.CodeLimit) {
					t.Errorf("a waiting transfer ended with %v", err)
				}
				limited++
				continue
			default:
			}
			return limited >= 5
		}
	})
	stop()
	wg.Wait()
	t.Logf("%d transfers waiting on one stream; %d more refused with 429", perStream, limited)
}

// zeros is an endless body that counts what was read of it.
type zeros struct {
	mu   sync.Mutex
	read int64
	max  int64
}

func (z *zeros) Read(p []byte) (int, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.read >= z.max {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), z.max-z.read))
	clear(p[:n])
	z.read += int64(n)
	return n, nil
}

// TestChunkedUpload: a 1 GiB chunked upload of one message is refused
// with 413 once it passes the payload limit, long before its end, and
// memory rises by less than the limit and a small constant.
func TestChunkedUpload(t *testing.T) {
	const limit = 16 << 20
	sw := switchtest.Start(t, "", broker.Options{MaxPayload: limit, TraceSize: -1}, server.Options{})
	if err := sw.Broker.CreateQueue(nil, "q"); err != nil {
		t.Fatal(err)
	}
	body := &zeros{max: 1 << 30}
	req, err := http.NewRequest("POST", "http://"+sw.Addr+wire.OpSend.Path("q", 0), body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // chunked
	rss0 := rssMiB()
	resp, err := http.DefaultClient.Do(req)
	var status int
	if err == nil {
		status = resp.StatusCode
		resp.Body.Close()
	}
	body.mu.Lock()
	read := body.read
	body.mu.Unlock()
	rss := rssMiB()
	t.Logf("1 GiB chunked upload: %d (%v) after %d MiB were sent; RSS %.0f → %.0f MiB", status, err, read>>20, rss0, rss)
	if status != http.StatusRequestEntityTooLarge && err == nil {
		t.Errorf("status %d; want 413", status)
	}
	if read > 1<<29 {
		t.Errorf("%d MiB were taken before the refusal", read>>20)
	}
	if !raceEnabled && rss-rss0 > float64(limit>>20)+64 {
		t.Errorf("resident memory rose %.0f MiB; want under the limit and 64 MiB", rss-rss0)
	}
	if qi, _ := sw.Broker.Info("q"); qi.Depth != 0 {
		t.Errorf("%d messages queued", qi.Depth)
	}
}
