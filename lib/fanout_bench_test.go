package lib_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"msw/broker"
	"msw/internal/switchtest"
	"msw/lib"
	"msw/server"
)

// BenchmarkFanOut is the bench's scenario 18 at 100 queues in one test
// binary: one client publishes batches of 100 × 100 B to a topic 100
// queues are bound to, four clients over loopback TCP, each subscribed
// to 25 of them, take every copy with Transfer and ack it with the
// next, each batch into the slice of the last (TransferOptions.Into) or,
// in "new", into a slice of its own. b.N counts publishes; copies/s is
// what the bench reports, and B/op over 10,000 is the bytes allocated
// per copy, switch and clients together.
func BenchmarkFanOut(b *testing.B) {
	b.Run("into", func(b *testing.B) { benchFanOut(b, true) })
	b.Run("new", func(b *testing.B) { benchFanOut(b, false) })
}

func benchFanOut(b *testing.B, into bool) {
	const queues, readers, batch = 100, 4, 100
	ctx := context.Background()
	sw := switchtest.Start(b, "", broker.Options{TraceSize: -1}, server.Options{})
	subs := make([][]string, readers)
	for i := range queues {
		q := fmt.Sprintf("fan-%d", i)
		if err := sw.Broker.CreateQueue(nil, q); err != nil {
			b.Fatal(err)
		}
		if err := sw.Broker.Bind(nil, q, []string{"fan.>"}); err != nil {
			b.Fatal(err)
		}
		subs[i%readers] = append(subs[i%readers], q)
	}
	cs := make([]*lib.Client, readers)
	for i := range cs {
		cs[i] = switchtest.Client(b, sw.Addr, lib.Options{})
		if err := cs[i].Subscribe(ctx, subs[i]...); err != nil {
			b.Fatal(err)
		}
	}
	pub := switchtest.Client(b, sw.Addr, lib.Options{})
	ms := make([]lib.Message, batch)
	for i := range ms {
		ms[i].Payload = make([]byte, 100)
	}
	if _, err := pub.Publish(ctx, "fan.x", ms...); err != nil { // log in, open the streams
		b.Fatal(err)
	}
	for i, c := range cs {
		if err := drain(ctx, c, len(subs[i])*batch, into); err != nil {
			b.Fatal(err)
		}
	}

	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	errs := make(chan error, readers+1)
	wg.Go(func() {
		for range b.N {
			if _, err := pub.Publish(ctx, "fan.x", ms...); err != nil {
				errs <- err
				return
			}
		}
	})
	for i, c := range cs {
		wg.Go(func() {
			if err := drain(ctx, c, len(subs[i])*batch*b.N, into); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N*batch*queues)/b.Elapsed().Seconds(), "copies/s")
}

// drain takes want messages with c, acking each with the next transfer
// and the last with an Ack, as the bench's readers do; with into, each
// batch in the slice of the last.
func drain(ctx context.Context, c *lib.Client, want int, into bool) error {
	var pending lib.Acks
	var ds []lib.Delivery
	for got := 0; got < want; {
		o := lib.TransferOptions{Acks: pending, Timeout: 10 * time.Second}
		if into {
			o.Into = ds
		}
		var err error
		ds, err = c.Transfer(ctx, o)
		if err != nil {
			return err
		}
		if len(ds) == 0 {
			return fmt.Errorf("took %d of %d copies, then none for 10 s", got, want)
		}
		got += len(ds)
		pending = lib.Acks{}
		for _, d := range ds {
			pending[d.Queue] = append(pending[d.Queue], d.ID)
		}
	}
	return c.Ack(ctx, pending)
}
