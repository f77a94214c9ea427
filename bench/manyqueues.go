package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"msw/lib"
)

// Many queues: manyQueues queues, traffic spread evenly across them —
// 16 producers sending batches of manyPer messages, one batch per queue —
// and one consumer of all of them taking and acking everything. NATS:
// one work-queue stream with a subject per queue (subjects are NATS's
// unit of addressing; a stream per queue would cost it far more) and
// one durable consumer on all of them.
const (
	manyQueues = 1000
	manyPer    = 100
)

// scenarioManyQueues measures the time from the first send to the last
// ack applied.
func scenarioManyQueues() ([]Row, error) {
	sw, ns, err := startSystems()
	if err != nil {
		return nil, err
	}
	defer sw.close()
	row := newRow(fmt.Sprintf("17 %d queues", manyQueues), fmt.Sprintf("%d × %d × 100 B sent (16 producers) and drained (1 consumer)", manyQueues, manyPer), unitRate, "NATS, 1 stream, a subject per queue")
	for round := range cfg.rounds {
		for _, sys := range order(round, "tcp", "unix", "nats") {
			var d time.Duration
			rec := sys
			if sys == "nats" {
				rec = "ref"
				d, err = natsManyQueues(ns)
			} else {
				d, err = mswManyQueues(sw, sys)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", sys, err)
			}
			row.add(rec, float64(manyQueues*manyPer)/d.Seconds())
			settle()
		}
	}
	return []Row{row}, nil
}

// spread runs 16 producers calling send for each queue index once.
func spread(send func(q int) error) error {
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for q := int(next.Add(1)) - 1; q < manyQueues && firstErr.Load() == nil; q = int(next.Add(1)) - 1 {
				if err := send(q); err != nil {
					firstErr.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return *p
	}
	return nil
}

func mswManyQueues(sw *mswSwitch, transport string) (time.Duration, error) {
	prefix := fmt.Sprintf("many-%d", queueSeq.Add(1))
	names := make([]string, manyQueues)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", prefix, i)
		if err := sw.b.CreateQueue(nil, names[i]); err != nil {
			return 0, err
		}
		defer sw.b.DestroyQueue(nil, names[i], false)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	prod, cons := sw.client(transport), sw.client(transport)
	defer prod.Close()
	defer cons.Close()
	if err := cons.Subscribe(ctx, names...); err != nil {
		return 0, err
	}
	if err := prod.Login(ctx); err != nil {
		return 0, err
	}
	batch := make([]lib.Message, manyPer)
	for i := range batch {
		batch[i].Payload = payload100
	}
	total := manyQueues * manyPer
	t0 := time.Now()
	sent := make(chan error, 1)
	go func() {
		sent <- spread(func(q int) error {
			_, err := prod.SendBatch(ctx, names[q], batch)
			return err
		})
	}()
	got := 0
	var pending lib.Acks
	for got < total {
		ds, err := cons.Transfer(ctx, lib.TransferOptions{Acks: pending, Timeout: time.Second})
		if err != nil {
			return 0, err
		}
		pending = lib.Acks{}
		for _, m := range ds {
			pending[m.Queue] = append(pending[m.Queue], m.ID)
		}
		got += len(ds)
	}
	if err := cons.Ack(ctx, pending); err != nil {
		return 0, err
	}
	d := time.Since(t0)
	return d, <-sent
}

func natsManyQueues(ns *natsServer) (time.Duration, error) {
	if err := natsSetupStream(ns); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	nc, js, err := ns.jetStream(jetstream.WithPublishAsyncMaxPending(natsPublishPending))
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	_, err = js.CreateOrUpdateConsumer(ctx, natsStream, jetstream.ConsumerConfig{
		Durable: "many", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: -1, FilterSubject: "bench.many.>",
	})
	if err != nil {
		return 0, err
	}
	defer js.DeleteConsumer(context.Background(), natsStream, "many")
	cnc, cjs, err := ns.jetStream()
	if err != nil {
		return 0, err
	}
	defer cnc.Close()
	ccons, err := cjs.Consumer(ctx, natsStream, "many")
	if err != nil {
		return 0, err
	}
	payloads := make([][]byte, manyPer)
	for i := range payloads {
		payloads[i] = payload100
	}
	t0 := time.Now()
	done, stop, err := natsAckEach(ccons, manyQueues*manyPer)
	if err != nil {
		return 0, err
	}
	defer stop()
	if err := spread(func(q int) error {
		subject := fmt.Sprintf("bench.many.%d", q)
		for _, p := range payloads {
			if _, err := js.PublishAsync(subject, p, natsStall); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return 0, err
	}
	select {
	case <-done:
	case <-ctx.Done():
		return 0, errors.New("the consumer did not get every message in 5 minutes")
	}
	if err := natsWaitEmpty(ctx, js, "many queues"); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}
