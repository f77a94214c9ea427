package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"msw/broker"
	"msw/lib"
)

// payload100 is the 100-byte payload of every scenario.
var payload100 = []byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz..")

// rpcResult is one RPC measurement.
type rpcResult struct {
	rate     float64 // calls/s
	p50, p99 time.Duration
	calls    int
}

// runCallers runs n goroutines calling call back to back for cfg.rpcTime
// after a short warm-up, and measures the calls that started and ended in
// the measured window.
func runCallers(n int, call func(ctx context.Context) error) (rpcResult, error) {
	warm := max(cfg.rpcTime/5, 50*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.rpcTime+warm+30*time.Second)
	defer cancel()
	start := time.Now()
	from, to := start.Add(warm), start.Add(warm+cfg.rpcTime)
	lats := make([][]time.Duration, n)
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				t0 := time.Now()
				if !t0.Before(to) {
					return
				}
				if err := call(ctx); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					cancel()
					return
				}
				t1 := time.Now()
				if !t0.Before(from) && !t1.After(to) {
					lats[i] = append(lats[i], t1.Sub(t0))
				}
			}
		}()
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return rpcResult{}, *p
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	if len(all) == 0 {
		return rpcResult{}, errors.New("no call completed in the measured window")
	}
	return rpcResult{
		rate:  float64(len(all)) / cfg.rpcTime.Seconds(),
		p50:   percentile(all, 0.50),
		p99:   percentile(all, 0.99),
		calls: len(all),
	}, nil
}

var rpcSeq atomic.Int64

// rpcSpec is one RPC set-up: how many callers, how many NATS responders,
// how long the handler works and what it is sent (and echoes).
type rpcSpec struct {
	callers    int
	responders int // NATS queue subscribers; msw's set-up is serveOptions
	work       time.Duration
	payload    []byte
}

// serveOptions is how msw serves spec, as NATS's responders: a handler
// that blocks needs as many running at once as there are callers; one
// that never blocks runs one at a time, as NATS's single responder, with
// a request waiting in the server for each caller (Prefetch), so that a
// handler that returns takes the next without a wake-up or a round trip.
func (s rpcSpec) serveOptions() lib.ServeOptions {
	if s.work > 0 {
		return lib.ServeOptions{Concurrency: s.callers}
	}
	return lib.ServeOptions{Concurrency: 1, Prefetch: s.callers}
}

// echo is the handler of both systems: work (sleeping, as a handler
// waiting on something else does), then the payload back.
func (s rpcSpec) echo(p []byte) []byte {
	if s.work > 0 {
		time.Sleep(s.work)
	}
	return p
}

// mswRPC measures calls from one client, with spec.callers callers, to
// one serving client with that concurrency.
func mswRPC(sw *mswSwitch, transport string, spec rpcSpec) (rpcResult, error) {
	return mswRPCBetween(sw, sw, transport, spec)
}

// mswRPCBetween is mswRPC with the calling client on one switch and the
// serving one on another (gateways of one cluster, scenario 19).
func mswRPCBetween(caller, server *mswSwitch, transport string, spec rpcSpec) (rpcResult, error) {
	queue := fmt.Sprintf("rpc-%d", rpcSeq.Add(1))
	stop, err := startMswServer(server, transport, queue, spec.serveOptions(), spec.echo)
	if err != nil {
		return rpcResult{}, err
	}
	defer stop()
	cc := caller.client(transport)
	defer cc.Close()
	call := func(ctx context.Context) error {
		reply, err := mswCall(ctx, cc, queue, spec.payload)
		if err == nil && len(reply) != len(spec.payload) {
			err = fmt.Errorf("reply of %d bytes, want %d", len(reply), len(spec.payload))
		}
		return err
	}
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := call(wctx); err != nil {
		return rpcResult{}, fmt.Errorf("first call: %w", err)
	}
	res, err := runCallers(spec.callers, call)
	server.b.DestroyQueue(nil, queue, false)
	return res, err
}

