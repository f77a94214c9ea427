package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"msw/internal/testutil"
	"msw/internal/wire"
)

func newTestBroker(t *testing.T, opts Options) *Broker {
	t.Helper()
	b := New(testOptions(t, opts))
	t.Cleanup(b.Close)
	return b
}

func login(t *testing.T, b *Broker, id string) *Session {
	t.Helper()
	s, err := b.Login(id)
	if err != nil {
		t.Fatal(err)
	}
	s.AddConn() // as the server does for the login's connection
	return s
}

func msgs(payloads ...string) []wire.Message {
	out := make([]wire.Message, len(payloads))
	for i, p := range payloads {
		out[i] = wire.Message{Payload: []byte(p), CorrelationID: "c" + p}
	}
	return out
}

func payloads(ds []wire.Delivery) string {
	var ps []string
	for _, d := range ds {
		ps = append(ps, string(d.Payload))
	}
	return strings.Join(ps, ",")
}

func mustSend(t *testing.T, b *Broker, s *Session, q string, ps ...string) uint64 {
	t.Helper()
	id, err := b.Send(s, q, msgs(ps...))
	if err != nil {
		t.Fatalf("Send(%s, %v) = %v", q, ps, err)
	}
	return id
}

func mustTransfer(t *testing.T, b *Broker, s *Session, max int, timeout time.Duration) []wire.Delivery {
	t.Helper()
	ds, err := b.Transfer(context.Background(), s, max, timeout)
	if err != nil {
		t.Fatalf("Transfer = %v", err)
	}
	return ds
}

// transferAll transfers until s holds n messages or a transfer that
// waits a second brings none. A pull from an engine hands over what has
// reached its consumer when the first message does, so one transfer may
// bring fewer than are ready; over memory one brings them all.
func transferAll(t *testing.T, b *Broker, s *Session, n int) []wire.Delivery {
	t.Helper()
	var out []wire.Delivery
	for len(out) < n {
		ds := mustTransfer(t, b, s, n-len(out), time.Second)
		if len(ds) == 0 {
			break
		}
		out = append(out, ds...)
	}
	return out
}

func acksOf(ds []wire.Delivery) wire.Acks {
	a := wire.Acks{}
	for _, d := range ds {
		a[d.Queue] = append(a[d.Queue], d.ID)
	}
	return a
}

// queueWaiters reports whether n transfers wait on the named queue.
func queueWaiters(b *Broker, name string, n int) func() bool {
	return queueCount(b, name, n, func(q *Queue) int { return len(q.waiters) })
}

// queueCount reports whether count, read under the named queue's lock, is n.
func queueCount(b *Broker, name string, n int, count func(*Queue) int) func() bool {
	return func() bool {
		q, err := b.lookup(name)
		if err != nil {
			return false
		}
		q.mu.Lock()
		defer q.mu.Unlock()
		return count(q) == n
	}
}

type transferResult struct {
	ds  []wire.Delivery
	err error
}

// transferInBackground starts a transfer that may wait up to timeout.
func transferInBackground(b *Broker, s *Session, timeout time.Duration) <-chan transferResult {
	done := make(chan transferResult, 1)
	go func() {
		ds, err := b.Transfer(context.Background(), s, 0, timeout)
		done <- transferResult{ds, err}
	}()
	return done
}

// awaitTransfer waits (up to 5s, failing with what) for a background
// transfer to return.
func awaitTransfer(t *testing.T, done <-chan transferResult, what string) transferResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal(what)
		return transferResult{}
	}
}

func TestSendFIFOAndIDs(t *testing.T) {
	b := newTestBroker(t, Options{})
	if err := b.CreateQueue(nil, "q"); err != nil {
		t.Fatal(err)
	}
	if first := mustSend(t, b, nil, "q", "a", "b"); first != 1 {
		t.Errorf("first id = %d; want 1", first)
	}
	if first := mustSend(t, b, nil, "q", "c"); first != 3 {
		t.Errorf("first id = %d; want 3", first)
	}
	s := login(t, b, "r")
	if err := b.Subscribe(s, []string{"q"}); err != nil {
		t.Fatal(err)
	}
	ds := transferAll(t, b, s, 3)
	if got := payloads(ds); got != "a,b,c" {
		t.Fatalf("payloads = %q; want a,b,c", got)
	}
	for i, d := range ds {
		if d.ID != uint64(i+1) || d.DeliveryCount != 1 || d.Redelivered() || d.CorrelationID != "c"+string(d.Payload) || d.Queue != "q" {
			t.Errorf("delivery %d = %+v", i, d)
		}
	}
}

