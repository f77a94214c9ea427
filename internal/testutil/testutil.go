// Package testutil holds the few helpers every test package of msw shares:
// a deadline poller, so that no test sleeps in place of a condition, and a
// writer that routes a switch's or a server's log lines to the test log.
// It imports nothing of msw, so any package's tests can use it.
package testutil

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// WaitLimit bounds every wait of Eventually: long enough for a loaded CI
// machine under the race detector, short enough that a hang fails quickly.
const WaitLimit = 10 * time.Second

// Eventually polls cond until it holds, failing the test with what if it
// does not within WaitLimit.
func Eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	if !Within(WaitLimit, cond) {
		tb.Fatalf("%s: not reached within %v", what, WaitLimit)
	}
}

// Within polls cond until it holds or d passes, and reports whether it held.
// The first polls come quickly, later ones back off to every 10ms.
func Within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	pause := 50 * time.Microsecond
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
		pause = min(2*pause, 10*time.Millisecond)
	}
	return true
}

// LogWriter returns a writer that sends each complete line written to it
// to tb.Log, prefixed with prefix. Give it to a switch or a server as its
// log so that its lines show with the test that caused them (and only when
// that test fails or runs with -v). Lines written after the test ended are
// dropped.
func LogWriter(tb testing.TB, prefix string) *LineLogger {
	l := &LineLogger{tb: tb, prefix: prefix}
	tb.Cleanup(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.buf.Len() > 0 {
			tb.Log(prefix + l.buf.String())
		}
		l.done = true
	})
	return l
}

// LineLogger is the writer LogWriter returns.
type LineLogger struct {
	tb     testing.TB
	prefix string
	mu     sync.Mutex
	buf    bytes.Buffer
	done   bool
}

// Write logs every complete line in p; a partial line waits for its end.
func (l *LineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return len(p), nil
	}
	l.buf.Write(p)
	for {
		i := bytes.IndexByte(l.buf.Bytes(), '\n')
		if i < 0 {
			return len(p), nil
		}
		l.tb.Log(l.prefix + string(l.buf.Next(i + 1)[:i]))
	}
}

// Buffer collects what several goroutines write (a switch's log lines)
// and can be read while they write.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
