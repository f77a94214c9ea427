package execrun

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
)

// TestRunMatchesExec checks that the poll loop (runPoll, what Run does
// on Linux) ends every run as os/exec (RunExec) does, in every outcome
// msw-serve distinguishes: the same output, status, error and standard
// error.
func TestRunMatchesExec(t *testing.T) {
	if !havePidfd() {
		t.Log("no pidfds on this kernel: Run takes the os/exec way; runPoll is still compared here")
	}
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
		// Timed out once the program has started, not after a fixed
		// time: a loaded machine may take that long to start it.
		{"timeout", []string{"/bin/sh", "-c", "echo started >&2; sleep 30 & wait"}, nil, func() (context.Context, context.CancelFunc) {
			return &saidCtx{Context: context.Background(), word: "started\n", done: make(chan struct{})}, func() {}
		}},
		{"canceled", []string{"/bin/cat"}, nil, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}},
	}
	env := append(os.Environ(), "MSW_QUEUE=q", "MSW_CORRELATION_ID=c1", "MSW_MESSAGE_ID=7")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got [2]Result
			var stderr [2]string
			for i, run := range []func(context.Context, []string, []string, []byte, io.Writer) Result{runPoll, RunExec} {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if tc.ctx != nil {
					ctx, cancel = tc.ctx()
				}
				var errb strings.Builder
				var w io.Writer = &errb
				if sc, ok := ctx.(*saidCtx); ok {
					w = io.MultiWriter(&errb, sc)
				}
				got[i] = run(ctx, tc.argv, env, tc.payload, w)
				cancel()
				stderr[i] = errb.String()
			}
			a, b := got[0], got[1]
			t.Logf("out %q failed %v status %#x err %v; stderr %q", trunc(a.Out), a.Failed, a.Status, a.Err, stderr[0])
			if !bytes.Equal(a.Out, b.Out) || a.Failed != b.Failed || a.Status != b.Status || fmt.Sprint(a.Err) != fmt.Sprint(b.Err) {
				t.Errorf("poll: out %q failed %v status %#x err %v\nos/exec: out %q failed %v status %#x err %v",
					trunc(a.Out), a.Failed, a.Status, a.Err, trunc(b.Out), b.Failed, b.Status, b.Err)
			}
			if stderr[0] != stderr[1] {
				t.Errorf("stderr:\n%q\nos/exec:\n%q", stderr[0], stderr[1])
			}
		})
	}
}

// saidCtx ends, with a deadline's error, once the program has written
// word to its standard error (it is written to as well).
type saidCtx struct {
	context.Context
	word string
	done chan struct{}
	once sync.Once
	seen []byte
}

func (c *saidCtx) Done() <-chan struct{} { return c.done }

func (c *saidCtx) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

func (c *saidCtx) Write(p []byte) (int, error) {
	c.seen = append(c.seen, p...)
	if bytes.Contains(c.seen, []byte(c.word)) {
		c.once.Do(func() { close(c.done) })
	}
	return len(p), nil
}

func trunc(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
