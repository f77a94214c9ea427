package broker_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"msw/broker"
	"msw/broker/logstore"
	"msw/internal/testutil"
	"msw/internal/wire"
)

// Each policy test runs a scenario and checks which messages remain,
// first on a memory switch, then on a durable one, where it checks
// again after a restart: expiry, dead-lettering and drop-oldest are
// recorded, so the restarted switch holds exactly the same messages.

// policyCase runs scenario, then check, on a memory broker and on a
// durable one, which it then restarts and checks again.
func policyCase(t *testing.T, scenario, check func(t *testing.T, b *broker.Broker)) {
	t.Run("memory", func(t *testing.T) {
		b := broker.New(broker.Options{})
		defer b.Close()
		scenario(t, b)
		check(t, b)
	})
	t.Run("durable", func(t *testing.T) {
		dir := t.TempDir()
		open := func() (*broker.Broker, func()) {
			st, err := logstore.Open(dir, logstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			b := broker.New(broker.Options{Store: st, CacheBytes: 64})
			return b, func() { b.Close(); st.Close() }
		}
		b, stop := open()
		scenario(t, b)
		check(t, b)
		stop()
		b, stop = open()
		defer stop()
		t.Log("after a restart:")
		check(t, b)
	})
}

func setPolicy(t *testing.T, b *broker.Broker, q string, p wire.Policy) {
	t.Helper()
	if err := b.CreateQueue(nil, q); err != nil {
		t.Fatal(err)
	}
	if err := b.SetPolicy(nil, q, p); err != nil {
		t.Fatalf("SetPolicy(%s, %+v): %v", q, p, err)
	}
}

func send1(b *broker.Broker, s *broker.Session, q, payload string) error {
	_, err := b.Send(s, q, []wire.Message{{Payload: []byte(payload)}})
	return err
}

// ready lists a queue's ready messages as payload(delivery count/origin).
func ready(t *testing.T, b *broker.Broker, q string) string {
	t.Helper()
	ds, err := b.Peek(q, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range ds {
		s := string(d.Payload)
		if d.DeliveryCount > 0 {
			s += fmt.Sprintf("(%d/%s)", d.DeliveryCount, d.Origin)
		}
		out = append(out, s)
	}
	return strings.Join(out, ",")
}

func expectReady(t *testing.T, b *broker.Broker, q, want string) {
	t.Helper()
	got := ready(t, b, q)
	t.Logf("%s holds %q", q, got)
	if got != want {
		t.Fatalf("%s holds %q; want %q", q, got, want)
	}
}

func info(t *testing.T, b *broker.Broker, q string) wire.QueueInfo {
	t.Helper()
	qi, err := b.Info(q)
	if err != nil {
		t.Fatal(err)
	}
	return qi
}

func TestPolicyMaxDepthRejects(t *testing.T) {
	policyCase(t, func(t *testing.T, b *broker.Broker) {
		setPolicy(t, b, "q", wire.Policy{MaxDepth: 3})
		for i := 1; i <= 5; i++ {
			err := send1(b, nil, "q", fmt.Sprint(i))
			t.Logf("send %d: %v", i, err)
			if (i <= 3) != (err == nil) || (err != nil && !errors.Is(err, broker.ErrQueueFull)) {
				t.Fatalf("send %d to a queue of max-depth 3: %v", i, err)
			}
		}
	}, func(t *testing.T, b *broker.Broker) {
		expectReady(t, b, "q", "1,2,3")
		if qi := info(t, b, "q"); qi.MaxDepth != 3 || qi.Overflow != wire.OverflowReject {
			t.Fatalf("policy shown as max_depth=%d overflow=%q", qi.MaxDepth, qi.Overflow)
		}
		if err := send1(b, nil, "q", "6"); !errors.Is(err, broker.ErrQueueFull) {
			t.Fatalf("send to the full queue: %v; want queue_full", err)
		}
	})
}

func TestPolicyMaxBytesDropsOldest(t *testing.T) {
	policyCase(t, func(t *testing.T, b *broker.Broker) {
		// three 4-byte messages fit in 12 bytes
		setPolicy(t, b, "q", wire.Policy{MaxBytes: 12, Overflow: wire.OverflowDropOldest})
		for i := 1; i <= 5; i++ {
			if err := send1(b, nil, "q", fmt.Sprintf("m%03d", i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := send1(b, nil, "q", strings.Repeat("x", 13)); !errors.Is(err, broker.ErrQueueFull) {
			t.Fatalf("a message larger than max-bytes: %v; want queue_full", err)
		}
		if qi := info(t, b, "q"); qi.Dropped != 2 {
			t.Fatalf("dropped %d; want 2", qi.Dropped)
		}
	}, func(t *testing.T, b *broker.Broker) {
		expectReady(t, b, "q", "m003,m004,m005")
	})
}

func TestPolicyMaxDepthDropsOldest(t *testing.T) {
	policyCase(t, func(t *testing.T, b *broker.Broker) {
		setPolicy(t, b, "q", wire.Policy{MaxDepth: 3, Overflow: wire.OverflowDropOldest})
		for i := 1; i <= 5; i++ {
			if err := send1(b, nil, "q", fmt.Sprint(i)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := b.Send(nil, "q", []wire.Message{{Payload: []byte("6")}, {Payload: []byte("7")}}); err != nil {
			t.Fatal(err)
		}
	}, func(t *testing.T, b *broker.Broker) {
		expectReady(t, b, "q", "5,6,7")
	})
}

func TestPolicyTTLExpires(t *testing.T) {
	policyCase(t, func(t *testing.T, b *broker.Broker) {
		setPolicy(t, b, "q", wire.Policy{})
		for _, p := range []string{"old1", "old2"} {
			if err := send1(b, nil, "q", p); err != nil {
				t.Fatal(err)
			}
		}
		// A short TTL expires the two old messages (the sweeper, with no
		// receiver); then a long one keeps the new message.
		setPolicy(t, b, "q", wire.Policy{TTL: "50ms"})
		testutil.Eventually(t, "the old messages expired", func() bool { return info(t, b, "q").Expired == 2 })
		setPolicy(t, b, "q", wire.Policy{TTL: "1h"})
		if err := send1(b, nil, "q", "new"); err != nil {
			t.Fatal(err)
		}
		t.Logf("expired: %d", info(t, b, "q").Expired)
	}, func(t *testing.T, b *broker.Broker) {
		expectReady(t, b, "q", "new")
		if qi := info(t, b, "q"); qi.TTL != "1h" {
			t.Fatalf("ttl shown as %q", qi.TTL)
		}
	})
}

func TestPolicyTTLNeverDelivered(t *testing.T) {
	b := broker.New(broker.Options{})
	defer b.Close()
	setPolicy(t, b, "q", wire.Policy{})
	send1(b, nil, "q", "old")
	setPolicy(t, b, "q", wire.Policy{TTL: "1ns"})
	s, _ := b.Login("r")
	b.Subscribe(s, []string{"q"})
	ds, err := b.Transfer(t.Context(), s, 10, 0)
	if err != nil || len(ds) != 0 {
		t.Fatalf("transfer got %d messages (%v); want none: the one queued expired", len(ds), err)
	}
	if qi := info(t, b, "q"); qi.Expired != 1 || qi.Depth != 0 {
		t.Fatalf("expired %d, depth %d; want 1, 0", qi.Expired, qi.Depth)
	}
}

func TestPolicyMaxDeliveriesDeadLetters(t *testing.T) {
	policyCase(t, func(t *testing.T, b *broker.Broker) {
		setPolicy(t, b, "q", wire.Policy{MaxDeliveries: 2})
		for _, p := range []string{"poison", "good"} {
			if err := send1(b, nil, "q", p); err != nil {
				t.Fatal(err)
			}
		}
		// worker1 takes both, acks "good", and dies: "poison" comes back.
		s1, _ := b.Login("worker1")
		b.Subscribe(s1, []string{"q"})
		ds, _ := b.Transfer(t.Context(), s1, 10, 0)
		if len(ds) != 2 {
			t.Fatalf("worker1 took %d messages", len(ds))
		}
		b.Ack(s1, wire.Acks{"q": {ds[1].ID}})
		b.EndSession(s1)
		// worker2 takes it a second time and gives it back: it has been
		// delivered max-deliveries times, so it moves to q.dead.
		s2, _ := b.Login("worker2")
		b.Subscribe(s2, []string{"q"})
		ds, _ = b.Transfer(t.Context(), s2, 10, 0)
		if len(ds) != 1 || ds[0].DeliveryCount != 2 {
			t.Fatalf("worker2 got %v", ds)
		}
		b.Release(s2, wire.Acks{"q": {ds[0].ID}})
		qi := info(t, b, "q")
		t.Logf("q: dead_lettered=%d dead_letter=%s", qi.DeadLettered, qi.DeadLetter)
		if qi.DeadLettered != 1 || qi.DeadLetter != "q.dead" {
			t.Fatalf("dead_lettered=%d dead_letter=%q", qi.DeadLettered, qi.DeadLetter)
		}
	}, func(t *testing.T, b *broker.Broker) {
		expectReady(t, b, "q", "")
		expectReady(t, b, "q.dead", "poison(2/worker2)")
	})
}

func TestPolicyBadValues(t *testing.T) {
	b := broker.New(broker.Options{})
	defer b.Close()
	b.CreateQueue(nil, "q")
	for _, p := range []wire.Policy{
		{MaxDepth: -1}, {MaxBytes: -1}, {Overflow: "sometimes"}, {TTL: "soon"}, {TTL: "-1s"},
		{MaxDeliveries: -2}, {MaxDeliveries: 1, DeadLetter: "q"}, {MaxDeliveries: 1, DeadLetter: "a b"},
	} {
		err := b.SetPolicy(nil, "q", p)
		t.Logf("%+v: %v", p, err)
		if !errors.Is(err, broker.ErrBadPolicy) {
			t.Errorf("SetPolicy(%+v) = %v; want a bad policy", p, err)
		}
	}
	if err := b.SetPolicy(nil, "nope", wire.Policy{MaxDepth: 1}); !errors.Is(err, broker.ErrNoSuchQueue) {
		t.Errorf("SetPolicy on a missing queue: %v", err)
	}
}