// natsRPC measures NATS core request/reply: the callers on one
// connection, spec.responders queue subscribers (each its own goroutine)
// on another. For a handler that never blocks one responder is what a
// NATS expert runs (more only add hand-offs); a blocking handler needs
// as many as there are callers.
func natsRPC(ns *natsServer, spec rpcSpec) (rpcResult, error) {
	subject := fmt.Sprintf("rpc.%d", rpcSeq.Add(1))
	sc, err := ns.connect()
	if err != nil {
		return rpcResult{}, err
	}
	defer sc.Close()
	for range spec.responders {
		if _, err := sc.QueueSubscribe(subject, "svc", func(m *nats.Msg) { m.Respond(spec.echo(m.Data)) }); err != nil {
			return rpcResult{}, err
		}
	}
	if err := sc.Flush(); err != nil {
		return rpcResult{}, err
	}
	cc, err := ns.connect()
	if err != nil {
		return rpcResult{}, err
	}
	defer cc.Close()
	return runCallers(spec.callers, func(ctx context.Context) error {
		m, err := cc.RequestWithContext(ctx, subject, spec.payload)
		if err == nil && len(m.Data) != len(spec.payload) {
			err = fmt.Errorf("reply of %d bytes, want %d", len(m.Data), len(spec.payload))
		}
		return err
	})
}

// measureRPC alternates msw on each transport and NATS for cfg.rounds
// rounds of spec into rr. With old set, it also measures NATS with as
// many responders as callers (the earlier harness's set-up) into old,
// whose msw figures are rr's.
func measureRPC(sw *mswSwitch, ns *natsServer, spec rpcSpec, rr *rpcRows, old *Row) error {
	systems := []string{"tcp", "unix", "nats"}
	if old != nil && cfg.on("nats") {
		systems = append(systems, "nats-n")
	}
	for round := range cfg.rounds {
		for _, sys := range order(round, systems...) {
			var res rpcResult
			var err error
			switch sys {
			case "nats":
				res, err = natsRPC(ns, spec)
			case "nats-n":
				n := spec
				n.responders = n.callers
				res, err = natsRPC(ns, n)
			default:
				res, err = mswRPC(sw, sys, spec)
			}
			if err != nil {
				return fmt.Errorf("%s, %d callers: %w", sys, spec.callers, err)
			}
			switch sys {
			case "nats":
				rr.add("ref", res)
			case "nats-n":
				old.add("ref", res.rate)
			default:
				rr.add(sys, res)
				if old != nil {
					old.add(sys, res.rate)
				}
			}
		}
	}
	return nil
}

// rpcRows are the three rows of one RPC measurement series.
type rpcRows struct{ rate, p50, p99 Row }

func newRPCRows(scenario, what, refName string) *rpcRows {
	return &rpcRows{
		rate: newRow(scenario, what+" calls/s", unitCalls, refName),
		p50:  newRow(scenario, what+" p50", unitLatency, refName),
		p99:  newRow(scenario, what+" p99", unitLatency, refName),
	}
}

func (r *rpcRows) add(system string, res rpcResult) {
	r.rate.add(system, res.rate)
	r.p50.add(system, res.p50.Seconds())
	r.p99.add(system, res.p99.Seconds())
}

func scenarioRPC() ([]Row, error) {
	sw, ns, err := startSystems()
	if err != nil {
		return nil, err
	}
	defer sw.close()
	var rows []Row
	for _, n := range []int{1, 16, 64} {
		rr := newRPCRows("1 rpc", fmt.Sprintf("%d caller(s)", n), "NATS, 1 responder")
		// The earlier harness's NATS, n responders, where informative.
		var old *Row
		if n > 1 {
			r := newRow("1 rpc", fmt.Sprintf("%d caller(s) calls/s, against the earlier harness", n), unitCalls, fmt.Sprintf("NATS, %d responders", n))
			old = &r
		}
		if err := measureRPC(sw, ns, rpcSpec{callers: n, responders: 1, payload: payload100}, rr, old); err != nil {
			return rows, err
		}
		switch n {
		case 1:
			rr.p50.Target, rr.p50.check = "msw/NATS ≤ 1.2", ratioAtMost(1.2)
		default:
			rr.rate.Target, rr.rate.check = "msw/NATS ≥ 1", ratioAtLeast(1)
			rr.p99.Target, rr.p99.check = "msw/NATS ≤ 1.5", ratioAtMost(1.5)
		}
		rows = append(rows, rr.rate, rr.p50, rr.p99)
		if old != nil {
			rows = append(rows, *old)
		}
	}
	return rows, nil
}

// scenarioRPCBlocking is scenario 1 with a handler that works 1 ms
// (sleeping, as one waiting on a database does): msw serves with
// concurrency n, NATS with n queue subscribers.
func scenarioRPCBlocking() ([]Row, error) {
	sw, ns, err := startSystems()
	if err != nil {
		return nil, err
	}
	defer sw.close()
	var rows []Row
	for _, n := range []int{1, 16, 64} {
		rr := newRPCRows("11 rpc, 1 ms handler", fmt.Sprintf("%d caller(s)", n), fmt.Sprintf("NATS, %d responder(s)", n))
		if err := measureRPC(sw, ns, rpcSpec{callers: n, responders: n, work: time.Millisecond, payload: payload100}, rr, nil); err != nil {
			return rows, err
		}
		if n == 64 {
			rr.rate.Target, rr.rate.check = "msw/NATS ≥ 1", ratioAtLeast(1)
		}
		rows = append(rows, rr.rate, rr.p50, rr.p99)
	}
	return rows, nil
}

