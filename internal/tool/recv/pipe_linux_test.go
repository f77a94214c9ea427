package recv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"msw/internal/testutil"
	"msw/internal/tool"
)

// TestRecvKeepsAWindowInThePipe writes a batch of 200 messages into a
// pipe nobody reads: msw-recv stops at recvWindow messages in the pipe
// and waits for the reader, instead of filling the pipe (64 KiB, about
// 5,000 of these lines), every one of which a killed msw-recv would
// have its switch deliver again.
func TestRecvKeepsAWindowInThePipe(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	var stderr bytes.Buffer
	c := tool.NewCommand("msw-recv", "", pw, &stderr)
	r := newReceiver(c, nil, formatLines, pw)
	if r.gauge == nil {
		t.Fatal("no gauge on a pipe")
	}
	r.oneByOne = 0
	r.ackEvery = 1 << 62 // nothing is taken, so nothing to acknowledge with no client
	var ps []string
	for i := range 200 {
		ps = append(ps, fmt.Sprintf("m%09d", i)) // 11 bytes a line
	}
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		n   int
		err error
	}
	done := make(chan result)
	go func() {
		n, err := r.writeBatch(ctx, deliveries(ps...))
		done <- result{n, err}
	}()
	unread := func() int {
		n, err := unix.IoctlGetInt(int(pr.Fd()), unix.TIOCINQ)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	testutil.Eventually(t, "a window of messages in the pipe", func() bool { return unread() >= recvWindow*11 })
	cancel()
	res := <-done
	if res.n != recvWindow || !errors.Is(res.err, context.Canceled) {
		t.Errorf("wrote %d messages (%v) into a pipe nobody read; want %d, then waiting", res.n, res.err, recvWindow)
	}
	if n := unread(); n != recvWindow*11 {
		t.Errorf("%d bytes in the pipe, want %d", n, recvWindow*11)
	}
}
