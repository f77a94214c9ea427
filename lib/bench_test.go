package lib_test

import (
	"context"
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