// scenarioPayloads is scenario 1 at 4 callers with payloads of 1 KiB,
// 16 KiB and 1 MiB (NATS's default maximum payload), each measured for
// at least 2 s so that the largest complete calls inside the window.
func scenarioPayloads() ([]Row, error) {
	sw, ns, err := startSystems()
	if err != nil {
		return nil, err
	}
	defer sw.close()
	defer func(d time.Duration) { cfg.rpcTime = d }(cfg.rpcTime)
	cfg.rpcTime = max(cfg.rpcTime, 2*time.Second)
	var rows []Row
	for _, size := range []int{1 << 10, 16 << 10, 1 << 20} {
		label := fmt.Sprintf("%d KiB", size>>10)
		if size >= 1<<20 {
			label = fmt.Sprintf("%d MiB", size>>20)
		}
		rr := newRPCRows("12 rpc payload", label+", 4 callers", "NATS, 1 responder")
		p := bytes.Repeat([]byte{'x'}, size)
		if err := measureRPC(sw, ns, rpcSpec{callers: 4, responders: 1, payload: p}, rr, nil); err != nil {
			return rows, err
		}
		rows = append(rows, rr.rate, rr.p50, rr.p99)
	}
	return rows, nil
}

// scenarioTrace is scenario 1 at 64 callers with the trace ring on
// (the default size) and off, on each transport.
func scenarioTrace() ([]Row, error) {
	on, err := startMsw(broker.Options{})
	if err != nil {
		return nil, err
	}
	defer on.close()
	off, err := startMsw(broker.Options{TraceSize: -1})
	if err != nil {
		return nil, err
	}
	defer off.close()
	row := newRow("7 trace cost", "64 callers calls/s, trace on", unitCalls, "trace off")
	// A 5% effect on a shared machine: twice the rounds, half as long
	// each, so that on and off are measured closer together in time.
	defer func(d time.Duration) { cfg.rpcTime = d }(cfg.rpcTime)
	cfg.rpcTime /= 2
	for round := range 2 * cfg.rounds {
		for _, sys := range order(round, "tcp", "unix") {
			for _, which := range order(round, "on", "off") {
				sw, rec := on, sys
				if which == "off" {
					sw, rec = off, map[string]string{"tcp": "ref", "unix": "refunix"}[sys]
				}
				res, err := mswRPC(sw, sys, rpcSpec{callers: 64, payload: payload100})
				if err != nil {
					return nil, fmt.Errorf("%s, trace %s: %w", sys, which, err)
				}
				row.add(rec, res.rate)
			}
		}
	}
	row.Target, row.check = "on/off ≥ 0.95", ratioAtLeast(0.95)
	row.Paired = true
	row.Note = "ratio: median of on/off over pairs measured next to each other (see NOTES.md)"
	return []Row{row}, nil
}

// scenarioIdle is scenario 1 at 16 callers with and without 1,000 idle
// subscribers long-polling queues of their own.
func scenarioIdle() ([]Row, error) {
	sw, err := startMsw(broker.Options{})
	if err != nil {
		return nil, err
	}
	defer sw.close()
	const pollers = 1000
	rr := newRPCRows("8 idle pollers", fmt.Sprintf("16 callers + %d pollers", pollers), "no pollers")
	baseline := len(sw.b.Snapshot(0).Sessions)
	for round := range cfg.rounds {
		for _, sys := range order(round, "tcp", "unix") {
			for _, which := range order(round, "with", "without") {
				rec := sys
				var stop func()
				if which == "with" {
					if stop, err = startPollers(sw, sys, pollers); err != nil {
						return nil, err
					}
				} else {
					rec = map[string]string{"tcp": "ref", "unix": "refunix"}[sys]
					// The last round's pollers are gone, and their
					// sessions with them, before this one is measured.
					if err := waitSessions(sw, baseline); err != nil {
						return nil, err
					}
				}
				// Both measurements start from a collected heap, not one
				// with the garbage of a thousand clients' goroutines
				// and buffers still to collect (in the switch's process).
				runtime.GC()
				res, err := mswRPC(sw, sys, rpcSpec{callers: 16, payload: payload100})
				if stop != nil {
					stop()
				}
				if err != nil {
					return nil, fmt.Errorf("%s, %s pollers: %w", sys, which, err)
				}
				rr.add(rec, res)
			}
		}
	}
	rr.p99.Target, rr.p99.check = "with/without ≤ 1.2", ratioAtMost(1.2)
	rr.rate.Paired, rr.p99.Paired = true, true
	rr.p99.Note = "ratios: medians of with/without over pairs measured next to each other (see NOTES.md)"
	return []Row{rr.rate, rr.p99}, nil
}

