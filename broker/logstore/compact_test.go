package logstore

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"msw/broker"
	"msw/internal/testutil"
	"msw/internal/wire"
)

// diskUse is the bytes of the log files in dir, as the file system says.
func diskUse(t *testing.T, dir string) int64 {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range es {
		if e.Name() == lockName {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		n += fi.Size()
	}
	return n
}

func TestAckedSpaceIsReclaimedToTwiceTheLiveData(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 64 << 10, CompactMin: 128 << 10}
	st := mustOpen(t, dir, opts)
	b := newBroker(t, st)
	if err := b.CreateQueue(nil, "q"); err != nil {
		t.Fatal(err)
	}
	const total, keep, size = 2000, 100, 1 << 10
	for i := 0; i < total; i += 100 {
		ms := make([]wire.Message, 100)
		for k := range ms {
			ms[k].Payload = fmt.Appendf(nil, "%0*d", size, i+k)
		}
		if _, err := b.Send(nil, "q", ms); err != nil {
			t.Fatal(err)
		}
	}
	s, err := b.Login("worker")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(s, []string{"q"}); err != nil {
		t.Fatal(err)
	}
	for acked := 0; acked < total-keep; {
		ds, err := b.Transfer(context.Background(), s, min(100, total-keep-acked), 0)
		if err != nil {
			t.Fatal(err)
		}
		acks := wire.Acks{}
		for _, d := range ds {
			acks["q"] = append(acks["q"], d.ID)
		}
		if err := b.Ack(s, acks); err != nil {
			t.Fatal(err)
		}
		acked += len(ds)
	}
	if used := diskUse(t, dir); used < 10*keep*size {
		t.Fatalf("the log holds only %d bytes before reclaim", used)
	}
	// Reclaimed: the log's records within twice the live state as a
	// snapshot holds it (the payloads and their records' headers). Disk
	// use is that plus the zeros the segment being written is kept
	// filled with ahead of its records (README, "Disk"), at most the rest
	// of that segment. (Against the payloads alone, and the zeros
	// counted, the test failed whenever a compaction under load caught
	// the live state at twice its final size: the log was then 2.04
	// times the payloads and not yet due for another.)
	live := int64(keep * size)
	liveState := func() int64 {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.idx.liveBytes
	}
	testutil.Eventually(t, "the log within twice the live data", func() bool {
		return st.logBytes.Load() <= 2*liveState()
	})
	if ls := liveState(); ls > live+live/10 {
		t.Fatalf("the live state counts %d bytes for %d bytes of payload", ls, live)
	}
	if used, lb := diskUse(t, dir), st.logBytes.Load(); used > lb+opts.SegmentSize {
		t.Fatalf("%d bytes on disk for a log of %d bytes", used, lb)
	}
	t.Logf("live payload %d bytes, log %d bytes, %d on disk", live, st.logBytes.Load(), diskUse(t, dir))

	b.Close()
	st.Close()
	st2 := mustOpen(t, dir, opts)
	q := recoveredQueue(st2.Recovered(), "q")
	if q == nil {
		t.Fatal("after reclaim and restart: no queue")
	}
	ms := messagesOf(q)
	if len(ms) != keep || ms[0].ID != total-keep+1 || q.NextID != total {
		t.Fatalf("after reclaim and restart: %+v", summary(q, ms))
	}
	for i, m := range ms {
		if want := fmt.Sprintf("%0*d", size, total-keep+i); string(m.Payload) != want {
			t.Fatalf("message %d: payload %.20q..., want %.20q...", m.ID, m.Payload, want)
		}
	}
}

func summary(q *broker.RecoveredQueue, ms []broker.StoredMessage) string {
	s := fmt.Sprintf("%d messages, next id %d", len(ms), q.NextID)
	if len(ms) > 0 {
		s += fmt.Sprintf(", first %d", ms[0].ID)
	}
	return s
}

