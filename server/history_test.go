package server

import (
	"fmt"
	"testing"
	"time"

	"msw/broker"
	"msw/internal/wire"
)

// historyOf finds one queue's history in an answer.
func historyOf(resp wire.HistoryResponse, queue string) (wire.QueueHistory, bool) {
	for _, q := range resp.Queues {
		if q.Queue == queue {
			return q, true
		}
	}
	return wire.QueueHistory{}, false
}

func TestHistorySamplesDepthAndRates(t *testing.T) {
	b := broker.New(broker.Options{})
	defer b.Close()
	h := newHistory(time.Second)
	t0 := time.Unix(1700000000, 0)
	if err := b.CreateQueue(nil, "work"); err != nil {
		t.Fatal(err)
	}
	b.Send(nil, "work", []wire.Message{{Payload: []byte("a")}})
	h.sample(b, t0) // first sight: messages sent before it belong to no interval

	b.Send(nil, "work", []wire.Message{{Payload: []byte("b")}, {Payload: []byte("c")}})
	if err := b.Ack(nil, wire.Acks{"work": {1}}); err != nil {
		t.Fatal(err)
	}
	sess, _ := b.Login("caller")
	for _, name := range []string{"r1", "r2"} {
		if _, err := b.CreateTransient(sess, name); err != nil {
			t.Fatal(err)
		}
		b.Send(nil, name, []wire.Message{{Payload: []byte("reply")}})
	}
	h.sample(b, t0.Add(time.Second))

	resp := h.answer()
	if resp.IntervalMillis != 1000 || resp.Keep != historySamples {
		t.Errorf("interval_ms = %d, keep = %d; want 1000 and %d", resp.IntervalMillis, resp.Keep, historySamples)
	}
	work, ok := historyOf(resp, "work")
	if !ok || len(work.Samples) != 2 {
		t.Fatalf("history of work = %+v; want 2 samples", work)
	}
	want := []wire.HistorySample{
		{TimeMillis: t0.UnixMilli(), Depth: 1},
		{TimeMillis: t0.Add(time.Second).UnixMilli(), Depth: 2, Sent: 2, Acked: 1},
	}
	for i := range want {
		if work.Samples[i] != want[i] {
			t.Errorf("work sample %d = %+v; want %+v", i, work.Samples[i], want[i])
		}
	}
	tr, ok := historyOf(resp, wire.HistoryTransient)
	if !ok || tr.Kind != "transient" || len(tr.Samples) != 1 || tr.Samples[0].Depth != 2 {
		t.Errorf("transient history = %+v; want one sample summing both reply queues (depth 2)", tr)
	}
	if len(resp.Queues) != 2 {
		t.Errorf("answer lists %d queues; want work and %s only", len(resp.Queues), wire.HistoryTransient)
	}

	// A destroyed queue's history goes; the transient series stays, at zero.
	b.DestroyQueue(nil, "work", false)
	b.EndSession(sess)
	h.sample(b, t0.Add(2*time.Second))
	resp = h.answer()
	if _, ok := historyOf(resp, "work"); ok {
		t.Error("history of a destroyed queue still served")
	}
	if tr, _ := historyOf(resp, wire.HistoryTransient); len(tr.Samples) != 2 || tr.Samples[1] != (wire.HistorySample{TimeMillis: t0.Add(2 * time.Second).UnixMilli()}) {
		t.Errorf("transient history after its queues went = %+v; want a zero sample last", tr.Samples)
	}
}

func TestHistoryBounded(t *testing.T) {
	b := broker.New(broker.Options{})
	defer b.Close()
	h := newHistory(time.Second)
	for i := range historyQueues + 5 {
		if err := b.CreateQueue(nil, fmt.Sprintf("q%04d", i)); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Unix(1700000000, 0)
	for i := range historySamples + 10 {
		h.sample(b, t0.Add(time.Duration(i)*time.Second))
	}
	resp := h.answer()
	if len(resp.Queues) != historyQueues || resp.Untracked != 5 {
		t.Errorf("%d queues sampled, %d untracked; want %d and 5", len(resp.Queues), resp.Untracked, historyQueues)
	}
	q := resp.Queues[0]
	if len(q.Samples) != historySamples {
		t.Fatalf("%s holds %d samples; want the ring's %d", q.Queue, len(q.Samples), historySamples)
	}
	if first, last := q.Samples[0].TimeMillis, q.Samples[historySamples-1].TimeMillis; first != t0.Add(10*time.Second).UnixMilli() || last != t0.Add((historySamples+9)*time.Second).UnixMilli() {
		t.Errorf("samples run from %d to %d; want the last %d, oldest first", first, last, historySamples)
	}
}

// BenchmarkHistorySample measures one sampling pass over 1,000 queues
// (256 charted, the rest counted as untracked).
func BenchmarkHistorySample(b *testing.B) {
	br := broker.New(broker.Options{})
	defer br.Close()
	for i := range 1000 {
		if err := br.CreateQueue(nil, fmt.Sprintf("q%04d", i)); err != nil {
			b.Fatal(err)
		}
	}
	h := newHistory(time.Second)
	now := time.Now()
	for b.Loop() {
		now = now.Add(time.Second)
		h.sample(br, now)
	}
}
