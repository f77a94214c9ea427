package lib_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"msw/broker"
	"msw/internal/switchtest"
	"msw/lib"
	"msw/server"
)

// BenchmarkSend measures the send path over loopback TCP: one message per
// Send, and batches of 100 per SendBatch (b.N counts messages).
func BenchmarkSend(b *testing.B) {
	ctx := context.Background()
	payload := make([]byte, 100)
	for _, batch := range []int{1, 100} {
		name := "one"
		if batch > 1 {
			name = "batch100"
		}
		b.Run(name, func(b *testing.B) {
			sw := switchtest.Start(b, "", broker.Options{}, server.Options{})
			c := switchtest.Client(b, sw.Addr, lib.Options{})
			if err := c.CreateQueue(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
			ms := make([]lib.Message, batch)
			for i := range ms {
				ms[i].Payload = payload
			}
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; n < b.N; n += batch {
				var err error
				if batch == 1 {
					_, err = c.Send(ctx, "bench", ms[0])
				} else {
					_, err = c.SendBatch(ctx, "bench", ms)
				}
				if err != nil {
					b.Fatal(err)
				}
				if n%100000 == 0 {
					b.StopTimer()
					c.DestroyQueue(ctx, "bench", lib.DestroyOptions{})
					c.CreateQueue(ctx, "bench")
					b.StartTimer()
				}
			}
		})
	}
}

// BenchmarkSendAsync measures SendAsync over loopback TCP from 1 and 16
// goroutines sharing one client, each sending one message per call, as
// bench scenario 13's producers do (b.N counts messages, Flush included).
// Every message must be in the queue at the end.
func BenchmarkSendAsync(b *testing.B) {
	ctx := context.Background()
	payload := make([]byte, 100)
	for _, producers := range []int{1, 16} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			sw := switchtest.Start(b, "", broker.Options{}, server.Options{})
			c := switchtest.Client(b, sw.Addr, lib.Options{})
			if err := c.CreateQueue(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for p := range producers {
				wg.Go(func() {
					for i := p; i < b.N; i += producers {
						c.SendAsync(ctx, "bench", lib.Message{Payload: payload})
					}
				})
			}
			wg.Wait()
			if err := c.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			q, err := c.Info(ctx, "bench")
			if err != nil || q.Depth != b.N {
				b.Fatalf("depth %d after %d sends (%v)", q.Depth, b.N, err)
			}
		})
	}
}
