package broker

import "testing"

// Sends started one after another, before either is waited for, are
// queued in that order with consecutive ids, and each is finished by its
// Wait.
func TestSendPendingKeepsOrder(t *testing.T) {
	b := newTestBroker(t, Options{})
	b.CreateQueue(nil, "q")
	p1, err := b.SendPending(nil, "q", msgs("1", "2"))
	if err != nil {
		t.Fatal(err)
	}
	p2, err := b.SendPending(nil, "q", msgs("3"))
	if err != nil {
		t.Fatal(err)
	}
	id1, err1 := p1.Wait()
	id2, err2 := p2.Wait()
	if err1 != nil || err2 != nil {
		t.Fatalf("Wait: %v, %v", err1, err2)
	}
	if id2 != id1+2 {
		t.Errorf("ids %d and %d: want consecutive", id1, id2)
	}
	s := login(t, b, "r")
	b.Subscribe(s, []string{"q"})
	if got := payloads(transferAll(t, b, s, 3)); got != "1,2,3" {
		t.Errorf("queue holds %q, want 1,2,3", got)
	}
}

// Withdraw takes a finished send's messages out again, except those a
// receiver took meanwhile.
func TestPendingSendWithdraw(t *testing.T) {
	skipOnEngine(t, "an engine's send is finished at once: nothing is left to withdraw")
	b := newTestBroker(t, Options{})
	b.CreateQueue(nil, "q")
	p, err := b.SendPending(nil, "q", msgs("a", "b", "c"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	s := login(t, b, "r")
	b.Subscribe(s, []string{"q"})
	if ds := mustTransfer(t, b, s, 1, 0); payloads(ds) != "a" {
		t.Fatalf("took %q, want a", payloads(ds))
	}
	if n := p.Withdraw(); n != 2 {
		t.Errorf("Withdraw removed %d, want 2", n)
	}
	if qi, _ := b.Info("q"); qi.Depth != 0 || qi.InFlight != 1 {
		t.Errorf("after Withdraw: depth %d, in flight %d; want 0 and 1", qi.Depth, qi.InFlight)
	}
}
