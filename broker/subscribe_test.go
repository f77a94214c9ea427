package broker

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// TestSubscribeCostsPerName: subscribing to and unsubscribing from many
// queues at once costs per name (80,000 of 100,000 took 13.6 s of CPU
// when each name was looked for in the whole list), and a session
// forgets the queues it left and holds nothing of.
func TestSubscribeCostsPerName(t *testing.T) {
	n := 20000
	if os.Getenv("MSW_ATTACK") != "" {
		n = 100000
	}
	// The session is never connected: a long grace keeps it while a
	// loaded machine takes seconds over the calls (3 s, the default, ended
	// it mid-test once).
	b := New(Options{MaxSubscriptions: n, MaxQueues: n, TraceSize: -1, Grace: time.Hour})
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("q%d", i)
		if err := b.CreateQueue(nil, names[i]); err != nil {
			t.Fatal(err)
		}
	}
	s, err := b.Login("many")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := b.Subscribe(s, names); err != nil {
		t.Fatal(err)
	}
	sub := time.Since(start)
	// It holds a message of the first queue it will leave.
	if _, err := b.Send(nil, names[0], nil); err != nil {
		t.Fatal(err)
	}
	b.queues[names[0]].mu.Lock()
	b.queues[names[0]].inflight.add(message{id: 1}, s)
	b.queues[names[0]].mu.Unlock()
	leave := n * 4 / 5
	start = time.Now()
	b.Unsubscribe(s, names[:leave])
	unsub := time.Since(start)
	t.Logf("subscribe to %d queues in one call: %v; unsubscribe from %d: %v", n, sub, leave, unsub)
	if got := len(s.subscriptions()); got != n-leave {
		t.Errorf("%d subscriptions left; want %d", got, n-leave)
	}
	s.mu.Lock()
	touched := len(s.touched)
	s.mu.Unlock()
	if touched != n-leave+1 {
		t.Errorf("the session remembers %d queues; want the %d it polls and the one it holds a message of", touched, n-leave+1)
	}
	for _, name := range names[:3] {
		q := b.queues[name]
		q.mu.Lock()
		subs := q.subscribers
		q.mu.Unlock()
		if subs != 0 {
			t.Errorf("%s has %d subscribers after the unsubscribe", name, subs)
		}
	}
}
