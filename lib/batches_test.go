package lib_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"msw/broker"
	"msw/broker/logstore"
	"msw/internal/switchtest"
	"msw/lib"
	"msw/server"
)

// batchStores are the stores a BatchSender is tried against: in memory
// (answered inline) and a log in each fsync mode (answered once synced,
// or written, with the next requests read meanwhile).
var batchStores = []struct {
	name string
	open func(t *testing.T) broker.Store
}{
	{"memory", func(*testing.T) broker.Store { return nil }},
	{"log", openLog(logstore.FsyncAlways)},
	{"log-interval", openLog(logstore.Fsync{Interval: 20 * time.Millisecond})},
	{"log-never", openLog(logstore.FsyncNever)},
}

// openLog opens a log store in a temporary directory.
func openLog(mode logstore.Fsync) func(t *testing.T) broker.Store {
	return func(t *testing.T) broker.Store {
		st, err := logstore.Open(t.TempDir(), logstore.Options{Fsync: mode})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
}

// batchSwitch starts a switch over the store and returns a client of it.
func batchSwitch(t *testing.T, open func(*testing.T) broker.Store, opts broker.Options) *lib.Client {
	opts.Store = open(t)
	sw := switchtest.Start(t, "", opts, server.Options{})
	return switchtest.Client(t, sw.Addr, lib.Options{})
}

// lines makes messages "from".."from+n-1".
func lines(from, n int) []lib.Message {
	ms := make([]lib.Message, n)
	for i := range ms {
		ms[i].Payload = []byte(strconv.Itoa(from + i))
	}
	return ms
}

// checkQueue fails unless queue holds exactly "0".."n-1", in order.
func checkQueue(t *testing.T, c *lib.Client, queue string, n int) {
	t.Helper()
	ds, err := c.Peek(context.Background(), queue, n+100)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != n {
		t.Fatalf("%s holds %d messages, want %d", queue, len(ds), n)
	}
	for i, d := range ds {
		if string(d.Payload) != strconv.Itoa(i) {
			t.Fatalf("%s: message %d is %q, want %d", queue, i, d.Payload, i)
		}
	}
}

// Batches sent with several in flight arrive whole and in order, each
// reported once, in order, with its ids.
func TestBatchSenderKeepsOrder(t *testing.T) {
	for _, store := range batchStores {
		t.Run(store.name, func(t *testing.T) {
			ctx := context.Background()
			c := batchSwitch(t, store.open, broker.Options{})
			if err := c.CreateQueue(ctx, "jobs"); err != nil {
				t.Fatal(err)
			}
			var next uint64
			reported := 0
			bs := c.NewBatchSender("jobs", lib.BatchOptions{OnSent: func(first uint64, n int) {
				if next != 0 && first != next {
					t.Errorf("a batch's first id is %d, want %d", first, next)
				}
				next = first + uint64(n)
				reported += n
			}})
			const batches, per = 40, 250
			for i := range batches {
				if err := bs.Send(ctx, lines(i*per, per)); err != nil {
					t.Fatal(err)
				}
			}
			if err := bs.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			if bs.Sent() != batches*per || reported != batches*per {
				t.Fatalf("Sent %d, reported %d, want %d", bs.Sent(), reported, batches*per)
			}
			checkQueue(t, c, "jobs", batches*per)
		})
	}
}

// A batch refused in the middle of the window stops the sender: the
// batches after it, already on their way, are not enqueued (the switch
// aborts them although they would fit), the error is the refused
// batch's, and Sent counts exactly what the queue holds.
func TestBatchSenderStopsAtFailure(t *testing.T) {
	for _, store := range batchStores {
		for _, tc := range []struct {
			name   string
			opts   broker.Options
			policy lib.Policy
			bad    []lib.Message // the second batch
			code   string
		}{
			{"too large", broker.Options{MaxPayload: 100}, lib.Policy{},
				append(lines(10, 5), lib.Message{Payload: make([]byte, 101)}), lib.CodeTooLarge},
			{"queue full", broker.Options{}, lib.Policy{MaxDepth: 15},
				lines(10, 10), lib.CodeQueueFull},
		} {
			t.Run(store.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				c := batchSwitch(t, store.open, tc.opts)
				if err := c.CreateQueue(ctx, "jobs"); err != nil {
					t.Fatal(err)
				}
				if tc.policy.MaxDepth != 0 {
					if _, err := c.SetPolicy(ctx, "jobs", tc.policy); err != nil {
						t.Fatal(err)
					}
				}
				bs := c.NewBatchSender("jobs", lib.BatchOptions{Window: 3})
				// All three go before any answer is read: the window has
				// room for them. The third alone would fit the queue.
				for _, ms := range [][]lib.Message{lines(0, 10), tc.bad, lines(20, 3)} {
					if err := bs.Send(ctx, ms); err != nil {
						t.Fatalf("Send with room in the window: %v", err)
					}
				}
				err := bs.Wait(ctx)
				if !lib.IsCode(err, tc.code) {
					t.Fatalf("Wait: %v, want %s", err, tc.code)
				}
				if bs.Sent() != 10 {
					t.Fatalf("Sent %d, want 10", bs.Sent())
				}
				if err := bs.Send(ctx, lines(30, 1)); !lib.IsCode(err, tc.code) {
					t.Fatalf("Send after the failure: %v, want the failure again", err)
				}
				checkQueue(t, c, "jobs", 10)
			})
		}
	}
}