func TestSendToMissingQueueFails(t *testing.T) {
	b := newTestBroker(t, Options{})
	_, err := b.Send(nil, "nope", msgs("x"))
	if !errors.Is(err, ErrNoSuchQueue) {
		t.Fatalf("Send to missing queue = %v; want ErrNoSuchQueue", err)
	}
	_, err = b.Send(nil, "bad name", msgs("x"))
	if !errors.Is(err, ErrBadQueueName) {
		t.Fatalf("Send to bad name = %v; want ErrBadQueueName", err)
	}
}

func TestPayloadBytesTravelUnchanged(t *testing.T) {
	b := newTestBroker(t, Options{})
	b.CreateQueue(nil, "q")
	want := [][]byte{{}, {0, 0, 0}, {0xff, 0xfe, 'x', 0}, []byte("héllo\n")}
	var ms []wire.Message
	for _, p := range want {
		ms = append(ms, wire.Message{Payload: p, CorrelationID: "id\x00x", ReplyTo: "r"})
	}
	if _, err := b.Send(nil, "q", ms); err != nil {
		t.Fatal(err)
	}
	s := login(t, b, "r")
	b.Subscribe(s, []string{"q"})
	ds := mustTransfer(t, b, s, 0, 0)
	// Over the nats store one transfer may bring fewer than are stored
	// (a pull hands over what has arrived when the first does): take on
	// until a transfer that waits a second brings nothing.
	for len(ds) < len(want) {
		more := mustTransfer(t, b, s, 0, time.Second)
		if len(more) == 0 {
			break
		}
		ds = append(ds, more...)
	}
	if len(ds) != len(want) {
		t.Fatalf("got %d deliveries; want %d", len(ds), len(want))
	}
	for i := range want {
		if string(ds[i].Payload) != string(want[i]) || ds[i].CorrelationID != "id\x00x" || ds[i].ReplyTo != "r" {
			t.Errorf("delivery %d = %q/%q/%q; want %q", i, ds[i].Payload, ds[i].CorrelationID, ds[i].ReplyTo, want[i])
		}
	}
}

func TestLimits(t *testing.T) {
	b := newTestBroker(t, Options{MaxPayload: 10})
	b.CreateQueue(nil, "q")
	tests := []struct {
		name string
		m    wire.Message
		want error
	}{
		{"payload at limit", wire.Message{Payload: make([]byte, 10)}, nil},
		{"payload over limit", wire.Message{Payload: make([]byte, 11)}, ErrTooLarge},
		{"long correlation id", wire.Message{CorrelationID: strings.Repeat("c", MaxFieldLen+1)}, ErrTooLarge},
		{"bad reply-to", wire.Message{ReplyTo: "a b"}, ErrBadQueueName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.Send(nil, "q", []wire.Message{tt.m})
			if !errors.Is(err, tt.want) {
				t.Errorf("Send = %v; want %v", err, tt.want)
			}
		})
	}
	// A batch with one bad message enqueues nothing.
	_, err := b.Send(nil, "q", []wire.Message{{Payload: []byte("ok")}, {Payload: make([]byte, 11)}})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("batch Send = %v; want ErrTooLarge", err)
	}
	// Over an engine the cluster's counts follow the sends a moment later.
	testutil.Eventually(t, "depth 1 (only the message at the limit)", func() bool {
		qi, _ := b.Info("q")
		return qi.Depth == 1
	})
}

func TestValidateName(t *testing.T) {
	good := []string{"a", "foo", "Foo.bar-baz_1:2@host", "_x", strings.Repeat("n", MaxNameLen)}
	bad := []string{"", ".", "..", "-x", "a b", "a/b", "a?b", "a%20", "é", strings.Repeat("n", MaxNameLen+1)}
	for _, n := range good {
		if err := ValidateName(n); err != nil {
			t.Errorf("ValidateName(%q) = %v; want nil", n, err)
		}
	}
	for _, n := range bad {
		if err := ValidateName(n); !errors.Is(err, ErrBadQueueName) {
			t.Errorf("ValidateName(%q) = %v; want ErrBadQueueName", n, err)
		}
	}
}

