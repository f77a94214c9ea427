package broker

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkPublishFanOut is scenario 18 of the bench without HTTP: one
// publish of 100 messages of 100 B to a topic n queues are bound to, then
// (take+ack) 4 sessions, each subscribed to a quarter of the queues,
// taking every copy and acking what they took, as the bench's consumers
// do; readers=n gives each queue a session of its own. copies/s counts
// the copies delivered.
func BenchmarkPublishFanOut(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		for _, drain := range []bool{false, true} {
			name := fmt.Sprintf("queues=%d/publish", n)
			if drain {
				name = fmt.Sprintf("queues=%d/take+ack", n)
			}
			b.Run(name, func(b *testing.B) { benchFanOut(b, n, 4, drain) })
		}
	}
	b.Run("queues=100/readers=100/take+ack", func(b *testing.B) { benchFanOut(b, 100, 100, true) })
}

func benchFanOut(b *testing.B, n, consumers int, drain bool) {
	br := New(Options{TraceSize: -1})
	defer br.Close()
	ss := make([]*Session, consumers)
	for i := range ss {
		s, err := br.Login(fmt.Sprintf("consumer-%d", i))
		if err != nil {
			b.Fatal(err)
		}
		s.AddConn()
		ss[i] = s
	}
	qs := make([]*Queue, n)
	for i := range n {
		name := fmt.Sprintf("q%04d", i)
		br.CreateQueue(nil, name)
		if err := br.Bind(nil, name, []string{"fan.>"}); err != nil {
			b.Fatal(err)
		}
		if err := br.Subscribe(ss[i%consumers], []string{name}); err != nil {
			b.Fatal(err)
		}
		qs[i], _ = br.lookup(name)
	}
	ms := benchBatch(100)
	b.ReportAllocs()
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if _, err := br.Publish(nil, "fan.x", ms); err != nil {
			b.Fatal(err)
		}
		if !drain {
			if i%100 == 99 { // keep the queues from growing without bound
				for _, q := range qs {
					q.mu.Lock()
					q.fresh = deque{}
					q.mu.Unlock()
				}
			}
			continue
		}
		for _, s := range ss {
			for {
				ds, err := br.Transfer(ctx, s, 0, 0)
				if err != nil {
					b.Fatal(err)
				}
				if len(ds) == 0 {
					break
				}
				acks := map[string][]uint64{}
				for _, d := range ds {
					acks[d.Queue] = append(acks[d.Queue], d.ID)
				}
				if err := br.Ack(s, acks); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.ReportMetric(float64(b.N*len(ms)*n)/b.Elapsed().Seconds(), "copies/s")
}