// A request with a context already done fails with the context's error
// and sends nothing: no message enqueued, acked, taken or called.
func TestDoneContextSendsNothing(t *testing.T) {
	ctx := context.Background()
	sw := switchtest.Start(t, "", broker.Options{}, server.Options{})
	c := switchtest.Client(t, sw.Addr, lib.Options{})
	for _, q := range []string{"q", "svc"} {
		if err := c.CreateQueue(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Send(ctx, "q", lib.Message{Payload: []byte("held")}); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	ds, err := c.Transfer(ctx, lib.TransferOptions{Max: 1})
	if err != nil || len(ds) != 1 {
		t.Fatalf("transfer: %v, %d messages", err, len(ds))
	}
	if _, err := c.Send(ctx, "q", lib.Message{Payload: []byte("ready")}); err != nil {
		t.Fatal(err)
	}

	done, cancel := context.WithCancel(ctx)
	cancel()
	calls := map[string]func() error{
		"Ack": func() error { return c.Ack(done, lib.Acks{"q": {ds[0].ID}}) },
		"Send": func() error {
			_, err := c.Send(done, "q", lib.Message{Payload: []byte("no")})
			return err
		},
		"SendBatch": func() error {
			_, err := c.SendBatch(done, "q", lines(0, 3))
			return err
		},
		"SendAsync": func() error { return c.SendAsync(done, "q", lib.Message{Payload: []byte("no")}).Err() },
		"BatchSender": func() error {
			return c.NewBatchSender("q", lib.BatchOptions{}).Send(done, lines(0, 3))
		},
		"Transfer": func() error {
			_, err := c.Transfer(done, lib.TransferOptions{Max: 1})
			return err
		},
		"Call": func() error {
			_, err := c.Call(done, "svc", []byte("no"))
			return err
		},
	}
	for name, call := range calls {
		if err := call(); err != context.Canceled {
			t.Errorf("%s with a done context: %v, want %v", name, err, context.Canceled)
		}
	}
	qi, err := c.Info(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	if qi.Depth != 1 || qi.InFlight != 1 {
		t.Errorf("q: %d ready, %d in flight; want 1 and 1", qi.Depth, qi.InFlight)
	}
	if qi, err := c.Info(ctx, "svc"); err != nil || qi.Depth != 0 {
		t.Errorf("svc: %d requests (%v), want none", qi.Depth, err)
	}
}
