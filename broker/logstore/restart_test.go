package logstore

import (
	"context"
	"strings"
	"testing"

	"msw/broker"
	"msw/internal/wire"
)

func TestRestartKeepsQueuesMessagesAndIDs(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := broker.New(broker.Options{Store: st, TraceSize: -1})
	if err := b.CreateQueue(nil, "jobs"); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateQueue(nil, "gone"); err != nil {
		t.Fatal(err)
	}
	send(t, b, "jobs", "a", "b", "c", "d")
	send(t, b, "gone", "x")
	if err := b.DestroyQueue(nil, "gone", false); err != nil {
		t.Fatal(err)
	}
	s, err := b.Login("worker")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateTransient(s, "reply"); err != nil {
		t.Fatal(err)
	}
	send(t, b, "reply", "never written")
	if err := b.Subscribe(s, []string{"jobs"}); err != nil {
		t.Fatal(err)
	}
	ds, err := b.Transfer(context.Background(), s, 2, 0)
	if err != nil || len(ds) != 2 {
		t.Fatalf("transfer: %v %v", ds, err)
	}
	if err := b.Ack(s, wire.Acks{"jobs": {ds[0].ID}}); err != nil { // a acked, b in flight
		t.Fatal(err)
	}
	b.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = mustOpen(t, dir, Options{})
	b = newBroker(t, st)
	qs := b.List("", true)
	if len(qs) != 1 || qs[0].Name != "jobs" || qs[0].Kind != "persistent" {
		t.Fatalf("queues after restart: %+v", qs)
	}
	peek, err := b.Peek("jobs", 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range peek {
		got = append(got, string(d.Payload))
	}
	if strings.Join(got, " ") != "b c d" {
		t.Fatalf("after restart: %q, want b (redelivered) c d", got)
	}
	if peek[0].ID != 2 || peek[0].DeliveryCount != 1 || peek[1].DeliveryCount != 0 {
		t.Fatalf("in-flight message came back as %+v", peek[0])
	}
	if first := send(t, b, "jobs", "e"); first != 5 {
		t.Fatalf("first id after restart %d, want 5", first)
	}
}

func TestSecondOpenOfADirectoryIsRefused(t *testing.T) {
	dir := t.TempDir()
	mustOpen(t, dir, Options{})
	_, err := Open(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "in use by another switch (pid ") {
		t.Fatalf("second open: %v", err)
	}
}

func TestParseFsync(t *testing.T) {
	for _, s := range []string{"always", "never", "interval=100ms"} {
		f, err := ParseFsync(s)
		if err != nil || f.String() != s {
			t.Errorf("ParseFsync(%q) = %v, %v", s, f, err)
		}
	}
	for _, s := range []string{"", "sometimes", "interval=", "interval=-1s", "interval=0s"} {
		if _, err := ParseFsync(s); err == nil {
			t.Errorf("ParseFsync(%q) accepted", s)
		}
	}
}

func TestQueuePropertiesSurviveRestartAndCompaction(t *testing.T) {
	mfs := newMemFS(1)
	opts := Options{Prealloc: testPrealloc, FS: mfs, SegmentSize: 512}
	st := mustOpen(t, testDir, opts)
	b := newBroker(t, st)
	if err := b.CreateQueue(nil, "q"); err != nil {
		t.Fatal(err)
	}
	for _, kv := range []struct{ k, v string }{{"ttl", "1m"}, {"max", "10"}, {"ttl", "2m"}} {
		c, err := st.SetQueueMeta("q", kv.k, []byte(kv.v))
		if err == nil {
			err = st.Wait(c)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	c, _ := st.SetQueueMeta("q", "max", nil)
	if err := st.Wait(c); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		send(t, b, "q", strings.Repeat("x", 30)+string(rune('a'+i%26)))
	}
	st2 := crashRestart(t, b, st, mfs, Options{Prealloc: testPrealloc}, true)
	q := recoveredQueue(st2.Recovered(), "q")
	// Besides ttl, the broker keeps the queue's creation time.
	if q == nil || len(q.Meta) != 2 || string(q.Meta["ttl"]) != "2m" || len(q.Meta["created"]) != 8 || len(messagesOf(q)) != 30 {
		t.Fatalf("after compaction and restart: %+v", q)
	}
}

// TestCreatedSurvivesRestart: a durable queue keeps its creation time
// across a restart, so the cursor ids the compat listener counts from it
// keep naming the same messages.
func TestCreatedSurvivesRestart(t *testing.T) {
	mfs := newMemFS(1)
	st := mustOpen(t, testDir, Options{Prealloc: testPrealloc, FS: mfs})
	b := newBroker(t, st)
	if err := b.CreateQueue(nil, "q"); err != nil {
		t.Fatal(err)
	}
	send(t, b, "q", "one")
	before, err := b.Epoch("q")
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	st.Close()

	b2 := newBroker(t, mustOpen(t, testDir, Options{Prealloc: testPrealloc, FS: mfs.crash()}))
	after, err := b2.Epoch("q")
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("cursor epoch after restart = %d; want %d, as before", after, before)
	}
}

// TestQueueMadeAgainAfterRestartNumbersAboveTheOld: a durable queue
// destroyed before a restart, made again after it, numbers above every
// id it gave before, whether replay reads the destroy record itself or
// a snapshot written since (which carries the floor forward); and a
// second restart keeps the new queue's numbering.
func TestQueueMadeAgainAfterRestartNumbersAboveTheOld(t *testing.T) {
	for _, compact := range []bool{false, true} {
		t.Run(map[bool]string{false: "replayed", true: "compacted"}[compact], func(t *testing.T) {
			mfs := newMemFS(1)
			opts := Options{Prealloc: testPrealloc, FS: mfs}
			st := mustOpen(t, testDir, opts)
			b := newBroker(t, st)
			for _, q := range []string{"old", "kept"} {
				if err := b.CreateQueue(nil, q); err != nil {
					t.Fatal(err)
				}
			}
			send(t, b, "old", "a", "b", "c", "d", "e")
			send(t, b, "kept", "x")
			if err := b.DestroyQueue(nil, "old", false); err != nil {
				t.Fatal(err)
			}
			st = crashRestart(t, b, st, mfs, opts, compact)
			if got := st.IDFloor(); got != 5 {
				t.Fatalf("id floor after restart = %d; want 5", got)
			}
			b = newBroker(t, st)
			if err := b.CreateQueue(nil, "old"); err != nil {
				t.Fatal(err)
			}
			if first := send(t, b, "old", "new"); first != 6 {
				t.Fatalf("first id of the queue made again = %d; want 6", first)
			}
			if first := send(t, b, "kept", "y"); first != 2 {
				t.Fatalf("a live queue's next id = %d; want 2", first)
			}
			b = newBroker(t, crashRestart(t, b, st, mfs, opts, false))
			if first := send(t, b, "old", "newer"); first != 7 {
				t.Fatalf("after a second restart, next id = %d; want 7", first)
			}
		})
	}
}