// startPollers starts n idle pollers against the switch: clients, each
// subscribed to a queue of its own that nobody sends to, long-polling it
// until stopped. They run in a child process (this program with
// -pollers-child), as the separate programs they stand for, so that what
// the scenario measures is what they cost the switch, not what 1,000
// clients' goroutines and garbage cost a process they would not share;
// -pollers-inproc runs them in this process instead.
func startPollers(sw *mswSwitch, transport string, n int) (stop func(), err error) {
	prefix := fmt.Sprintf("idle-%d", rpcSeq.Add(1))
	for i := range n {
		if err := sw.b.CreateQueue(nil, fmt.Sprintf("%s-%d", prefix, i)); err != nil {
			return nil, err
		}
	}
	destroy := func() {
		for i := range n {
			sw.b.DestroyQueue(nil, fmt.Sprintf("%s-%d", prefix, i), false)
		}
	}
	if cfg.pollersInProc {
		stopFn, err := runPollers(sw.addr(transport), prefix, n)
		if err != nil {
			destroy()
			return nil, err
		}
		return func() { stopFn(); destroy() }, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-pollers-child", fmt.Sprintf("%s,%s,%d", sw.addr(transport), prefix, n))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop = func() {
		in.Close()
		cmd.Wait()
		destroy()
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		stop()
		return nil, fmt.Errorf("idle pollers did not start: %s", bytes.TrimSpace(stderr.Bytes()))
	}
	// "ready" means subscribed; each poller's first transfer still has
	// its connection to open. Measure once every one of them is waiting
	// at the switch, not while a thousand connections are being set up.
	if err := waitPolling(sw, prefix, n); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// waitSessions waits until the switch has no more than n sessions.
func waitSessions(sw *mswSwitch, n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for len(sw.b.Snapshot(0).Sessions) > n {
		if time.Now().After(deadline) {
			return fmt.Errorf("idle pollers' sessions still there after 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// waitPolling waits until the switch has seen a poll from each of the n
// pollers of prefix (their queues are the only ones with the prefix).
func waitPolling(sw *mswSwitch, prefix string, n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		polled := 0
		for _, q := range sw.b.List(prefix+"-", true) {
			if !q.LastTransfer.IsZero() {
				polled++
			}
		}
		if polled >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d idle pollers polling after 30s", polled, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runPollersChild is the -pollers-child mode: "ADDR,PREFIX,N".
func runPollersChild(spec string) {
	parts := strings.Split(spec, ",")
	n, err := strconv.Atoi(parts[len(parts)-1])
	if err != nil || len(parts) != 3 {
		fmt.Fprintln(os.Stderr, "bad -pollers-child spec", spec)
		os.Exit(2)
	}
	stop, err := runPollers(parts[0], parts[1], n)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	stop()
}

// runPollers logs n clients in, each subscribed to queue PREFIX-i, and
// keeps each long-polling until stop is called.
func runPollers(addr, prefix string, n int) (stop func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var ready sync.WaitGroup
	var firstErr atomic.Pointer[error]
	sem := make(chan struct{}, 32) // logins at once
	for i := range n {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			c, err := lib.New(lib.Options{Addr: addr, ClientID: fmt.Sprintf("poller-%d", i), Wait: 5 * time.Second})
			if err != nil {
				firstErr.CompareAndSwap(nil, &err)
				ready.Done()
				return
			}
			defer c.Close()
			sem <- struct{}{}
			err = c.Subscribe(ctx, fmt.Sprintf("%s-%d", prefix, i))
			<-sem
			ready.Done()
			if err != nil {
				firstErr.CompareAndSwap(nil, &err)
				return
			}
			for ctx.Err() == nil {
				c.Transfer(ctx, lib.TransferOptions{Timeout: 30 * time.Second})
			}
		}()
	}
	ready.Wait()
	stop = func() {
		cancel()
		wg.Wait()
	}
	if p := firstErr.Load(); p != nil {
		stop()
		return nil, fmt.Errorf("starting idle pollers: %w", *p)
	}
	return stop, nil
}