func TestCompetingConsumersEachMessageOnce(t *testing.T) {
	b := newTestBroker(t, Options{})
	b.CreateQueue(nil, "q")
	const n, consumers = 2000, 4
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < consumers; i++ {
		s := login(t, b, fmt.Sprint("c", i))
		b.Subscribe(s, []string{"q"})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				ds, _ := b.Transfer(ctx, s, 7, time.Second)
				mu.Lock()
				for _, d := range ds {
					seen[string(d.Payload)]++
				}
				mu.Unlock()
				b.Ack(s, acksOf(ds))
			}
		}()
	}
	for i := 0; i < n; i += 10 {
		var ps []string
		for j := i; j < i+10; j++ {
			ps = append(ps, fmt.Sprint(j))
		}
		mustSend(t, b, nil, "q", ps...)
	}
	testutil.Eventually(t, "all messages consumed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == n
	})
	cancel()
	wg.Wait()
	for p, c := range seen {
		if c != 1 {
			t.Errorf("message %s delivered %d times; want 1", p, c)
		}
	}
	// Over an engine the cluster's counts follow the acks a moment later.
	testutil.Eventually(t, "queue empty after acks", func() bool {
		qi, _ := b.Info("q")
		return qi.Depth == 0 && qi.InFlight == 0
	})
}

func TestSessionEndRedeliversAtHeadInOrder(t *testing.T) {
	skipOnEngine(t, "a message given back is redelivered by the cluster's rules, not at the head in id order")
	b := newTestBroker(t, Options{})
	b.CreateQueue(nil, "q")
	mustSend(t, b, nil, "q", "1", "2", "3", "4")
	a := login(t, b, "a")
	b.Subscribe(a, []string{"q"})
	got := mustTransfer(t, b, a, 2, 0)
	if payloads(got) != "1,2" {
		t.Fatalf("a took %q; want 1,2", payloads(got))
	}
	b.EndSession(a)

	c := login(t, b, "c")
	b.Subscribe(c, []string{"q"})
	ds := mustTransfer(t, b, c, 0, 0)
	if payloads(ds) != "1,2,3,4" {
		t.Fatalf("after a ended, c got %q; want 1,2,3,4", payloads(ds))
	}
	for _, d := range ds[:2] {
		if !d.Redelivered() || d.DeliveryCount != 2 {
			t.Errorf("message %s: redelivered=%v count=%d; want true, 2", d.Payload, d.Redelivered(), d.DeliveryCount)
		}
	}
	for _, d := range ds[2:] {
		if d.Redelivered() {
			t.Errorf("message %s marked redelivered; it was never delivered", d.Payload)
		}
	}
}

func TestLastConnectionClosingEndsSessionAfterGrace(t *testing.T) {
	skipOnEngine(t, "a message given back counts as in flight until the cluster delivers it again")
	b := newTestBroker(t, Options{Grace: 20 * time.Millisecond})
	b.CreateQueue(nil, "q")
	mustSend(t, b, nil, "q", "x")
	s := login(t, b, "dies")
	s.AddConn() // a second connection
	tmp, err := b.CreateTransient(s, "")
	if err != nil {
		t.Fatal(err)
	}
	b.Subscribe(s, []string{"q"})
	if ds := mustTransfer(t, b, s, 0, 0); len(ds) != 1 {
		t.Fatalf("took %d; want 1", len(ds))
	}
	s.DropConn()
	// One connection is left: the session lives on well past the grace.
	time.Sleep(60 * time.Millisecond) // longer than the grace: the session must not end
	if s.Ended() {
		t.Fatal("session ended while it still had a connection")
	}
	s.DropConn()
	testutil.Eventually(t, "session end", s.Ended)
	// The session is marked ended before its clean-up runs (on the grace
	// timer's goroutine): wait for the clean-up, not just the mark.
	testutil.Eventually(t, "transient queue destroyed", func() bool {
		_, err := b.Info(tmp)
		return errors.Is(err, ErrNoSuchQueue)
	})
	testutil.Eventually(t, "held message back in q", func() bool {
		qi, _ := b.Info("q")
		return qi.Depth == 1 && qi.InFlight == 0
	})
	if _, err := b.Session(s.ID()); !errors.Is(err, ErrSessionEnded) {
		t.Errorf("Session(ended) = %v; want ErrSessionEnded", err)
	}
}

func TestReconnectWithinGraceKeepsSession(t *testing.T) {
	b := newTestBroker(t, Options{Grace: 50 * time.Millisecond})
	s := login(t, b, "flaky")
	tmp, _ := b.CreateTransient(s, "mine")
	s.DropConn()
	s.AddConn()
	time.Sleep(100 * time.Millisecond) // twice the grace: the cancelled timer must not fire
	if s.Ended() {
		t.Fatal("session ended although a connection came back within the grace period")
	}
	if _, err := b.Info(tmp); err != nil {
		t.Errorf("transient queue lost: %v", err)
	}
}

