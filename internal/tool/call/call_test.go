package call

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"msw/internal/tool"
	"msw/internal/tool/tooltest"
	"msw/lib"
)

// TestCallPrintsReplyAndPassesFailure calls a service in the test
// process: a reply is printed byte for byte, a failure reply's text goes
// to stderr and its status is the exit status.
func TestCallPrintsReplyAndPassesFailure(t *testing.T) {
	addr, srv, ctx := tooltest.Start(t, "server")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() {
		served <- srv.Serve(ctx, "svc", lib.ServeOptions{}, func(ctx context.Context, req *lib.Request) ([]byte, error) {
			if string(req.Payload) == "fail" {
				return nil, &lib.RemoteError{Status: 3, Message: "svc: it failed\n"}
			}
			return append([]byte("echo "), req.Payload...), nil
		})
	}()

	code, out, errs := tooltest.Run(Run, "-s", addr, "svc", "--body", "hi")
	if code != tool.ExitOK || out != "echo hi" || errs != "" {
		t.Errorf("call: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, errs = tooltest.Run(Run, "--body", "fail", "-s", addr, "svc")
	if code != 3 || out != "" || errs != "svc: it failed\n" {
		t.Errorf("failing call: exit %d, stdout %q, stderr %q; want 3 and the failure's text", code, out, errs)
	}
	cancel()
	if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Serve: %v", err)
	}
}

func TestCallUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{nil, "msw-call: missing QUEUE\n"},
		{[]string{"a", "b"}, "msw-call: unexpected argument \"b\"\n"},
		{[]string{"q", "--body", "x", "--file", "f"}, "msw-call: give the request body once: --body or --file, not both\n"},
		{[]string{"q", "-l", "--body", "x"}, "msw-call: -l reads requests from standard input; it takes no --body or --file\n"},
		{[]string{"q", "-P", "0"}, "msw-call: -P 0: want at least 1\n"},
	} {
		code, out, errs := tooltest.Run(Run, tc.args...)
		if code != tool.ExitUsage || out != "" || !strings.HasPrefix(errs, tc.msg) {
			t.Errorf("%q: exit %d, stderr %q; want %d, %q", tc.args, code, errs, tool.ExitUsage, tc.msg)
		}
	}
}

// TestCallLinesKeepsNInFlight serves with room for more requests than
// msw-call -l -P N may have in flight, and checks that no more than N
// ever arrive at once.
func TestCallLinesKeepsNInFlight(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("P%d", n), func(t *testing.T) {
			addr, srv, ctx := tooltest.Start(t, "server")
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			var mu sync.Mutex
			active, most := 0, 0
			more := make(chan struct{}) // closed when more than n are active
			go srv.Serve(ctx, "svc", lib.ServeOptions{Concurrency: n + 2}, func(ctx context.Context, req *lib.Request) ([]byte, error) {
				mu.Lock()
				active++
				most = max(most, active)
				if active == n+1 {
					close(more)
				}
				mu.Unlock()
				// Hold the request a while, so that one more sent in
				// the meantime would arrive while it is active.
				select {
				case <-more:
				case <-time.After(200 * time.Millisecond):
				}
				mu.Lock()
				active--
				mu.Unlock()
				return req.Payload, nil
			})
			in := strings.Repeat("x\n", 2*n)
			var out, errs bytes.Buffer
			code := Run([]string{"-s", addr, "-l", "-P", fmt.Sprint(n), "svc"}, strings.NewReader(in), &out, &errs)
			if code != tool.ExitOK || out.String() != in {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errs.String())
			}
			mu.Lock()
			defer mu.Unlock()
			if most != n {
				t.Errorf("-P %d: %d requests in flight at once, want %d", n, most, n)
			}
		})
	}
}
