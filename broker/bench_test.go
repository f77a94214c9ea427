package broker

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"msw/internal/wire"
)

// Micro-benchmarks of the broker alone, without HTTP: go test -bench .
// -benchmem ./broker. They measure; they assert nothing about time.

var benchPayload = make([]byte, 100)

func benchBatch(n int) []wire.Message {
	ms := make([]wire.Message, n)
	for i := range ms {
		ms[i].Payload = benchPayload
	}
	return ms
}

// BenchmarkSend enqueues batches of 1000 100-byte messages, draining the
// queue now and then so that it does not grow without bound.
func BenchmarkSend(b *testing.B) {
	br := New(Options{TraceSize: -1})
	br.CreateQueue(nil, "q")
	ms := benchBatch(1000)
	q, _ := br.lookup("q")
	b.ReportAllocs()
	b.SetBytes(int64(len(ms) * len(benchPayload)))
	for i := 0; b.Loop(); i++ {
		if _, err := br.Send(nil, "q", ms); err != nil {
			b.Fatal(err)
		}
		if i%100 == 99 {
			q.mu.Lock()
			q.fresh = deque{}
			q.mu.Unlock()
		}
	}
}

// BenchmarkTransferAck takes and acks 1000 messages at a time from a full
// queue, as a consumer does.
func BenchmarkTransferAck(b *testing.B) {
	for _, trace := range []int{-1, 0} {
		b.Run(fmt.Sprintf("trace=%v", trace >= 0), func(b *testing.B) {
			br := New(Options{TraceSize: trace})
			br.CreateQueue(nil, "q")
			s, _ := br.Login("bench")
			s.AddConn() // no grace timer
			br.Subscribe(s, []string{"q"})
			ms := benchBatch(1000)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				br.Send(nil, "q", ms)
				b.StartTimer()
				ds, err := br.Transfer(ctx, s, 1000, 0)
				if err != nil || len(ds) != 1000 {
					b.Fatalf("took %d: %v", len(ds), err)
				}
				ids := make([]uint64, len(ds))
				for i := range ds {
					ids[i] = ds[i].ID
				}
				if err := br.Ack(s, wire.Acks{"q": ids}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRoundTrip is one request and its reply through the broker, as
// an RPC makes them, with many callers at once.
func BenchmarkRoundTrip(b *testing.B) {
	for _, trace := range []int{-1, 0} {
		b.Run(fmt.Sprintf("trace=%v", trace >= 0), func(b *testing.B) { benchRoundTrip(b, trace) })
	}
}

func benchRoundTrip(b *testing.B, trace int) {
	br := New(Options{TraceSize: trace})
	br.CreateQueue(nil, "svc")
	srv, _ := br.Login("server")
	srv.AddConn()
	br.Subscribe(srv, []string{"svc"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the server: take, reply, ack
		defer wg.Done()
		for ctx.Err() == nil {
			ds, _ := br.Transfer(ctx, srv, 0, 100e6)
			ids := make([]uint64, 0, len(ds))
			for i := range ds {
				br.Send(srv, ds[i].ReplyTo, []wire.Message{{Payload: ds[i].Payload, CorrelationID: ds[i].CorrelationID}})
				ids = append(ids, ds[i].ID)
			}
			br.Ack(srv, wire.Acks{"svc": ids})
		}
	}()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		cl, _ := br.Login("caller")
		cl.AddConn()
		reply, _ := br.CreateTransient(cl, "")
		br.Subscribe(cl, []string{reply})
		for pb.Next() {
			br.Send(cl, "svc", []wire.Message{{Payload: benchPayload, CorrelationID: "c", ReplyTo: reply}})
			ds, err := br.Transfer(ctx, cl, 1, 10e9)
			if err != nil || len(ds) != 1 {
				panic(fmt.Sprint("no reply: ", err))
			}
			br.Ack(cl, wire.Acks{reply: {ds[0].ID}})
		}
	})
	cancel()
	wg.Wait()
}

// BenchmarkHeapPerMessage reports the live heap a queued 100-byte message
// costs above its payload (bytes/msg), after a collection.
func BenchmarkHeapPerMessage(b *testing.B) {
	const n = 200_000
	for b.Loop() {
		br := New(Options{TraceSize: -1})
		br.CreateQueue(nil, "q")
		ms := benchBatch(1000)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range n / len(ms) {
			br.Send(nil, "q", ms)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n-float64(len(benchPayload)), "B-above-payload/msg")
		runtime.KeepAlive(br)
	}
}

// BenchmarkTraceRing records one event per operation from every core at
// once, as a busy switch does: what it measures is mostly the cache
// lines the cores pass between them.
func BenchmarkTraceRing(b *testing.B) {
	r := newTraceRing(DefaultTraceSize)
	ms := []message{newMessage(&wire.Message{Payload: benchPayload, CorrelationID: "c", ReplyTo: "tmp-1"}, "", 0)}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.addMessages(1, wire.EventSend, "svc", ms, "caller", "", false)
		}
	})
}