func TestTransientQueues(t *testing.T) {
	b := newTestBroker(t, Options{})
	s := login(t, b, "owner")
	n1, _ := b.CreateTransient(s, "")
	n2, _ := b.CreateTransient(s, "")
	if n1 == n2 || !strings.HasPrefix(n1, "tmp-") {
		t.Errorf("fresh names %q, %q: want distinct tmp- names", n1, n2)
	}
	if n, err := b.CreateTransient(s, "reply"); err != nil || n != "reply" {
		t.Fatalf("CreateTransient(reply) = %q, %v", n, err)
	}
	if _, err := b.CreateTransient(s, "reply"); err != nil {
		t.Errorf("re-creating own transient queue: %v; want nil", err)
	}
	other := login(t, b, "other")
	if _, err := b.CreateTransient(other, "reply"); !errors.Is(err, ErrQueueExists) {
		t.Errorf("other session taking the name: %v; want ErrQueueExists", err)
	}
	if err := b.CreateQueue(nil, "reply"); !errors.Is(err, ErrQueueExists) {
		t.Errorf("persistent over transient: %v; want ErrQueueExists", err)
	}
	mustSend(t, b, other, "reply", "r")
	b.EndSession(s)
	for _, n := range []string{n1, n2, "reply"} {
		if _, err := b.Info(n); !errors.Is(err, ErrNoSuchQueue) {
			t.Errorf("Info(%s) after owner ended = %v; want ErrNoSuchQueue", n, err)
		}
	}
	if _, err := b.Send(other, "reply", msgs("late")); !errors.Is(err, ErrNoSuchQueue) {
		t.Errorf("send to dead reply queue = %v; want ErrNoSuchQueue (never a silent drop)", err)
	}
}

func TestTransferWaitsAndWakes(t *testing.T) {
	skipOnEngine(t, "a transfer of a cluster queue waits in the cluster, not on the gateway's waiter list")
	b := newTestBroker(t, Options{})
	b.CreateQueue(nil, "q")
	s := login(t, b, "r")
	b.Subscribe(s, []string{"q"})
	done := transferInBackground(b, s, 10*time.Second)
	testutil.Eventually(t, "transfer waiting", queueWaiters(b, "q", 1))
	mustSend(t, b, nil, "q", "wake")
	if r := awaitTransfer(t, done, "transfer not woken by send"); r.err != nil || payloads(r.ds) != "wake" {
		t.Fatalf("got %q, %v; want wake", payloads(r.ds), r.err)
	}
}

func TestTransferTimesOutEmpty(t *testing.T) {
	b := newTestBroker(t, Options{})
	b.CreateQueue(nil, "q")
	s := login(t, b, "r")
	b.Subscribe(s, []string{"q"})
	start := time.Now()
	ds := mustTransfer(t, b, s, 0, 30*time.Millisecond)
	if len(ds) != 0 {
		t.Fatalf("got %d messages; want none", len(ds))
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("returned after %v; want at least the 30ms timeout", d)
	}
	q, _ := b.lookup("q")
	if len(q.waiters) != 0 {
		t.Errorf("%d waiters left registered; want 0", len(q.waiters))
	}
}

func TestTransferCancelledAfterWakePassesItOn(t *testing.T) {
	skipOnEngine(t, "a transfer of a cluster queue waits in the cluster, not on the gateway's waiter list")
	b := newTestBroker(t, Options{})
	b.CreateQueue(nil, "q")
	s1, s2 := login(t, b, "one"), login(t, b, "two")
	b.Subscribe(s1, []string{"q"})
	b.Subscribe(s2, []string{"q"})
	q, _ := b.lookup("q")
	// Register s1's waiter first, then s2's, by hand so the order is known.
	w1, w2 := newWaiter(), newWaiter()
	q.mu.Lock()
	q.waiters = append(q.waiters, w1, w2)
	q.mu.Unlock()
	mustSend(t, b, nil, "q", "m") // wakes w1
	if w1.state.Load() != waiterWoken || w2.state.Load() != waiterWaiting {
		t.Fatalf("states %d, %d; want woken, waiting", w1.state.Load(), w2.state.Load())
	}
	// w1's transfer goes away without taking: it passes the wake on to w2.
	b.forget(s1, w1)
	b.passWake(s1)
	select {
	case <-w2.ch:
	default:
		t.Fatal("second waiter not woken after the first left without taking")
	}
}

func TestIdlePollersOfOtherQueuesNotWoken(t *testing.T) {
	skipOnEngine(t, "a transfer of a cluster queue waits in the cluster, not on the gateway's waiter list")
	b := newTestBroker(t, Options{})
	b.CreateQueue(nil, "busy")
	var idle []*waiter
	for i := 0; i < 50; i++ {
		name := fmt.Sprint("idle", i)
		b.CreateQueue(nil, name)
		q, _ := b.lookup(name)
		w := newWaiter()
		q.waiters = append(q.waiters, w)
		idle = append(idle, w)
	}
	mustSend(t, b, nil, "busy", "x")
	for i, w := range idle {
		if w.state.Load() != waiterWaiting {
			t.Fatalf("idle poller %d woken by a send to another queue", i)
		}
	}
}

