package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"msw/broker"
	"msw/internal/wire"
	"msw/lib"
)

// Scenario 18, fan-out: one publisher, 10, 100 and 1,000 bound queues
// (msw) or subscriptions (NATS core subjects), the same consumers
// draining them; what counts is copies delivered per second, from the
// first publish to the last copy taken. msw's consumers ack what they
// take, each batch with the next transfer, and parse each batch into
// the slice of the last (TransferOptions.Into), as a reader's loop that
// is done with a batch when it asks for the next would; NATS's
// subscribers are pushed to without acks. Beside it, the
// heap one more bound queue costs per published message (the copies
// share the payload).

// fanoutConsumers is how many consumer clients (connections) share the
// queues or subscriptions.
const fanoutConsumers = 4

// fanoutBatch is how many messages one publish request carries.
const fanoutBatch = 100

func scenarioFanOut() ([]Row, error) {
	copies := 1_000_000 // copies delivered per measurement
	if cfg.quick {
		copies = 100_000
	}
	var rows []Row
	var sw *mswSwitch
	var err error
	if cfg.on("tcp") || cfg.on("unix") {
		if sw, err = startMsw(broker.Options{TraceSize: -1}); err != nil {
			return nil, err
		}
		defer sw.close()
	}
	var ns *natsServer
	if cfg.on("nats") {
		if ns, err = theNATS(); err != nil {
			return nil, err
		}
	}
	for _, n := range []int{10, 100, 1000} {
		per := copies / n
		row := newRow(fmt.Sprintf("18 fan-out 1 → %d", n), fmt.Sprintf("%d msgs × %d copies, delivered", per, n), unitRate, "NATS")
		if n == 100 {
			row.Target, row.check = "msw/NATS ≥ 1", ratioAtLeast(1)
		}
		err := rateRounds(&row, float64(n*per),
			func(transport string) (time.Duration, error) { return mswFanOut(sw, transport, n, per) },
			func() (time.Duration, error) { return natsFanOut(ns, n, per) },
			nil)
		if err != nil {
			return nil, fmt.Errorf("%d queues, %w", n, err)
		}
		rows = append(rows, row)
	}
	mem := newRow("18 fan-out memory", "heap per extra copy, 100 B", unitBytes, "—")
	mem.Target, mem.check = "≤ 64 B", valueBelow(64.5)
	for range cfg.rounds {
		mem.add("tcp", copyBytes(100, 1000))
	}
	return append(rows, mem), nil
}

var fanoutSeq atomic.Int64

