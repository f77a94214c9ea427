package broker

import (
	"testing"
	"time"

	"msw/internal/wire"
)

// notified records the calls of a TakeOrNotify registration's function.
type notified struct {
	ch chan any
}

func newNotified() *notified { return &notified{ch: make(chan any, 8)} }

func (n *notified) fn(by any) { n.ch <- by }

// wait returns the argument of the next call, failing after a while.
func (n *notified) wait(t *testing.T, what string) any {
	t.Helper()
	select {
	case by := <-n.ch:
		return by
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: the registration was not notified", what)
		return nil
	}
}

// none fails if the function has been called.
func (n *notified) none(t *testing.T, what string) {
	t.Helper()
	select {
	case by := <-n.ch:
		t.Fatalf("%s: notified (by %v), want not", what, by)
	default:
	}
}

// notifyBroker is a broker holding its queues itself, with queue q and
// a session subscribed to it.
func notifyBroker(t *testing.T) (*Broker, *Session) {
	t.Helper()
	skipOnEngine(t, "TakeOrNotify is for a broker that holds its queues itself")
	b := newTestBroker(t, Options{})
	b.CreateQueue(nil, "q")
	s := login(t, b, "c")
	b.Subscribe(s, []string{"q"})
	return b, s
}

// Ready messages are taken at once, in flight for the session, and
// nothing is registered.
func TestTakeOrNotifyTakesWhatIsReady(t *testing.T) {
	b, s := notifyBroker(t)
	mustSend(t, b, nil, "q", "a", "b")
	n := newNotified()
	ds, reg, err := b.TakeOrNotify(s, 10, n.fn)
	if err != nil || payloads(ds) != "a,b" {
		t.Fatalf("TakeOrNotify: %q, %v; want a,b", payloads(ds), err)
	}
	if reg != (Notify{}) {
		t.Error("a registration was made although messages were taken")
	}
	if qi, _ := b.Info("q"); qi.InFlight != 2 {
		t.Errorf("in flight %d, want 2", qi.InFlight)
	}
	if !queueWaiters(b, "q", 0)() {
		t.Error("a waiter is left on the queue after a take")
	}
}

// A send that makes a message ready calls the registration's function
// on the sender's goroutine when the sender asks (PendingSend.Notify),
// with the sender's argument and no lock held: the function may take
// the message then and there.
func TestNotifyCalledBySender(t *testing.T) {
	b, s := notifyBroker(t)
	var got []wire.Delivery
	var by any
	calls := 0
	fn := func(arg any) {
		calls++
		by = arg
		got, _, _ = b.TakeOrNotify(s, 10, func(any) {})
	}
	if ds, reg, err := b.TakeOrNotify(s, 10, fn); len(ds) != 0 || reg == (Notify{}) || err != nil {
		t.Fatalf("TakeOrNotify on an empty queue: %d deliveries, registered %v, %v", len(ds), reg != (Notify{}), err)
	}
	p, err := b.SendPending(nil, "q", msgs("x"))
	if err != nil {
		t.Fatal(err)
	}
	if calls != 0 {
		t.Fatal("notified before the sender asked")
	}
	p.Notify("reader")
	if calls != 1 || by != "reader" {
		t.Fatalf("after Notify: %d calls, by %v; want 1 by the sender's argument", calls, by)
	}
	if payloads(got) != "x" {
		t.Errorf("the function took %q, want x", payloads(got))
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("Wait notified again: %d calls", calls)
	}
}

// Wake-ups the sender does not take on itself reach the function on a
// goroutine of its own, with nil: a send finished by Wait alone, and a
// release.
func TestNotifyOtherwiseOnAGoroutine(t *testing.T) {
	b, s := notifyBroker(t)
	n := newNotified()
	if _, _, err := b.TakeOrNotify(s, 10, n.fn); err != nil {
		t.Fatal(err)
	}
	mustSend(t, b, nil, "q", "a")
	if by := n.wait(t, "a send"); by != nil {
		t.Errorf("notified by %v, want nil", by)
	}
	ds, _, _ := b.TakeOrNotify(s, 10, n.fn)
	if payloads(ds) != "a" {
		t.Fatalf("took %q, want a", payloads(ds))
	}
	other := login(t, b, "other")
	b.Subscribe(other, []string{"q"})
	if _, _, err := b.TakeOrNotify(other, 10, n.fn); err != nil {
		t.Fatal(err)
	}
	if err := b.Release(s, wire.Acks{"q": {ds[0].ID}}); err != nil {
		t.Fatal(err)
	}
	if by := n.wait(t, "a release"); by != nil {
		t.Errorf("notified by %v, want nil", by)
	}
}

// A registration woken and stopped before it took anything passes the
// wake-up on: the other consumer of the queue is notified and takes the
// message, which would otherwise wait for a send that may never come.
func TestStopNotifyThenPassWake(t *testing.T) {
	b, first := notifyBroker(t)
	second := login(t, b, "second")
	b.Subscribe(second, []string{"q"})
	n1, n2 := newNotified(), newNotified()
	_, reg1, _ := b.TakeOrNotify(first, 10, n1.fn)
	_, reg2, _ := b.TakeOrNotify(second, 10, n2.fn)
	p, err := b.SendPending(nil, "q", msgs("m"))
	if err != nil {
		t.Fatal(err)
	}
	p.Notify("sender")
	if by := n1.wait(t, "the first registration"); by != "sender" {
		t.Fatalf("first notified by %v", by)
	}
	n2.none(t, "one message wakes one registration")
	if !b.StopNotify(first, reg1) {
		t.Fatal("StopNotify of a woken registration reports it was not woken")
	}
	b.PassWake(first)
	n2.wait(t, "the wake-up passed on")
	ds, _, _ := b.TakeOrNotify(second, 10, n2.fn)
	if payloads(ds) != "m" {
		t.Errorf("the second consumer took %q, want m", payloads(ds))
	}
	if !b.StopNotify(second, reg2) {
		t.Error("StopNotify of the registration the pass woke reports it was not woken")
	}
}
