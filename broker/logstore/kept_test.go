package logstore

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"msw/broker"
)

// TestKeptMatchesAModel keeps messages as replay does (mostly in id
// order, some recorded again, some acked, deliveries counted in the
// index) and checks what the broker is handed against a map: every live
// message once, in id order, with its fields, its delivery count, and
// its payload or, past the budget, its payload's length.
func TestKeptMatchesAModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := newIndex()
	x.keepBudget = 300_000
	want := map[uint64]broker.StoredMessage{}
	next := uint64(0)
	msg := func(id uint64) broker.StoredMessage {
		m := broker.StoredMessage{
			ID:       id,
			Enqueued: int64(id) * 1000,
			Status:   uint8(id),
			Origin:   fmt.Sprintf("client-%d", id%3),
			Payload:  bytes.Repeat([]byte{byte(id)}, int(id%200)),
		}
		if id%5 == 0 {
			m.CorrelationID, m.ReplyTo = fmt.Sprint("corr", id), "replies"
		}
		if id%7 == 0 {
			m.Topic = "news.sports"
		}
		return m
	}
	put := func(m broker.StoredMessage) {
		x.apply(&record{kind: kindMessages, queue: "q", msgs: []broker.StoredMessage{m}}, loc{file: 1, off: int64(m.ID)}, true)
		want[m.ID] = m
	}
	x.apply(&record{kind: kindCreate, queue: "q"}, loc{}, true)
	for range 30_000 {
		switch op := rng.IntN(10); {
		case op < 5:
			next += 1 + uint64(rng.IntN(2))
			put(msg(next))
		case op < 6 && next > 0: // recorded again (a snapshot's copy)
			if id := 1 + uint64(rng.IntN(int(next))); rng.IntN(2) == 0 {
				put(msg(id))
			}
		case op < 7 && next > 0:
			id := 1 + uint64(rng.IntN(int(next)))
			x.apply(&record{kind: kindDeliver, queue: "q", ids: []uint64{id}}, loc{}, true)
			if m, ok := want[id]; ok {
				m.Deliveries++
				want[id] = m
			}
		default:
			id := 1 + uint64(rng.IntN(int(next)+1))
			if first, ok := x.queues["q"].msgs.first(); ok && rng.IntN(2) == 0 {
				id = first
			}
			x.apply(&record{kind: kindAck, queue: "q", ids: []uint64{id}}, loc{}, true)
			delete(want, id)
		}
	}
	q := x.queues["q"]
	arena := x.kept
	rm := q.kept.recovered(q, &arena)
	if rm.Len != len(want) {
		t.Fatalf("Len %d, want %d", rm.Len, len(want))
	}
	last, n, disk := uint64(0), 0, 0
	rm.Each(func(m *broker.StoredMessage) {
		n++
		if m.ID <= last {
			t.Fatalf("id %d after %d", m.ID, last)
		}
		last = m.ID
		w, ok := want[m.ID]
		if !ok {
			t.Fatalf("id %d handed over, but it was acked", m.ID)
		}
		if m.DiskOnly > 0 {
			disk++
			if m.Payload != nil || int(m.DiskOnly) != len(w.Payload) {
				t.Fatalf("id %d: on disk %d bytes with %d in memory, want %d", m.ID, m.DiskOnly, len(m.Payload), len(w.Payload))
			}
			w.DiskOnly, w.Payload = m.DiskOnly, nil
		}
		if fmt.Sprint(*m) != fmt.Sprint(w) {
			t.Fatalf("id %d:\n got %+v\nwant %+v", m.ID, *m, w)
		}
	})
	if n != len(want) || disk != rm.DiskOnly {
		t.Fatalf("%d messages (%d on disk only), want %d (DiskOnly %d)", n, disk, len(want), rm.DiskOnly)
	}
	if disk == 0 || disk == n {
		t.Fatalf("%d of %d on disk only: the budget should have kept some payloads and not others", disk, n)
	}
}