// mswFanOut binds n queues to one pattern, publishes per messages to a
// matching topic in batches, and returns how long it took until
// fanoutConsumers clients had taken (and acked) every copy.
func mswFanOut(sw *mswSwitch, transport string, n, per int) (time.Duration, error) {
	ctx := context.Background()
	run := fanoutSeq.Add(1)
	pattern := fmt.Sprintf("fan%d.>", run)
	topic := fmt.Sprintf("fan%d.x", run)
	queues := make([][]string, fanoutConsumers)
	for i := range n {
		q := fmt.Sprintf("fan%d-%d", run, i)
		if err := sw.b.CreateQueue(nil, q); err != nil {
			return 0, err
		}
		if err := sw.b.Bind(nil, q, []string{pattern}); err != nil {
			return 0, err
		}
		defer sw.b.DestroyQueue(nil, q, false)
		queues[i%fanoutConsumers] = append(queues[i%fanoutConsumers], q)
	}
	cons := make([]*lib.Client, 0, fanoutConsumers)
	for _, qs := range queues {
		if len(qs) == 0 {
			continue
		}
		c := sw.client(transport)
		defer c.Close()
		if err := c.Subscribe(ctx, qs...); err != nil {
			return 0, err
		}
		cons = append(cons, c)
	}
	pub := sw.client(transport)
	defer pub.Close()
	if err := pub.Login(ctx); err != nil {
		return 0, err
	}
	batch := make([]lib.Message, min(fanoutBatch, per))
	for i := range batch {
		batch[i] = lib.Message{Payload: payload100}
	}

	var wg sync.WaitGroup
	errs := make(chan error, len(cons)+1)
	t0 := time.Now()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for sent := 0; sent < per; sent += len(batch) {
			if _, err := pub.Publish(ctx, topic, batch[:min(len(batch), per-sent)]...); err != nil {
				errs <- err
				return
			}
		}
	}()
	for i, c := range cons {
		want := len(queues[i]) * per
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pending lib.Acks
			var ds []lib.Delivery
			deadline := time.Now().Add(5 * time.Minute)
			for got := 0; got < want; {
				if time.Now().After(deadline) {
					errs <- fmt.Errorf("took %d of %d copies in 5 minutes", got, want)
					return
				}
				// Each batch into the slice of the last, which the
				// reader is done with (TransferOptions.Into).
				var err error
				ds, err = c.Transfer(ctx, lib.TransferOptions{Acks: pending, Timeout: time.Second, Into: ds})
				if err != nil {
					errs <- err
					return
				}
				got += len(ds)
				pending = lib.Acks{}
				for _, d := range ds {
					pending[d.Queue] = append(pending[d.Queue], d.ID)
				}
			}
			if err := c.Ack(ctx, pending); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	d := time.Since(t0)
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	return d, nil
}

// natsFanOut subscribes n subscriptions, spread over fanoutConsumers
// connections, to one wildcard subject, publishes per messages to a
// matching subject and returns how long it took until every copy was
// delivered. A copy NATS dropped (a slow consumer) fails the round.
func natsFanOut(ns *natsServer, n, per int) (time.Duration, error) {
	run := fanoutSeq.Add(1)
	var got atomic.Int64
	want := int64(n * per)
	done := make(chan struct{})
	var conns []*nats.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range fanoutConsumers {
		c, err := ns.connect()
		if err != nil {
			return 0, err
		}
		conns = append(conns, c)
	}
	for i := range n {
		sub, err := conns[i%len(conns)].Subscribe(fmt.Sprintf("fan%d.>", run), func(*nats.Msg) {
			if got.Add(1) == want {
				close(done)
			}
		})
		if err != nil {
			return 0, err
		}
		sub.SetPendingLimits(-1, -1)
	}
	for _, c := range conns {
		if err := c.Flush(); err != nil {
			return 0, err
		}
	}
	pub, err := ns.connect()
	if err != nil {
		return 0, err
	}
	defer pub.Close()
	subject := fmt.Sprintf("fan%d.x", run)
	t0 := time.Now()
	for range per {
		if err := pub.Publish(subject, payload100); err != nil {
			return 0, err
		}
	}
	if err := pub.Flush(); err != nil {
		return 0, err
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		return 0, fmt.Errorf("delivered %d of %d copies in 5 minutes", got.Load(), want)
	}
	return time.Since(t0), nil
}

// copyBytes is the heap one more bound queue costs per published
// message of size bytes: the heap of per messages published to n bound
// queues, less that of one queue, over the (n-1)×per extra copies.
func copyBytes(size, n int) float64 {
	const per = 1 << 12 // the queues' rings fill exactly: no slack counted
	heap := func(queues int) uint64 {
		b := broker.New(broker.Options{TraceSize: -1})
		defer b.Close()
		for i := range queues {
			q := fmt.Sprintf("q%d", i)
			b.CreateQueue(nil, q)
			b.Bind(nil, q, []string{"t"})
		}
		ms := []wire.Message{{Payload: make([]byte, size)}}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range per {
			b.Publish(nil, "t", ms)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(b)
		return after.HeapAlloc - before.HeapAlloc
	}
	one := heap(1)
	return float64(heap(n)-one) / float64((n-1)*per)
}
