package broker

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"msw/internal/testutil"
	"msw/internal/wire"
)

func cursorPayloads(ms []CursorMessage) string {
	var ps []string
	for _, m := range ms {
		ps = append(ps, string(m.Payload))
	}
	return strings.Join(ps, ",")
}

func mustRead(t *testing.T, b *Broker, s *Session, from int64, timeout time.Duration, queues ...string) []CursorMessage {
	t.Helper()
	ms, err := b.ReadCursor(context.Background(), s, queues, from, timeout)
	if err != nil {
		t.Fatalf("ReadCursor(%v, %d) = %v", queues, from, err)
	}
	return ms
}

// queueWatchers reports whether n cursor readers wait on the named queue.
func queueWatchers(b *Broker, name string, n int) func() bool {
	return queueCount(b, name, n, func(q *Queue) int { return len(q.watchers) })
}

func TestCursorReadersEachSeeEveryMessageUntilAcked(t *testing.T) {
	skipOnEngine(t, "cursors (--compat) need the switch's own queues")
	b := newTestBroker(t, Options{})
	x, y := login(t, b, "x"), login(t, b, "y")
	b.CreateQueue(nil, "q")
	mustSend(t, b, x, "q", "a", "b", "c")

	mx := mustRead(t, b, x, -1, 0, "q")
	my := mustRead(t, b, y, -1, 0, "q")
	if cursorPayloads(mx) != "a,b,c" || cursorPayloads(my) != "a,b,c" {
		t.Fatalf("readers saw %q and %q; want a,b,c each", cursorPayloads(mx), cursorPayloads(my))
	}
	if got := mustRead(t, b, x, mx[0].Cursor, 0, "q"); cursorPayloads(got) != "b,c" {
		t.Fatalf("read above the first = %q; want b,c", cursorPayloads(got))
	}
	if got := mustRead(t, b, x, mx[2].Cursor, 0, "q"); len(got) != 0 {
		t.Fatalf("read above the last = %q; want nothing", cursorPayloads(got))
	}
	// Acked by anyone, a message is gone for every reader.
	b.AckCursor(y, "q", mx[1].Cursor)
	if got := mustRead(t, b, x, -1, 0, "q"); cursorPayloads(got) != "a,c" {
		t.Fatalf("after the ack of b: %q; want a,c", cursorPayloads(got))
	}
	b.AckCursor(y, "q", mx[1].Cursor) // again: nothing to do, no harm
	b.AckCursor(y, "nosuch", 7)
	if qi, _ := b.Info("q"); qi.Depth != 2 {
		t.Fatalf("depth %d after one ack; want 2", qi.Depth)
	}
}

func TestCursorReadLeavesConsumersTheirMessages(t *testing.T) {
	skipOnEngine(t, "cursors (--compat) need the switch's own queues")
	b := newTestBroker(t, Options{})
	reader, consumer := login(t, b, "reader"), login(t, b, "consumer")
	b.CreateQueue(nil, "q")
	if err := b.Subscribe(consumer, []string{"q"}); err != nil {
		t.Fatal(err)
	}
	mustSend(t, b, nil, "q", "a", "b")
	if got := mustRead(t, b, reader, -1, 0, "q"); cursorPayloads(got) != "a,b" {
		t.Fatalf("reader saw %q; want a,b", cursorPayloads(got))
	}
	ds := mustTransfer(t, b, consumer, 1, 0)
	if payloads(ds) != "a" {
		t.Fatalf("consumer took %q after the read; want a", payloads(ds))
	}
	// Held by the consumer, a is still unacked: the reader still sees it.
	if got := mustRead(t, b, reader, -1, 0, "q"); cursorPayloads(got) != "a,b" {
		t.Fatalf("reader saw %q with a in flight; want a,b", cursorPayloads(got))
	}
	// The reader acks what the consumer holds: it is gone for both.
	got := mustRead(t, b, reader, -1, 0, "q")
	b.AckCursor(reader, "q", got[0].Cursor)
	if err := b.Ack(consumer, acksOf(ds)); !errors.Is(err, ErrNoSuchMessage) {
		t.Fatalf("consumer's ack after the reader's = %v; want ErrNoSuchMessage", err)
	}
	if qi, _ := b.Info("q"); qi.Subscribers != 2 {
		t.Fatalf("subscribers = %d; want 2 (the reader counts as one)", qi.Subscribers)
	}
}

func TestCursorReadWaitsForASend(t *testing.T) {
	skipOnEngine(t, "cursors (--compat) need the switch's own queues")
	b := newTestBroker(t, Options{})
	x := login(t, b, "x")
	b.CreateQueue(nil, "q")
	b.CreateQueue(nil, "other")
	done := make(chan []CursorMessage, 1)
	go func() {
		ms, _ := b.ReadCursor(context.Background(), x, []string{"q"}, -1, 10*time.Second)
		done <- ms
	}()
	testutil.Eventually(t, "reader watching q", queueWatchers(b, "q", 1))
	// A consumer waiting on the same queue gets its own wake.
	c := login(t, b, "c")
	b.Subscribe(c, []string{"q"})
	taken := transferInBackground(b, c, 10*time.Second)
	testutil.Eventually(t, "consumer waiting on q", queueWaiters(b, "q", 1))
	mustSend(t, b, nil, "other", "not this")
	mustSend(t, b, nil, "q", "hello")
	if r := awaitTransfer(t, taken, "consumer not woken by the send"); payloads(r.ds) != "hello" {
		t.Fatalf("consumer took %q; want hello", payloads(r.ds))
	}
	select {
	case ms := <-done:
		if cursorPayloads(ms) != "hello" {
			t.Fatalf("reader woke with %q; want hello", cursorPayloads(ms))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reader not woken by the send")
	}
	if !queueWatchers(b, "q", 0)() {
		t.Fatal("the reader left a watcher behind")
	}
}

func TestCursorReadTimesOutAndEndsWithItsClient(t *testing.T) {
	skipOnEngine(t, "cursors (--compat) need the switch's own queues")
	b := newTestBroker(t, Options{})
	x := login(t, b, "x")
	b.CreateQueue(nil, "q")
	if got := mustRead(t, b, x, -1, time.Millisecond, "q"); len(got) != 0 {
		t.Fatalf("timed-out read returned %q", cursorPayloads(got))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := b.ReadCursor(ctx, x, []string{"q"}, -1, time.Minute)
		done <- err
	}()
	testutil.Eventually(t, "reader watching q", queueWatchers(b, "q", 1))
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled read = %v; want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled read did not return")
	}
	testutil.Eventually(t, "watcher gone", queueWatchers(b, "q", 0))
}