func TestReleaseGivesBack(t *testing.T) {
	b := newTestBroker(t, Options{})
	b.CreateQueue(nil, "q")
	mustSend(t, b, nil, "q", "1", "2", "3")
	s := login(t, b, "r")
	b.Subscribe(s, []string{"q"})
	ds := transferAll(t, b, s, 3)
	if len(ds) != 3 {
		t.Fatalf("took %q; want 1,2,3", payloads(ds))
	}
	other := login(t, b, "other")
	b.Release(other, acksOf(ds)) // not its messages: nothing happens
	// Over an engine the cluster's counts follow a moment later.
	testutil.Eventually(t, "3 in flight after a foreign release", func() bool {
		qi, _ := b.Info("q")
		return qi.InFlight == 3
	})
	b.Release(s, wire.Acks{"q": {ds[2].ID, ds[1].ID}})
	again := transferAll(t, b, s, 2)
	if payloads(again) != "2,3" {
		t.Fatalf("after release got %q; want 2,3", payloads(again))
	}
}

// oneOfTwoTaken is a broker with "1" and "2" in queue q, and a session
// subscribed to q holding "1".
func oneOfTwoTaken(t *testing.T) (*Broker, *Session, []wire.Delivery) {
	t.Helper()
	b := newTestBroker(t, Options{})
	b.CreateQueue(nil, "q")
	mustSend(t, b, nil, "q", "1", "2")
	s := login(t, b, "r")
	b.Subscribe(s, []string{"q"})
	return b, s, mustTransfer(t, b, s, 1, 0)
}

// AckQueue is Ack for one queue's ids: a server's reply acks its request
// so.
func TestAckQueueDeletesAndReportsMissing(t *testing.T) {
	b, s, ds := oneOfTwoTaken(t)
	if err := b.AckQueue(s, "q", ds[0].ID); err != nil {
		t.Fatalf("AckQueue = %v", err)
	}
	if err := b.AckQueue(s, "q", ds[0].ID); !errors.Is(err, ErrNoSuchMessage) {
		t.Errorf("second AckQueue = %v; want ErrNoSuchMessage", err)
	}
	if err := b.AckQueue(s, "nowhere", 1); !errors.Is(err, ErrNoSuchQueue) {
		t.Errorf("AckQueue of a queue that is not = %v; want ErrNoSuchQueue", err)
	}
	testutil.Eventually(t, "one message left, none in flight", func() bool {
		qi, _ := b.Info("q")
		return qi.Depth == 1 && qi.InFlight == 0
	})
}

func TestAckDeletesAndReportsMissing(t *testing.T) {
	b, s, ds := oneOfTwoTaken(t)
	// Ack the delivered one and, by hand, the still-ready one.
	if err := b.Ack(nil, wire.Acks{"q": {ds[0].ID, 2}}); err != nil {
		t.Fatalf("Ack = %v", err)
	}
	if err := b.Ack(s, wire.Acks{"q": {1}}); !errors.Is(err, ErrNoSuchMessage) {
		t.Errorf("second Ack = %v; want ErrNoSuchMessage", err)
	}
	// A cluster's counts follow its acks a moment later.
	testutil.Eventually(t, "queue empty after acks", func() bool {
		qi, _ := b.Info("q")
		return qi.Depth == 0 && qi.InFlight == 0 && qi.Bytes == 0
	})
}

func TestWithdraw(t *testing.T) {
	b := newTestBroker(t, Options{})
	b.CreateQueue(nil, "q")
	mustSend(t, b, nil, "q", "1", "2", "3")
	if err := b.Withdraw(nil, "q", 2); err != nil {
		t.Fatalf("Withdraw(2) = %v", err)
	}
	if err := b.Withdraw(nil, "q", 2); !errors.Is(err, ErrNoSuchMessage) {
		t.Errorf("Withdraw(2) again = %v; want ErrNoSuchMessage", err)
	}
	s := login(t, b, "r")
	b.Subscribe(s, []string{"q"})
	ds := mustTransfer(t, b, s, 1, 0)
	if err := b.Withdraw(nil, "q", ds[0].ID); !errors.Is(err, ErrInFlight) {
		t.Errorf("Withdraw(in flight) = %v; want ErrInFlight", err)
	}
	if rest := mustTransfer(t, b, s, 0, 0); payloads(rest) != "3" {
		t.Errorf("remaining = %q; want 3", payloads(rest))
	}
}

