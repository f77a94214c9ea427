package serve

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"msw/lib"
)

// BenchmarkServeProgramCat runs /bin/cat per request, two at a time, as
// msw-serve -j 2 does, and reports this process's CPU per request
// (self-µs/op) apart from the programs' (child-µs/op).
func BenchmarkServeProgramCat(b *testing.B) {
	p := newServeProgram([]string{"/bin/cat"}, "127.0.0.1:1", 0, io.Discard)
	payload := bytes.Repeat([]byte("x"), 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cpu := func() (self, kids int64) {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		self = ru.Utime.Nano() + ru.Stime.Nano()
		syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
		return self, ru.Utime.Nano() + ru.Stime.Nano()
	}
	b.ResetTimer()
	s0, k0 := cpu()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				req := &lib.Request{Queue: "q", CorrelationID: "c1", ReplyTo: "r", ID: uint64(i), DeliveryCount: 1, Payload: payload}
				hctx, hcancel := context.WithCancel(ctx)
				out, err := p.handle(hctx, req)
				hcancel()
				if err != nil || !bytes.Equal(out, payload) {
					b.Errorf("reply %q, %v", out, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	s1, k1 := cpu()
	b.ReportMetric(float64(s1-s0)/1e3/float64(b.N), "self-µs/op")
	b.ReportMetric(float64(k1-k0)/1e3/float64(b.N), "child-µs/op")
}

// TestServeProgramRun checks that the way programs run matches os/exec's
// (runCmd) in every outcome msw-serve distinguishes.
func TestServeProgramRun(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB: more than a pipe holds
	cases := []struct {
		name    string
		argv    []string
		payload []byte
		ctx     func() (context.Context, context.CancelFunc)
	}{
		{"cat", []string{"/bin/cat"}, []byte("hello\n"), nil},
		{"empty", []string{"/bin/cat"}, nil, nil},
		{"big", []string{"/bin/cat"}, big, nil},
		{"big unread", []string{"/bin/sh", "-c", "exit 0"}, big, nil},
		{"big half read", []string{"/bin/sh", "-c", "head -c 100000 >/dev/null; echo done"}, big, nil},
		{"exit status", []string{"/bin/sh", "-c", "cat; echo oops >&2; exit 3"}, []byte("x"), nil},
		{"stderr lines", []string{"/bin/sh", "-c", "for i in $(seq 30); do echo err $i >&2; done; printf partial >&2; echo out"}, nil, nil},
		{"signal", []string{"/bin/sh", "-c", "kill -TERM $$"}, nil, nil},
		{"missing", []string{"/nonexistent/prog"}, nil, nil},
		{"env", []string{"/bin/sh", "-c", "env | grep ^MSW_ | sort"}, nil, nil},
		{"held pipe", []string{"/bin/sh", "-c", "sleep 3 & echo left"}, nil, nil},
		{"timeout", []string{"/bin/sh", "-c", "echo started >&2; sleep 30 & wait"}, nil, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 200*time.Millisecond)
		}},
		{"canceled", []string{"/bin/cat"}, nil, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}},
	}
	req := &lib.Request{Queue: "q", CorrelationID: "c1", ReplyTo: "r", ID: 7, DeliveryCount: 2, Redelivered: true}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newServeProgram(tc.argv, "127.0.0.1:1", 0, io.Discard)
			env, err := p.env(req)
			if err != nil {
				t.Fatal(err)
			}
			var got [2]runResult
			var text [2]string
			for i, run := range []func(context.Context, []string, []byte, io.Writer) runResult{p.run, p.runCmd} {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if tc.ctx != nil {
					ctx, cancel = tc.ctx()
				}
				var stderr strings.Builder
				tail := &stderrLines{prefix: "c1: ", w: &stderr}
				got[i] = run(ctx, env, tc.payload, tail)
				tail.flush()
				cancel()
				text[i] = stderr.String() + "|" + tail.text()
			}
			a, b := got[0], got[1]
			t.Logf("out %q failed %v status %#x err %v; stderr|tail %q", trunc(a.out), a.failed, a.status, a.err, text[0])
			if !bytes.Equal(a.out, b.out) || a.failed != b.failed || a.status != b.status || fmt.Sprint(a.err) != fmt.Sprint(b.err) {
				t.Errorf("run: out %q failed %v status %#x err %v\nos/exec: out %q failed %v status %#x err %v",
					trunc(a.out), a.failed, a.status, a.err, trunc(b.out), b.failed, b.status, b.err)
			}
			if text[0] != text[1] {
				t.Errorf("stderr and tail:\n%q\nos/exec:\n%q", text[0], text[1])
			}
		})
	}
}

func trunc(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

func TestServeBaseEnv(t *testing.T) {
	got := serveBaseEnv([]string{"A=1", "MSW_QUEUE=old", "B=2", "A=3", "bogus", "", "MSW_SWITCH=x", "=C=4"})
	want := []string{"B=2", "A=3", "bogus", "=C=4"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	p := &serveProgram{switchAddr: "sw", baseEnv: got}
	env, err := p.env(&lib.Request{Queue: "q", CorrelationID: "c", ReplyTo: "r", ID: 9, DeliveryCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, "MSW_QUEUE=q", "MSW_CORRELATION_ID=c", "MSW_REPLY_TO=r", "MSW_MESSAGE_ID=9",
		"MSW_REDELIVERED=0", "MSW_DELIVERY_COUNT=1", "MSW_SWITCH=sw")
	if !slices.Equal(env, want) {
		t.Fatalf("env %q, want %q", env, want)
	}
	if _, err := p.env(&lib.Request{CorrelationID: "a\x00b"}); err == nil {
		t.Fatal("a NUL in a variable should be refused, as os/exec does")
	}
}
