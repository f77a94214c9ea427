package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"msw/lib"
)

// scenarioProducers is ingest by producers that have one message at a
// time, as it arrives: 1 and 16 goroutines of one program each sending
// their share one message per call, on one connection. msw:
// Client.SendAsync, which hands the message to the stream without
// waiting (the switch answers only a failure; up to 4096 under way per
// client), then Flush, the clock stopping when every send is confirmed;
// NATS: PublishAsync into the memory stream, as many in flight as the
// window allows (4000), and the clock stops when every publish ack has
// arrived.
func scenarioProducers() ([]Row, error) {
	total := 100_000
	if cfg.quick {
		total = 20_000
	}
	sw, ns, err := startSystems()
	if err != nil {
		return nil, err
	}
	defer sw.close()
	var rows []Row
	for _, k := range []int{1, 16} {
		row := newRow(fmt.Sprintf("13 per-message producers, %s × 100 B", count(total)), fmt.Sprintf("%d producer(s), one message per call (msw SendAsync)", k), unitRate, "NATS PublishAsync")
		err := rateRounds(&row, float64(total),
			func(transport string) (time.Duration, error) { return mswProducers(sw, transport, k, total) },
			func() (time.Duration, error) { return natsProducers(ns, k, total) },
			settle)
		if err != nil {
			return rows, fmt.Errorf("%d producers, %w", k, err)
		}
		row.Target, row.check = "msw/NATS ≥ 2", ratioAtLeast(2)
		rows = append(rows, row)
	}
	return rows, nil
}

// produce runs k goroutines sending total messages between them, one
// per call of send, and returns how long it took.
func produce(k, total int, send func() error) (time.Duration, error) {
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	t0 := time.Now()
	for range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(total) && firstErr.Load() == nil {
				if err := send(); err != nil {
					firstErr.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return 0, *p
	}
	return time.Since(t0), nil
}

func mswProducers(sw *mswSwitch, transport string, k, total int) (time.Duration, error) {
	q := fmt.Sprintf("producers-%d", queueSeq.Add(1))
	defer sw.b.DestroyQueue(nil, q, false)
	c := sw.client(transport)
	defer c.Close()
	ctx := context.Background()
	if err := c.CreateQueue(ctx, q); err != nil {
		return 0, err
	}
	t0 := time.Now()
	_, err := produce(k, total, func() error {
		c.SendAsync(ctx, q, lib.Message{Payload: payload100}) // the depth below says whether all were accepted
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := c.Flush(ctx); err != nil {
		return 0, err
	}
	d := time.Since(t0)
	if qi, err := sw.b.Info(q); err != nil || qi.Depth != total {
		return 0, fmt.Errorf("after sending: depth %d, want %d (%v)", qi.Depth, total, err)
	}
	return d, nil
}

func natsProducers(ns *natsServer, k, total int) (time.Duration, error) {
	if err := natsSetupStream(ns); err != nil {
		return 0, err
	}
	nc, js, err := ns.jetStream(jetstream.WithPublishAsyncMaxPending(natsPublishPending))
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	t0 := time.Now()
	if _, err := produce(k, total, func() error {
		_, err := js.PublishAsync("bench.p", payload100, natsStall)
		return err
	}); err != nil {
		return 0, err
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(5 * time.Minute):
		return 0, fmt.Errorf("publish acks did not all arrive")
	}
	d := time.Since(t0)
	if n, err := natsStreamMsgs(js); err != nil || n != uint64(total) {
		return 0, fmt.Errorf("after publishing: stream holds %d, want %d (%v)", n, total, err)
	}
	return d, nil
}