func TestPeekLeavesMessages(t *testing.T) {
	b := newTestBroker(t, Options{})
	b.CreateQueue(nil, "q")
	mustSend(t, b, nil, "q", "1", "2", "3")
	ds, err := b.Peek("q", 2)
	if err != nil || payloads(ds) != "1,2" {
		t.Fatalf("Peek = %q, %v; want 1,2", payloads(ds), err)
	}
	// A cluster's counts follow its sends a moment later
	// (docs/scale-out.md): wait for all three counted, none taken.
	testutil.Eventually(t, "depth 3 after peek", func() bool {
		qi, _ := b.Info("q")
		return qi.Depth == 3 && qi.InFlight == 0
	})
}

func TestDestroyQueue(t *testing.T) {
	b := newTestBroker(t, Options{})
	b.CreateQueue(nil, "q")
	mustSend(t, b, nil, "q", "1")
	// A cluster queue's counts follow a send a moment later, and
	// destroy-if-empty reads them (docs/scale-out.md).
	testutil.Eventually(t, "the message counted", func() bool {
		qi, _ := b.Info("q")
		return qi.Depth == 1
	})
	if err := b.DestroyQueue(nil, "q", true); !errors.Is(err, ErrQueueNotEmpty) {
		t.Fatalf("DestroyQueue(ifEmpty) = %v; want ErrQueueNotEmpty", err)
	}
	s := login(t, b, "r")
	b.Subscribe(s, []string{"q"})
	done := transferInBackground(b, s, 10*time.Second)
	mustTransfer(t, b, s, 0, 0) // drain so the goroutine above waits
	if err := b.DestroyQueue(nil, "q", false); err != nil {
		t.Fatal(err)
	}
	// A queue of the same name made later is the one the poller now sees.
	b.CreateQueue(nil, "q")
	if makeEngine != nil {
		// Over a cluster, the nodes may still be taking the old stream
		// down: a send can time out for a moment
		// (docs/scale-out.md, "A queue made again").
		testutil.Eventually(t, "the queue made again takes a send", func() bool {
			_, err := b.Send(nil, "q", msgs("new"))
			return err == nil
		})
	} else {
		mustSend(t, b, nil, "q", "new")
	}
	if r := awaitTransfer(t, done, "poller of a destroyed queue never returned"); r.err != nil {
		t.Fatalf("transfer = %v", r.err)
	}
}

// A queue made again after a persistent queue of its name was destroyed
// numbers its messages above every id that queue gave: an ack a client
// kept from the old queue must fail, not delete a message of the new one
// nobody received.
func TestQueueMadeAgainNumbersAboveTheOld(t *testing.T) {
	skipOnEngine(t, "ids are stream sequences: a stream made again numbers from 1")
	b := newTestBroker(t, Options{})
	b.CreateQueue(nil, "q")
	mustSend(t, b, nil, "q", "a", "b", "c")
	s := login(t, b, "worker")
	b.Subscribe(s, []string{"q"})
	held := mustTransfer(t, b, s, 1, 0) // the worker holds a, and keeps its id
	if err := b.DestroyQueue(nil, "q", false); err != nil {
		t.Fatal(err)
	}
	b.CreateQueue(nil, "q")
	if first := mustSend(t, b, nil, "q", "new"); first <= 3 {
		t.Fatalf("first id of the queue made again = %d; want above 3", first)
	}
	if err := b.Ack(s, wire.Acks{"q": {held[0].ID}}); !errors.Is(err, ErrNoSuchMessage) {
		t.Fatalf("ack of an id from the destroyed queue = %v; want ErrNoSuchMessage", err)
	}
	if qi, _ := b.Info("q"); qi.Depth != 1 {
		t.Fatalf("depth after the stale ack = %d; want 1 (the new message kept)", qi.Depth)
	}

	// A transient queue of that name numbers above it too.
	if err := b.DestroyQueue(nil, "q", false); err != nil {
		t.Fatal(err)
	}
	owner := login(t, b, "owner")
	if _, err := b.CreateTransient(owner, "q"); err != nil {
		t.Fatal(err)
	}
	if first := mustSend(t, b, nil, "q", "reply"); first <= 4 {
		t.Fatalf("first id of a transient queue made after = %d; want above 4", first)
	}
}

