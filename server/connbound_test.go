package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"msw/broker"
	"msw/internal/switchtest"
	"msw/internal/testutil"
	"msw/lib"
	"msw/server"
)

// TestConnectionBound plays three parts, as re-executions of the test
// binary: the switch runs in a child process of its own, with its own
// open-file limit, and idle clients in two more, so that 21,000
// connections at full size need no process to hold both ends of them.
// connRole names the part a child plays.
const connRole = "MSW_CONNBOUND_ROLE"

// TestConnectionBound: idle connections past the switch's bound (by
// default its open-file limit less server.ConnReserve, at most
// server.DefaultMaxConns) get a 429 and are closed while the switch
// still has descriptors to answer with; the connections already open
// keep working (an RPC on another connection), and once the idle ones
// go, new clients are served.
func TestConnectionBound(t *testing.T) {
	switch os.Getenv(connRole) {
	case "switch":
		connSwitch()
		return
	case "idle":
		connIdle()
		return
	}
	total, maxConns := scale(21000, 250), 200
	if heavy() {
		maxConns = 0 // the switch's default, from its own open-file limit
	}
	sw := startChild(t, "switch", "MSW_MAXCONNS="+strconv.Itoa(maxConns))
	f := strings.Fields(sw.line)
	if len(f) != 3 || f[0] != "switch" {
		t.Fatalf("the switch child said %q", sw.line)
	}
	addr := f[1]
	maxConns, _ = strconv.Atoi(f[2])
	caller := echo(t, addr)
	open := sw.ask(t, "conns")
	if total <= maxConns-open {
		t.Fatalf("the switch's bound is %d connections: %d idle ones would not reach it", maxConns, total)
	}
	t.Logf("switch at %s, bound %d connections (%d open), RSS %.0f MiB", addr, maxConns, open, sw.rss())

	start := time.Now()
	idle := []*child{
		startChild(t, "idle", "MSW_ADDR="+addr, "MSW_N="+strconv.Itoa(total/2)),
		startChild(t, "idle", "MSW_ADDR="+addr, "MSW_N="+strconv.Itoa(total-total/2)),
	}
	want := total - (maxConns - open)
	var dialed, refused, failed int
	done := testutil.Within(time.Duration(scale(180, 20))*time.Second, func() bool {
		dialed, refused, failed = 0, 0, 0
		for _, c := range idle {
			f := strings.Fields(c.askLine(t, "count"))
			d, _ := strconv.Atoi(f[1])
			r, _ := strconv.Atoi(f[2])
			e, _ := strconv.Atoi(f[3])
			dialed, refused, failed = dialed+d, refused+r, failed+e
		}
		return dialed+failed == total && refused >= want
	})
	d := rpc(t, caller)
	t.Logf("%d idle connections from 2 processes on a bound of %d (%d already open), in %v: %d refused with 429, %d dials failed; RPC meanwhile %v; switch RSS %.0f MiB, %d connections open",
		total, maxConns, open, time.Since(start).Round(time.Millisecond), refused, failed, d, sw.rss(), sw.ask(t, "conns"))
	if !done || refused != want || failed != 0 {
		t.Errorf("%d dialed, %d refused, %d failed; want %d dialed, %d refused", dialed, refused, failed, total, want)
	}
	for _, c := range idle {
		c.stop(t)
	}
	testutil.Eventually(t, "the connections are given back", func() bool { return sw.ask(t, "conns") <= open })
	fresh := switchtest.Client(t, addr, lib.Options{})
	if _, err := fresh.List(context.Background(), lib.ListOptions{}); err != nil {
		t.Errorf("a new client after the flood: %v", err)
	}
	rpc(t, caller)
}

// child is a re-executed test binary playing a part of
// TestConnectionBound, driven by lines on its standard input and
// answering on its standard output; it ends when its input closes.
type child struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	line string // the first line it wrote
	once sync.Once
}

