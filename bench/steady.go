package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"msw/lib"
)

// Steady state: steadyProducers producers, each a client of its own,
// send one 100-byte message at a time at a fixed total rate while one
// consumer takes and acks them; each message carries the time its send
// began, and the consumer records how long after that it held it.
const (
	steadyProducers = 4
	steadyRate      = 5000 // messages per second, in all
)

// scenarioSteady measures end-to-end latency at a fixed offered load.
func scenarioSteady() ([]Row, error) {
	d := 2 * time.Second
	if cfg.quick {
		d = time.Second
	}
	sw, ns, err := startSystems()
	if err != nil {
		return nil, err
	}
	defer sw.close()
	scen := fmt.Sprintf("14 steady %d msg/s", steadyRate)
	what := fmt.Sprintf("%d producers → 1 consumer, send to delivery", steadyProducers)
	p50 := newRow(scen, what+" p50", unitLatency, "NATS")
	p99 := newRow(scen, what+" p99", unitLatency, "NATS")
	for round := range cfg.rounds {
		for _, sys := range order(round, "tcp", "unix", "nats") {
			var lats []time.Duration
			rec := sys
			if sys == "nats" {
				rec = "ref"
				lats, err = natsSteady(ns, d)
			} else {
				lats, err = mswSteady(sw, sys, d)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", sys, err)
			}
			slices.Sort(lats)
			p50.add(rec, percentile(lats, 0.5).Seconds())
			p99.add(rec, percentile(lats, 0.99).Seconds())
		}
	}
	p99.Note = "latency from the start of a message's send to the consumer holding it; NATS: PublishAsync, one durable pull consumer with explicit acks"
	return []Row{p50, p99}, nil
}

// pace runs the producers: each sends its share of the offered load for
// d, a message stamped with the time its send began.
func pace(d time.Duration, send func(i int, payload []byte) error) (int, error) {
	interval := time.Duration(steadyProducers) * time.Second / steadyRate
	per := int(d / interval)
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	start := time.Now()
	for i := range steadyProducers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Producers start spread over one interval.
			next := start.Add(interval * time.Duration(i) / steadyProducers)
			for range per {
				time.Sleep(time.Until(next))
				next = next.Add(interval)
				p := make([]byte, len(payload100))
				copy(p, payload100)
				binary.LittleEndian.PutUint64(p, uint64(time.Now().UnixNano()))
				if err := send(i, p); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return 0, *p
	}
	return per * steadyProducers, nil
}

// sentAt is the send time stamped in a payload.
func sentAt(p []byte) time.Duration {
	return time.Since(time.Unix(0, int64(binary.LittleEndian.Uint64(p))))
}

func mswSteady(sw *mswSwitch, transport string, d time.Duration) ([]time.Duration, error) {
	q := fmt.Sprintf("steady-%d", queueSeq.Add(1))
	defer sw.b.DestroyQueue(nil, q, false)
	ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
	defer cancel()
	cons := sw.client(transport)
	defer cons.Close()
	if err := cons.CreateQueue(ctx, q); err != nil {
		return nil, err
	}
	if err := cons.Subscribe(ctx, q); err != nil {
		return nil, err
	}
	ps := make([]*lib.Client, steadyProducers)
	for i := range ps {
		ps[i] = sw.client(transport)
		defer ps[i].Close()
		if err := ps[i].Login(ctx); err != nil {
			return nil, err
		}
	}
	var lats []time.Duration
	var total atomic.Int64
	total.Store(-1)
	done := make(chan error, 1)
	go func() {
		var pending lib.Acks
		for {
			if t := total.Load(); t >= 0 && int64(len(lats)) >= t {
				var err error
				if len(pending) > 0 {
					err = cons.Ack(ctx, pending)
				}
				done <- err
				return
			}
			ds, err := cons.Transfer(ctx, lib.TransferOptions{Acks: pending, Timeout: 200 * time.Millisecond})
			if err != nil {
				done <- err
				return
			}
			pending = nil
			if len(ds) == 0 {
				continue
			}
			ids := make([]uint64, len(ds))
			for i := range ds {
				lats = append(lats, sentAt(ds[i].Payload))
				ids[i] = ds[i].ID
			}
			pending = lib.Acks{q: ids}
		}
	}()
	n, err := pace(d, func(i int, p []byte) error {
		_, err := ps[i].Send(ctx, q, lib.Message{Payload: p})
		return err
	})
	if err != nil {
		cancel()
		<-done
		return nil, err
	}
	total.Store(int64(n))
	if err := <-done; err != nil && len(lats) < n {
		return nil, err
	}
	return lats, nil
}

func natsSteady(ns *natsServer, d time.Duration) ([]time.Duration, error) {
	if err := natsSetupStream(ns); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
	defer cancel()
	setup, sjs, err := ns.jetStream()
	if err != nil {
		return nil, err
	}
	defer setup.Close()
	cons, err := sjs.CreateOrUpdateConsumer(ctx, natsStream, jetstream.ConsumerConfig{
		Durable: "steady", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: -1,
	})
	if err != nil {
		return nil, err
	}
	defer sjs.DeleteConsumer(context.Background(), natsStream, "steady")
	jss := make([]jetstream.JetStream, steadyProducers)
	for i := range jss {
		nc, js, err := ns.jetStream(jetstream.WithPublishAsyncMaxPending(natsPublishPending))
		if err != nil {
			return nil, err
		}
		defer nc.Close()
		jss[i] = js
	}
	var mu sync.Mutex
	var lats []time.Duration
	got := make(chan struct{}, 1)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		l := sentAt(m.Data())
		m.Ack()
		mu.Lock()
		lats = append(lats, l)
		mu.Unlock()
		select {
		case got <- struct{}{}:
		default:
		}
	}, jetstream.PullMaxMessages(1000))
	if err != nil {
		return nil, err
	}
	defer cc.Stop()
	n, err := pace(d, func(i int, p []byte) error {
		_, err := jss[i].PublishAsync("bench.steady", p, natsStall)
		return err
	})
	if err != nil {
		return nil, err
	}
	for {
		mu.Lock()
		k := len(lats)
		mu.Unlock()
		if k >= n {
			break
		}
		select {
		case <-got:
		case <-ctx.Done():
			return nil, fmt.Errorf("consumer got %d of %d", k, n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(lats), nil
}