func TestPollerOfADestroyedQueueWaitsForItsName(t *testing.T) {
	skipOnEngine(t, "a transfer of a cluster queue waits in the cluster, not on the gateway's waiter list")
	b := newTestBroker(t, Options{})
	b.CreateQueue(nil, "q")
	s := login(t, b, "r")
	b.Subscribe(s, []string{"q"})
	got := transferInBackground(b, s, 30*time.Second)
	testutil.Eventually(t, "poller waiting on q", queueWaiters(b, "q", 1))
	b.DestroyQueue(nil, "q", false)
	// Woken by the destruction, the poller finds no queue of that name
	// and waits for one.
	testutil.Eventually(t, "poller waiting for the name", func() bool {
		b.namesMu.Lock()
		defer b.namesMu.Unlock()
		return len(b.nameWaiters["q"]) == 1
	})
	b.CreateQueue(nil, "q")
	mustSend(t, b, nil, "q", "new")
	if r := awaitTransfer(t, got, "poller did not see the queue made again under its name"); payloads(r.ds) != "new" {
		t.Fatalf("poller got %q, %v; want the new queue's message", payloads(r.ds), r.err)
	}
	b.namesMu.Lock()
	defer b.namesMu.Unlock()
	if len(b.nameWaiters) != 0 {
		t.Errorf("name waiters left: %v", b.nameWaiters)
	}
}

func TestListAliveAndPrefix(t *testing.T) {
	b := newTestBroker(t, Options{})
	for _, n := range []string{"a.1", "a.2", "b.1"} {
		b.CreateQueue(nil, n)
	}
	s := login(t, b, "r")
	b.Subscribe(s, []string{"a.2"})
	names := func(qs []wire.QueueInfo) string {
		var ns []string
		for _, q := range qs {
			ns = append(ns, q.Name)
		}
		return strings.Join(ns, " ")
	}
	if got := names(b.List("", true)); got != "a.1 a.2 b.1" {
		t.Errorf("List(all) = %q", got)
	}
	if got := names(b.List("a.", true)); got != "a.1 a.2" {
		t.Errorf("List(a., all) = %q", got)
	}
	if got := names(b.List("", false)); got != "a.2" {
		t.Errorf("List(alive) = %q; want a.2", got)
	}
}

func TestSnapshotShowsMessagesAndHolders(t *testing.T) {
	skipOnEngine(t, "diagnostics list the messages of the gateway's own queues only")
	b := newTestBroker(t, Options{})
	b.CreateQueue(nil, "svc")
	caller := login(t, b, "caller")
	reply, _ := b.CreateTransient(caller, "")
	b.Send(caller, "svc", []wire.Message{{Payload: []byte("req1"), CorrelationID: "1", ReplyTo: reply}, {Payload: []byte("req2"), CorrelationID: "2", ReplyTo: reply}})
	srv := login(t, b, "server")
	b.Subscribe(srv, []string{"svc"})
	mustTransfer(t, b, srv, 1, 0)
	snap := b.Snapshot(10)
	var svc *wire.QueueSnapshot
	for i := range snap.Queues {
		if snap.Queues[i].Name == "svc" {
			svc = &snap.Queues[i]
		}
	}
	if svc == nil || len(svc.Messages) != 2 {
		t.Fatalf("svc snapshot = %+v", svc)
	}
	ready, held := svc.Messages[0], svc.Messages[1]
	if ready.InFlight || ready.Preview != "req2" || ready.Origin != "caller" || ready.ReplyTo != reply {
		t.Errorf("ready message = %+v", ready)
	}
	if !held.InFlight || held.Holder != "server" || held.Preview != "req1" {
		t.Errorf("held message = %+v", held)
	}
	if !svc.EverSubscribed || svc.Subscribers != 1 {
		t.Errorf("svc subscribers = %d ever=%v", svc.Subscribers, svc.EverSubscribed)
	}
	if len(snap.Sessions) != 2 {
		t.Errorf("sessions = %d; want 2", len(snap.Sessions))
	}
}

