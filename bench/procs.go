package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"msw/lib"
)

// Clients in processes of their own: the RPC and ingest rows again with
// the switch (or NATS server) alone in the bench process and every
// client in a child process (this program with -client-child), so that
// no client shares the server's CPU scheduling, heap or collector.

// scenarioProcs measures RPC at 1, 16 and 64 callers and a batch ingest
// with clients in child processes.
func scenarioProcs() ([]Row, error) {
	sw, ns, err := startSystems()
	if err != nil {
		return nil, err
	}
	defer sw.close()
	addr := func(sys string) string {
		if sys == "nats" {
			return "nats," + ns.url
		}
		return "msw," + sw.addr(sys)
	}
	var rows []Row
	for _, n := range []int{1, 16, 64} {
		rr := newRPCRows("16 separate processes, rpc", fmt.Sprintf("%d caller(s)", n), "NATS, 1 responder")
		for round := range cfg.rounds {
			for _, sys := range order(round, "tcp", "unix", "nats") {
				res, err := procRPC(addr(sys), n)
				if err != nil {
					return rows, fmt.Errorf("%s, %d callers: %w", sys, n, err)
				}
				if sys == "nats" {
					sys = "ref"
				}
				rr.add(sys, res)
			}
		}
		rows = append(rows, rr.rate, rr.p50, rr.p99)
	}
	n := ingestCount()
	ingest := newRow("16 separate processes, ingest", fmt.Sprintf("%s × 100 B, library batch", count(n)), unitRate, "NATS fast batch")
	for round := range cfg.heavy {
		for _, sys := range order(round, "tcp", "unix", "nats") {
			name := fmt.Sprintf("pingest-%d", queueSeq.Add(1))
			rec := sys
			if sys == "nats" {
				rec = "ref"
				if err := natsSetupStream(ns); err != nil {
					return rows, err
				}
			}
			out, err := runClientChild(fmt.Sprintf("ingest,%s,%s,%d", addr(sys), name, n), nil)
			if err != nil {
				return rows, fmt.Errorf("ingest, %s: %w", sys, err)
			}
			secs, err := strconv.ParseFloat(strings.TrimSpace(out), 64)
			if err != nil {
				return rows, fmt.Errorf("ingest, %s: %q: %w", sys, out, err)
			}
			if sys == "nats" {
				nc, js, err := ns.jetStream()
				if err != nil {
					return rows, err
				}
				got, err := natsStreamMsgs(js)
				nc.Close()
				if err != nil || got != uint64(n) {
					return rows, fmt.Errorf("after ingest: stream holds %d, want %d (%v)", got, n, err)
				}
			} else {
				qi, err := sw.b.Info(name)
				if err != nil || qi.Depth != n {
					return rows, fmt.Errorf("after ingest: depth %d, want %d (%v)", qi.Depth, n, err)
				}
				sw.b.DestroyQueue(nil, name, false)
			}
			ingest.add(rec, float64(n)/secs)
			settle()
		}
	}
	ingest.Target, ingest.check = "msw/NATS ≥ 3", ratioAtLeast(3)
	return append(rows, ingest), nil
}

// procRPC runs an echo server and n callers, each group in a child
// process, and returns the callers' measurement.
func procRPC(addr string, n int) (rpcResult, error) {
	name := fmt.Sprintf("prpc-%d", rpcSeq.Add(1))
	self, err := os.Executable()
	if err != nil {
		return rpcResult{}, err
	}
	srv := exec.Command(self, "-client-child", fmt.Sprintf("serve,%s,%s,%d", addr, name, n))
	var stderr bytes.Buffer
	srv.Stderr = &stderr
	in, err := srv.StdinPipe()
	if err != nil {
		return rpcResult{}, err
	}
	out, err := srv.StdoutPipe()
	if err != nil {
		return rpcResult{}, err
	}
	if err := srv.Start(); err != nil {
		return rpcResult{}, err
	}
	defer func() {
		in.Close()
		srv.Wait()
	}()
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		return rpcResult{}, fmt.Errorf("server child: %s", bytes.TrimSpace(stderr.Bytes()))
	}
	res, err := runClientChild(fmt.Sprintf("call,%s,%s,%d,%s", addr, name, n, cfg.rpcTime), nil)
	if err != nil {
		return rpcResult{}, err
	}
	var r procRPCResult
	if err := json.Unmarshal([]byte(res), &r); err != nil {
		return rpcResult{}, fmt.Errorf("caller child said %q: %w", res, err)
	}
	return rpcResult{rate: r.Rate, p50: r.P50, p99: r.P99, calls: r.Calls}, nil
}

