package logstore

import (
	"bytes"
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

// crashRestart compacts st first if asked, closes b and st, and opens the
// store again with opts on what mfs kept, as after a crash.
func crashRestart(tb testing.TB, b *broker.Broker, st *Store, mfs *memFS, opts Options, compact bool) *Store {
	tb.Helper()
	if compact {
		if err := st.Compact(); err != nil {
			tb.Fatal(err)
		}
	}
	b.Close()
	st.Close()
	opts.FS = mfs.crash()
	return mustOpen(tb, testDir, opts)
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
	for _, m := range messagesOf(q) {
		ps = append(ps, string(m.Payload))
	}
	return strings.Join(ps, " ")
}

// messagesOf collects a recovered queue's messages, copied, and checks
// their count against Len and DiskOnly. It takes them: call it once.
func messagesOf(q *broker.RecoveredQueue) []broker.StoredMessage {
	var ms []broker.StoredMessage
	if q.Messages.Each != nil {
		q.Messages.Each(func(m *broker.StoredMessage) {
			c := *m
			c.Origin, c.Topic = strings.Clone(c.Origin), strings.Clone(c.Topic)
			c.CorrelationID, c.ReplyTo = strings.Clone(c.CorrelationID), strings.Clone(c.ReplyTo)
			c.Payload = bytes.Clone(c.Payload)
			ms = append(ms, c)
		})
	}
	disk := 0
	for _, m := range ms {
		if m.DiskOnly > 0 {
			disk++
		}
	}
	if len(ms) != q.Messages.Len || disk != q.Messages.DiskOnly {
		panic(fmt.Sprintf("queue %s: %d messages (%d on disk only), Len %d, DiskOnly %d", q.Name, len(ms), disk, q.Messages.Len, q.Messages.DiskOnly))
	}
	return ms
}