// A compaction carries a record whose messages are all live and never
// delivered into the snapshot as it is, and decodes the others (one with
// a message acked, one with a message delivered) into records of its
// own: after it, and after a restart, every live message reads back with
// its payload, topic and delivery count, and the acked ones are gone.
func TestCompactCarriesWholeRecordsAndDecodesTheRest(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Fsync: FsyncNever, CompactMin: 1 << 40}
	st := mustOpen(t, dir, opts)
	type want struct {
		queue, topic string
		deliveries   uint32
	}
	live := map[uint64]want{}
	var id uint64
	frames := map[uint64][]byte{} // a record's frame as appended, by its first id
	record := func(queue string, n int, topic string) {
		t.Helper()
		ms := make([]broker.StoredMessage, n)
		for k := range ms {
			id++
			ms[k] = broker.StoredMessage{ID: id, Origin: "o", Topic: topic, Payload: fmt.Appendf(nil, "%s-%d", queue, id)}
			live[id] = want{queue: queue, topic: topic}
		}
		c, err := st.Append(queue, ms)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Wait(c); err != nil {
			t.Fatal(err)
		}
		e, _ := st.idx.queues[queue].msgs.get(ms[0].ID)
		frame := make([]byte, e.at.size)
		f, err := os.Open(st.path(e.at.file))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.ReadAt(frame, e.at.off); err != nil {
			t.Fatal(err)
		}
		frames[ms[0].ID] = frame
	}
	for _, q := range []string{"q", "r"} {
		if _, err := st.CreateQueue(q, 0); err != nil {
			t.Fatal(err)
		}
	}
	record("q", 3, "")    // 1–3: whole
	record("q", 2, "")    // 4–5: 5 acked
	record("q", 2, "")    // 6–7: 6 delivered
	record("r", 2, "t.x") // 8–9: whole, published
	record("q", 1, "")    // 10: whole
	record("r", 3, "")    // 11–13: 11 acked
	st.Ack("q", []uint64{5})
	st.Deliver("q", []uint64{6})
	if err := st.Wait(st.Ack("r", []uint64{11})); err != nil {
		t.Fatal(err)
	}
	delete(live, 5)
	delete(live, 11)
	live[6] = want{queue: "q", deliveries: 1}
	if err := st.Compact(); err != nil {
		t.Fatal(err)
	}

	var snap []byte
	names, _ := OSFS{}.ReadDir(dir)
	for _, name := range names {
		if strings.HasSuffix(name, ".snap") {
			var err error
			if snap, err = os.ReadFile(dir + "/" + name); err != nil {
				t.Fatal(err)
			}
		}
	}
	for first, carried := range map[uint64]bool{1: true, 4: false, 6: false, 8: true, 10: true, 11: false} {
		if got := bytes.Contains(snap, frames[first]); got != carried {
			t.Errorf("record of message %d found as it was in the snapshot: %v, want %v", first, got, carried)
		}
	}
	for id, w := range live {
		p, err := st.Read(w.queue, id)
		if err != nil || string(p) != fmt.Sprintf("%s-%d", w.queue, id) {
			t.Errorf("after compaction, message %d of %s reads %q, %v", id, w.queue, p, err)
		}
	}

	st.Close()
	st2 := mustOpen(t, dir, opts)
	qs := st2.Recovered()
	got := 0
	for _, name := range []string{"q", "r"} {
		q := recoveredQueue(qs, name)
		if q == nil {
			t.Fatalf("after restart: no queue %s", name)
		}
		for _, m := range messagesOf(q) {
			got++
			w, ok := live[m.ID]
			if !ok || w.queue != name || m.Topic != w.topic || m.Deliveries != w.deliveries || m.Origin != "o" {
				t.Errorf("after restart, %s holds message %d (topic %q, %d deliveries, origin %q), want %+v (live: %v)", name, m.ID, m.Topic, m.Deliveries, m.Origin, w, ok)
				continue
			}
			if m.DiskOnly == 0 && string(m.Payload) != fmt.Sprintf("%s-%d", name, m.ID) {
				t.Errorf("after restart, message %d: payload %q", m.ID, m.Payload)
			}
		}
	}
	if got != len(live) {
		t.Errorf("after restart: %d messages, want %d", got, len(live))
	}
}