func TestCursorReaderOfAMissingQueueWaitsForItsName(t *testing.T) {
	skipOnEngine(t, "cursors (--compat) need the switch's own queues")
	b := newTestBroker(t, Options{})
	x := login(t, b, "x")
	b.CreateQueue(nil, "q")
	first := mustSend(t, b, nil, "q", "old")
	old := mustRead(t, b, x, -1, 0, "q")
	if len(old) != 1 || old[0].ID != first {
		t.Fatalf("read %v; want the one message", old)
	}
	b.DestroyQueue(nil, "q", false)
	done := make(chan []CursorMessage, 1)
	go func() {
		// The cursor is the old queue's: the new queue's messages are
		// all above it, though their ids start again.
		ms, _ := b.ReadCursor(context.Background(), x, []string{"q"}, old[0].Cursor, 10*time.Second)
		done <- ms
	}()
	testutil.Eventually(t, "reader waiting for the name", func() bool {
		b.namesMu.Lock()
		defer b.namesMu.Unlock()
		return len(b.nameWaiters["q"]) == 1
	})
	b.CreateQueue(nil, "q")
	mustSend(t, b, nil, "q", "new")
	select {
	case ms := <-done:
		if cursorPayloads(ms) != "new" || ms[0].Cursor <= old[0].Cursor {
			t.Fatalf("read %q at cursor %d; want new above %d", cursorPayloads(ms), ms[0].Cursor, old[0].Cursor)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reader not woken by the new queue's send")
	}
}

func TestCursorReadBounded(t *testing.T) {
	skipOnEngine(t, "cursors (--compat) need the switch's own queues")
	b := newTestBroker(t, Options{MaxTransfer: 2, MaxTransferBytes: 10})
	x := login(t, b, "x")
	b.CreateQueue(nil, "q")
	mustSend(t, b, nil, "q", "1", "2", "3")
	if got := mustRead(t, b, x, -1, 0, "q"); cursorPayloads(got) != "1,2" {
		t.Fatalf("read %q; want the first two", cursorPayloads(got))
	}
	b.CreateQueue(nil, "big")
	mustSend(t, b, nil, "big", strings.Repeat("x", 20), "y")
	got := mustRead(t, b, x, -1, 0, "big")
	if len(got) != 1 || len(got[0].Payload) != 20 {
		t.Fatalf("read %d messages; want the one over the byte budget alone", len(got))
	}
}

func TestSendNumberedNamesItsOwnCursor(t *testing.T) {
	skipOnEngine(t, "cursors (--compat) need the switch's own queues")
	b := newTestBroker(t, Options{})
	x := login(t, b, "x")
	b.CreateQueue(nil, "q")
	mustSend(t, b, nil, "q", "before")
	cur, err := b.SendNumbered(x, "q", wire.Message{Payload: []byte("p"), ReplyTo: "r"}, func(c int64) string { return "q/" + strconv.FormatInt(c, 10) })
	if err != nil {
		t.Fatal(err)
	}
	d, ok := b.FindCursor("q", cur)
	if !ok || string(d.Payload) != "p" || d.CorrelationID != "q/"+strconv.FormatInt(cur, 10) || d.ReplyTo != "r" || d.Origin != "x" {
		t.Fatalf("FindCursor = %+v, %v", d, ok)
	}
	if _, err := b.SendNumbered(x, "nosuch", wire.Message{}, func(int64) string { return "" }); !errors.Is(err, ErrNoSuchQueue) {
		t.Fatalf("send to a missing queue = %v", err)
	}
	if _, err := b.SendNumbered(x, "q", wire.Message{}, func(int64) string { return strings.Repeat("c", MaxFieldLen+1) }); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized correlation id = %v", err)
	}
	if _, ok := b.FindCursor("q", cur+1); ok {
		t.Fatal("FindCursor found a message never sent")
	}
}

func TestCursorReaderWaitingThroughADestroy(t *testing.T) {
	skipOnEngine(t, "cursors (--compat) need the switch's own queues")
	b := newTestBroker(t, Options{})
	x := login(t, b, "x")
	b.CreateQueue(nil, "q")
	done := make(chan []CursorMessage, 1)
	go func() {
		ms, _ := b.ReadCursor(context.Background(), x, []string{"q"}, -1, 10*time.Second)
		done <- ms
	}()
	testutil.Eventually(t, "reader watching q", queueWatchers(b, "q", 1))
	// Destroyed and made again while the reader waits: a send to the new
	// queue wakes it.
	b.DestroyQueue(nil, "q", false)
	b.CreateQueue(nil, "q")
	mustSend(t, b, nil, "q", "again")
	select {
	case ms := <-done:
		if cursorPayloads(ms) != "again" {
			t.Fatalf("reader woke with %q; want again", cursorPayloads(ms))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reader not woken by the new queue's send")
	}
}