// procRPCResult is rpcResult as a caller child prints it.
type procRPCResult struct {
	Rate     float64
	P50, P99 time.Duration
	Calls    int
}

// runClientChild runs this program with -client-child spec to its end and
// returns what it printed.
func runClientChild(spec string, stdin io.Reader) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(self, "-client-child", spec)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("client child %s: %v: %s", spec, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.String(), nil
}

// runClientChildMode is the -client-child mode:
//
//	serve,SYSTEM,ADDR,NAME,N       echo on NAME with concurrency N until stdin closes
//	call,SYSTEM,ADDR,NAME,N,DUR    N callers for DUR; prints the result as JSON
//	ingest,SYSTEM,ADDR,NAME,COUNT  COUNT × 100 B in one batch; prints the seconds
//
// SYSTEM is msw (ADDR a switch address) or nats (ADDR a server URL).
func runClientChildMode(spec string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	f := strings.Split(spec, ",")
	if len(f) < 5 {
		fail(fmt.Errorf("bad -client-child spec %q", spec))
	}
	op, sys, addr, name := f[0], f[1], f[2], f[3]
	n, err := strconv.Atoi(f[4])
	if err != nil {
		fail(fmt.Errorf("bad -client-child count %q", f[4]))
	}
	ctx := context.Background()
	var mc *lib.Client
	var nc *nats.Conn
	if sys == "msw" {
		if mc, err = lib.New(lib.Options{Addr: addr, ClientID: fmt.Sprintf("bench-%s-%d", op, os.Getpid()), Wait: 5 * time.Second}); err != nil {
			fail(err)
		}
		defer mc.Close()
	} else {
		if nc, err = nats.Connect(addr, nats.MaxReconnects(0)); err != nil {
			fail(err)
		}
		defer nc.Close()
	}
	switch op {
	case "serve":
		echo := func(p []byte) []byte { return p }
		if mc != nil {
			if err := mc.CreateQueue(ctx, name); err != nil {
				fail(err)
			}
			sctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() {
				defer close(done)
				// The handler never blocks: as NATS's one responder.
				mc.Serve(sctx, name, rpcSpec{callers: n}.serveOptions(), func(_ context.Context, req *lib.Request) ([]byte, error) {
					return echo(req.Payload), nil
				})
			}()
			fmt.Println("ready")
			io.Copy(io.Discard, os.Stdin)
			cancel()
			<-done
			return
		}
		// One responder: the handler never blocks.
		if _, err := nc.QueueSubscribe(name, "svc", func(m *nats.Msg) { m.Respond(echo(m.Data)) }); err != nil {
			fail(err)
		}
		if err := nc.Flush(); err != nil {
			fail(err)
		}
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
	case "call":
		if len(f) != 6 {
			fail(fmt.Errorf("bad -client-child spec %q", spec))
		}
		if cfg.rpcTime, err = time.ParseDuration(f[5]); err != nil {
			fail(err)
		}
		call := func(ctx context.Context) error {
			var reply []byte
			var err error
			if mc != nil {
				reply, err = mc.Call(ctx, name, payload100)
			} else {
				var m *nats.Msg
				if m, err = nc.RequestWithContext(ctx, name, payload100); err == nil {
					reply = m.Data
				}
			}
			if err == nil && len(reply) != len(payload100) {
				err = fmt.Errorf("reply of %d bytes, want %d", len(reply), len(payload100))
			}
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := call(wctx)
		cancel()
		if err != nil {
			fail(fmt.Errorf("first call: %w", err))
		}
		res, err := runCallers(n, call)
		if err != nil {
			fail(err)
		}
		json.NewEncoder(os.Stdout).Encode(procRPCResult{Rate: res.rate, P50: res.p50, P99: res.p99, Calls: res.calls})
	case "ingest":
		var d time.Duration
		if mc != nil {
			ms := make([]lib.Message, n)
			for i := range ms {
				ms[i].Payload = payload100
			}
			if err := mc.CreateQueue(ctx, name); err != nil {
				fail(err)
			}
			t0 := time.Now()
			if _, err := mc.SendBatch(ctx, name, ms); err != nil {
				fail(err)
			}
			d = time.Since(t0)
		} else {
			ps := make([][]byte, n)
			for i := range ps {
				ps[i] = payload100
			}
			t0 := time.Now()
			if err := natsFastBatch(nc, "bench.q", ps); err != nil {
				fail(err)
			}
			d = time.Since(t0)
		}
		fmt.Println(d.Seconds())
	default:
		fail(fmt.Errorf("bad -client-child operation %q", op))
	}
}