func startChild(t *testing.T, role string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestConnectionBound$")
	cmd.Env = append(os.Environ(), append(env, connRole+"="+role)...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	t.Cleanup(func() { c.stop(t) })
	if !c.out.Scan() {
		t.Fatalf("the %s child ended before it started: %v", role, c.out.Err())
	}
	c.line = c.out.Text()
	return c
}

// askLine sends a command and returns the line answered.
func (c *child) askLine(t *testing.T, cmd string) string {
	t.Helper()
	fmt.Fprintln(c.in, cmd)
	if !c.out.Scan() {
		t.Fatalf("the child ended: %v", c.out.Err())
	}
	return c.out.Text()
}

// ask sends a command answered with one number.
func (c *child) ask(t *testing.T, cmd string) int {
	t.Helper()
	line := c.askLine(t, cmd)
	n, err := strconv.Atoi(strings.TrimPrefix(line, cmd+" "))
	if err != nil {
		t.Fatalf("%s: the child said %q", cmd, line)
	}
	return n
}

// rss is the child's resident memory.
func (c *child) rss() float64 { return rssOf(c.cmd.Process.Pid) }

// stop closes the child's input and waits for it to end.
func (c *child) stop(t *testing.T) {
	c.once.Do(func() {
		c.in.Close()
		for c.out.Scan() { // what it writes as it ends
		}
		if err := c.cmd.Wait(); err != nil {
			t.Errorf("child %v: %v", c.cmd.Env[len(c.cmd.Env)-1], err)
		}
	})
}

// connSwitch is the switch's part: a switch on a free loopback port,
// bounded by $MSW_MAXCONNS connections or by default. It writes "switch
// ADDR BOUND", then answers "conns" with its open connections. Its
// header timeout is long: idle connections are this test's subject, not
// the timeouts (slow_test.go).
func connSwitch() {
	maxConns, _ := strconv.Atoi(os.Getenv("MSW_MAXCONNS"))
	if maxConns <= 0 {
		maxConns = server.DefaultConns()
	}
	b := broker.New(broker.Options{TraceSize: -1})
	srv := server.New(b, server.Options{Log: log.New(os.Stderr, "switch: ", 0), Limits: server.Limits{
		MaxConns: maxConns, HeaderTimeout: 10 * time.Minute, IdleTimeout: 10 * time.Minute,
	}})
	l, err := server.Listen("127.0.0.1:0", 0o600)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	go srv.Serve(l)
	fmt.Printf("switch %s %d\n", l.Addr(), maxConns)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fmt.Printf("conns %d\n", srv.Conns())
	}
	os.Exit(0)
}

// connIdle is an idle client's part: it opens $MSW_N connections to
// $MSW_ADDR, sends nothing, and watches each for the switch's 429. It
// writes "idle", then answers "count" with "count DIALED REFUSED FAILED".
func connIdle() {
	addr := os.Getenv("MSW_ADDR")
	n, _ := strconv.Atoi(os.Getenv("MSW_N"))
	fmt.Println("idle")
	var dialed, refused, failed atomic.Int64
	var mu sync.Mutex
	var conns []net.Conn
	work := make(chan struct{}, n)
	for range n {
		work <- struct{}{}
	}
	close(work)
	for range 8 {
		go func() {
			for range work {
				c, err := net.DialTimeout("tcp", addr, time.Minute)
				if err != nil {
					fmt.Fprintln(os.Stderr, "idle client: dial:", err)
					failed.Add(1)
					continue
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
				dialed.Add(1)
				go func() {
					buf := make([]byte, 12)
					if k, _ := io.ReadFull(c, buf); string(buf[:k]) == "HTTP/1.1 429" {
						refused.Add(1)
					}
				}()
			}
		}()
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fmt.Printf("count %d %d %d\n", dialed.Load(), refused.Load(), failed.Load())
	}
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	os.Exit(0)
}
