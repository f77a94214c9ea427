package broker

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"msw/internal/testutil"
)

// countingEngine counts the fetches and watches a broker asks of its
// engine.
type countingEngine struct {
	Engine
	fetches, watches atomic.Int64
}

func (c *countingEngine) Fetch(ctx context.Context, queue string, max int, wait time.Duration) ([]Fetched, error) {
	c.fetches.Add(1)
	return c.Engine.Fetch(ctx, queue, max, wait)
}

func (c *countingEngine) Watch(queues []string, wake func(string)) (func(), error) {
	c.watches.Add(1)
	return c.Engine.Watch(queues, wake)
}

// TestTransferOfSeveralEngineQueuesWakesOnASend: a transfer waiting on
// three cluster queues and a transient one sleeps until a send to any of
// them wakes it; it does not look at the cluster over and over while it
// waits (a poll every 20ms did): it fetches a bounded number of times
// however long it waited.
func TestTransferOfSeveralEngineQueuesWakesOnASend(t *testing.T) {
	if makeEngine == nil {
		t.Skip("over an engine only")
	}
	defer func(d time.Duration) { remoteRecheck = d }(remoteRecheck)
	remoteRecheck = time.Hour // only a wake ends the wait: the count is exact
	ce := &countingEngine{Engine: makeEngine(t)}
	b := newTestBroker(t, Options{Engine: ce, KeepAlive: testKeepAlive})
	s := login(t, b, "r")
	queues := []string{"q1", "q2", "q3"}
	for _, q := range queues {
		if err := b.CreateQueue(nil, q); err != nil {
			t.Fatal(err)
		}
	}
	tmp, err := b.CreateTransient(s, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(s, append(queues, tmp)); err != nil {
		t.Fatal(err)
	}
	for round, q := range append(queues, tmp) {
		ce.watches.Store(0)
		ce.fetches.Store(0)
		done := transferInBackground(b, s, 30*time.Second)
		testutil.Eventually(t, "transfer watching the cluster queues", func() bool { return ce.watches.Load() == 1 })
		// Once watching it looks once more (three fetches) and then
		// sleeps: nothing fetches until the send.
		testutil.Eventually(t, "transfer's look after the watch", func() bool { return ce.fetches.Load() >= 6 })
		mustSend(t, b, nil, q, "m")
		r := awaitTransfer(t, done, "transfer not woken by a send to "+q)
		if r.err != nil || payloads(r.ds) != "m" || r.ds[0].Queue != q {
			t.Fatalf("round %d: got %q, %v; want m from %s", round, payloads(r.ds), r.err, q)
		}
		// Two looks before the wake, the woken queue's, and one look
		// after it, over three queues.
		if n := ce.fetches.Load(); n > 10 {
			t.Errorf("round %d: %d fetches from the cluster for one wait; want at most 10", round, n)
		}
		t.Logf("round %d (send to %s): %d fetches", round, q, ce.fetches.Load())
		if err := b.Ack(s, acksOf(r.ds)); err != nil {
			t.Fatal(err)
		}
	}
}
