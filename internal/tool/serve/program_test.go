package serve

import (
	"bytes"
	"context"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

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