func TestReplyProcessingTimeObserved(t *testing.T) {
	skipOnEngine(t, "reply processing times are not measured for requests taken from a cluster queue")
	var got []time.Duration
	var mu sync.Mutex
	b := newTestBroker(t, Options{OnReply: func(d time.Duration) {
		mu.Lock()
		got = append(got, d)
		mu.Unlock()
	}})
	b.CreateQueue(nil, "svc")
	caller := login(t, b, "caller")
	reply, _ := b.CreateTransient(caller, "")
	b.Send(caller, "svc", []wire.Message{{Payload: []byte("q"), CorrelationID: "42", ReplyTo: reply}})
	srv := login(t, b, "server")
	b.Subscribe(srv, []string{"svc"})
	ds := mustTransfer(t, b, srv, 0, 0)
	b.Send(srv, reply, []wire.Message{{Payload: []byte("a"), CorrelationID: "42"}})
	b.Send(srv, reply, []wire.Message{{Payload: []byte("b"), CorrelationID: "42"}}) // not a reply any more
	b.Ack(srv, acksOf(ds))
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("OnReply called %d times; want 1", len(got))
	}
	tr := b.Trace(context.Background(), 0, 0, 0)
	var kinds []string
	for _, e := range tr.Events {
		if e.Queue == "svc" || e.Queue == reply {
			k := e.Kind
			if e.Reply {
				k += "(reply)"
			}
			kinds = append(kinds, k)
		}
	}
	want := "queue_create queue_create send deliver send(reply) send ack"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("trace kinds = %s; want %s", got, want)
	}
}

func TestTraceRingBoundedAndLost(t *testing.T) {
	b := newTestBroker(t, Options{TraceSize: 8})
	b.CreateQueue(nil, "q")
	big := strings.Repeat("x", 1000)
	for i := 0; i < 20; i++ {
		mustSend(t, b, nil, "q", big)
	}
	tr := b.Trace(context.Background(), 0, 0, 0)
	if len(tr.Events) != 8 || tr.Lost != 13 || tr.Next != 21 {
		t.Fatalf("events %d lost %d next %d; want 8, 13, 21", len(tr.Events), tr.Lost, tr.Next)
	}
	for _, e := range tr.Events {
		if len(e.Preview) != PreviewLen || e.Size != 1000 {
			t.Errorf("event preview %d bytes, size %d; want %d, 1000", len(e.Preview), e.Size, PreviewLen)
		}
	}
	// A follower waiting for the next event is woken by it.
	done := make(chan wire.TraceResponse)
	go func() { done <- b.Trace(context.Background(), tr.Next, 0, 10*time.Second) }()
	testutil.Eventually(t, "follower waiting", func() bool { return b.trace.waiting.Load() == 1 })
	mustSend(t, b, nil, "q", "new")
	select {
	case r := <-done:
		if len(r.Events) != 1 || r.Events[0].Preview != "new" {
			t.Errorf("follower got %+v", r.Events)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("trace follower not woken")
	}
}

// TestTraceFollowerWaitsForAClaimedEvent: an event whose number is
// claimed but whose slot is not written yet (its writer descheduled, as
// under load) does not end a follower's wait with nothing, which the web
// page takes for a switch keeping no trace and waits 5 s before asking
// again; the follower gets the event once it is written.
func TestTraceFollowerWaitsForAClaimedEvent(t *testing.T) {
	b := newTestBroker(t, Options{})
	r := b.trace
	seq := r.next.Add(1) // claimed, not written
	after := seq - 1
	done := make(chan wire.TraceResponse)
	go func() { done <- b.Trace(context.Background(), after, 0, 10*time.Second) }()
	testutil.Eventually(t, "follower waiting", func() bool { return r.waiting.Load() == 1 })
	select {
	case got := <-done:
		t.Fatalf("follower answered before the event was written: %+v", got)
	default:
	}
	sl := &r.slots[seq%uint64(len(r.slots))]
	sl.mu.Lock()
	sl.seq, sl.rec = seq, traceRecord{kind: wire.EventSend, queue: "q", from: "me"}
	sl.mu.Unlock()
	r.notify()
	got := <-done
	if len(got.Events) != 1 || got.Next != seq {
		t.Errorf("follower got %d events, next %d; want 1, %d", len(got.Events), got.Next, seq)
	}
}

func TestTraceOff(t *testing.T) {
	b := newTestBroker(t, Options{TraceSize: -1})
	b.CreateQueue(nil, "q")
	mustSend(t, b, nil, "q", "x")
	if tr := b.Trace(context.Background(), 0, 0, 0); len(tr.Events) != 0 {
		t.Errorf("tracing off: %d events", len(tr.Events))
	}
}

func TestClosedBrokerRefuses(t *testing.T) {
	b := New(Options{})
	b.CreateQueue(nil, "q")
	s := login(t, b, "r")
	b.Subscribe(s, []string{"q"})
	done := transferInBackground(b, s, 10*time.Second)
	testutil.Eventually(t, "transfer waiting", queueWaiters(b, "q", 1))
	b.Close()
	if r := awaitTransfer(t, done, "transfer not ended by Close"); !errors.Is(r.err, ErrClosed) {
		t.Errorf("transfer on close = %v; want ErrClosed", r.err)
	}
	if _, err := b.Send(nil, "q", msgs("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v; want ErrClosed", err)
	}
}
