package lib_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"msw/broker"
	"msw/lib"
)

// Concurrent sends to one queue share requests; each still gets its own
// id and every message arrives once, with its own payload.
func TestConcurrentSendsEachGetTheirOwnID(t *testing.T) {
	addr, _ := runSwitch(t, "127.0.0.1:0", broker.Options{})
	ctx := context.Background()
	c := newClient(t, addr, 0)
	if err := c.CreateQueue(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	const senders, each = 32, 50
	var mu sync.Mutex
	ids := map[uint64]string{}
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				p := fmt.Sprintf("%d/%d", g, i)
				id, err := c.Send(ctx, "q", lib.Message{Payload: []byte(p), CorrelationID: p})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if prev, dup := ids[id]; dup {
					t.Errorf("id %d given to %s and %s", id, prev, p)
				}
				ids[id] = p
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(ids) != senders*each {
		t.Fatalf("%d ids, want %d", len(ids), senders*each)
	}
	if err := c.Subscribe(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	got := 0
	for got < senders*each {
		ds, err := c.Transfer(ctx, lib.TransferOptions{Timeout: time.Second})
		if err != nil || len(ds) == 0 {
			t.Fatalf("transfer after %d: %v", got, err)
		}
		for _, d := range ds {
			if want := ids[d.ID]; string(d.Payload) != want || d.CorrelationID != want {
				t.Errorf("message %d: payload %q, correlation id %q; sent %q", d.ID, d.Payload, d.CorrelationID, want)
			}
		}
		got += len(ds)
	}
}

// A message the switch refuses fails only its own send, even when it
// shared a batch with others.
func TestRefusedSendFailsAlone(t *testing.T) {
	addr, _ := runSwitch(t, "127.0.0.1:0", broker.Options{MaxPayload: 1000})
	ctx := context.Background()
	c := newClient(t, addr, 0)
	if err := c.CreateQueue(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	const senders = 40
	errs := make([]error, senders)
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			size := 10
			if g%10 == 3 {
				size = 2000 // over the limit
			}
			_, errs[g] = c.Send(ctx, "q", lib.Message{Payload: make([]byte, size)})
		}()
	}
	wg.Wait()
	for g, err := range errs {
		if bad := g%10 == 3; bad != lib.IsCode(err, lib.CodeTooLarge) {
			t.Errorf("send %d (oversized: %v): %v", g, bad, err)
		}
	}
	qi, err := c.Info(ctx, "q")
	if err != nil || qi.Depth != senders-senders/10 {
		t.Errorf("queue holds %d, want %d (%v)", qi.Depth, senders-senders/10, err)
	}
}

// A sender that gives up while waiting for its turn returns at once and
// its message is not sent.
func TestSendGivesUpWhileWaiting(t *testing.T) {
	addr, _ := runSwitch(t, "127.0.0.1:0", broker.Options{})
	c := newClient(t, addr, 0)
	ctx := context.Background()
	if err := c.CreateQueue(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Send(ctx, "q", lib.Message{Payload: []byte("kept")})
			if _, err := c.Send(cctx, "q", lib.Message{Payload: []byte("dropped")}); err == nil {
				// It may have gone alone, before noticing; that is fine.
				return
			}
		}()
	}
	wg.Wait()
	// The line is idle again: a new send goes through.
	if _, err := c.Send(ctx, "q", lib.Message{Payload: []byte("last")}); err != nil {
		t.Fatal(err)
	}
}
