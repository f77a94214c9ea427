package logstore

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"msw/broker"
	"msw/internal/wire"
)

// testDir is where tests on a memFS keep the log.
const testDir = "/data"

// testPrealloc is how far ahead tests on a memFS preallocate: little, so
// that a test's few records cross the preallocated room's end, and its
// syncs copy little.
const testPrealloc = 512

// written is where the current segment's records end: before its
// preallocated zeros.
func written(st *Store) int64 {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	return st.fileSize
}

// logLines collects what a store logs.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// mustOpen opens a store, closed when the test ends.
func mustOpen(tb testing.TB, dir string, opts Options) *Store {
	tb.Helper()
	st, err := Open(dir, opts)
	if err != nil {
		tb.Fatalf("open %s: %v", dir, err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// newBroker serves a store, closed when the test ends.
func newBroker(tb testing.TB, st *Store) *broker.Broker {
	b := broker.New(broker.Options{Store: st, TraceSize: -1})
	tb.Cleanup(b.Close)
	return b
}

func send(tb testing.TB, b *broker.Broker, queue string, payloads ...string) uint64 {
	tb.Helper()
	ms := make([]wire.Message, len(payloads))
	for i, p := range payloads {
		ms[i] = wire.Message{Payload: []byte(p)}
	}
	first, err := b.Send(nil, queue, ms)
	if err != nil {
		tb.Fatalf("send to %s: %v", queue, err)
	}
	return first
}

// recoveredQueue finds a queue in what a store recovered.
func recoveredQueue(qs []broker.RecoveredQueue, name string) *broker.RecoveredQueue {
	for i := range qs {
		if qs[i].Name == name {
			return &qs[i]
		}
	}
	return nil
}

// payloadsOf lists a recovered queue's payloads in id order.
func payloadsOf(q *broker.RecoveredQueue) string {
	if q == nil {
		return "<no queue>"
	}
	var ps []string
	for _, m := range q.Messages {
		ps = append(ps, string(m.Payload))
	}
	return strings.Join(ps, " ")
}
