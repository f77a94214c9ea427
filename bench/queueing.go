package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"msw/broker"
	"msw/lib"
)

// ingestCount is how many messages scenarios 2, 3 and 5 move.
func ingestCount() int {
	if cfg.quick {
		return 100_000
	}
	return 1_000_000
}

var (
	msgsOnce sync.Once
	msgs     []lib.Message // ingestCount messages sharing payload100
)

func theMessages() []lib.Message {
	msgsOnce.Do(func() {
		msgs = make([]lib.Message, ingestCount())
		for i := range msgs {
			msgs[i].Payload = payload100
		}
	})
	return msgs
}

var queueSeq atomic.Int64

// mswIngest sends the messages into a new queue with one SendBatch call
// (the library splits it into requests of a few MiB) and checks they all
// arrived.
func mswIngest(sw *mswSwitch, transport, queue string) (time.Duration, error) {
	ms := theMessages()
	c := sw.client(transport)
	defer c.Close()
	ctx := context.Background()
	if err := c.CreateQueue(ctx, queue); err != nil {
		return 0, err
	}
	t0 := time.Now()
	if _, err := c.SendBatch(ctx, queue, ms); err != nil {
		return 0, err
	}
	d := time.Since(t0)
	if qi, err := sw.b.Info(queue); err != nil || qi.Depth != len(ms) {
		return 0, fmt.Errorf("after ingest: depth %d, want %d (%v)", qi.Depth, len(ms), err)
	}
	return d, nil
}

// mswDrain takes and acks every message of queue with k competing
// consumers, each a client of its own that acks a batch with its next
// transfer; it returns when the last ack has been applied.
func mswDrain(sw *mswSwitch, transport, queue string, k int) (time.Duration, error) {
	qi, err := sw.b.Info(queue)
	if err != nil {
		return 0, err
	}
	n := int64(qi.Depth)
	clients := make([]*lib.Client, k)
	for i := range clients {
		clients[i] = sw.client(transport)
		defer clients[i].Close()
		if err := clients[i].Subscribe(context.Background(), queue); err != nil {
			return 0, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var total atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	t0 := time.Now()
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pending lib.Acks
			for total.Load() < n && ctx.Err() == nil {
				ds, err := c.Transfer(ctx, lib.TransferOptions{Acks: pending, Timeout: time.Second})
				if err != nil {
					if ctx.Err() == nil {
						firstErr.CompareAndSwap(nil, &err)
						cancel()
					}
					break // pending is acked below, in case it did not arrive
				}
				pending = nil
				if len(ds) == 0 {
					continue
				}
				ids := make([]uint64, len(ds))
				for i := range ds {
					ids[i] = ds[i].ID
				}
				pending = lib.Acks{queue: ids}
				if total.Add(int64(len(ds))) >= n {
					cancel() // wake the others out of their long polls
				}
			}
			if len(pending) > 0 {
				actx, acancel := context.WithTimeout(context.Background(), time.Minute)
				err := c.Ack(actx, pending)
				acancel()
				if err != nil && !lib.IsCode(err, lib.CodeNoSuchMessage) {
					firstErr.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(t0)
	if p := firstErr.Load(); p != nil {
		return 0, *p
	}
	if qi, err := sw.b.Info(queue); err != nil || qi.Depth != 0 || qi.InFlight != 0 || total.Load() != n {
		return 0, fmt.Errorf("after drain: took %d of %d, depth %d, in flight %d (%v)", total.Load(), n, qi.Depth, qi.InFlight, err)
	}
	return d, nil
}

// natsStream is the memory-stored JetStream stream of the queueing
// scenarios, with work-queue retention: like an msw queue it deletes a
// message once it is acked.
const natsStream = "BENCH"

func natsSetupStream(ns *natsServer) error {
	return natsSetupStreamRetention(ns, jetstream.WorkQueuePolicy)
}

// natsSetupStreamRetention (re)creates the stream with a retention
// policy — a work queue, or interest (a message is deleted once every
// consumer has acked it) — and the given durable consumers.
func natsSetupStreamRetention(ns *natsServer, retention jetstream.RetentionPolicy, consumers ...jetstream.ConsumerConfig) error {
	nc, js, err := ns.jetStream()
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js.DeleteStream(ctx, natsStream)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:      natsStream,
		Subjects:  []string{"bench.>"},
		Storage:   jetstream.MemoryStorage,
		Retention: retention,
		// Fast batch publishing (natsFastBatch), what a producer
		// holding many messages uses on server 2.14 and later.
		AllowBatchPublish: true,
	})
	for _, cc := range consumers {
		if err == nil {
			_, err = js.CreateOrUpdateConsumer(ctx, natsStream, cc)
		}
	}
	return err
}

// natsDrainConsumer is the durable consumer the drain of k consumers
// shares. A single consumer acks once per 1,000 messages (AckAll) on a
// stream with interest retention, where the ack of one message deletes
// it and every message before it, as msw's ack of a batch does (a
// work-queue stream refuses AckAll); competing consumers ack each
// message (AckExplicit) on a work-queue stream, since with AckAll one's
// ack would cover the others' messages.
func natsDrainConsumer(k int) jetstream.ConsumerConfig {
	policy := jetstream.AckExplicitPolicy
	if k == 1 {
		policy = jetstream.AckAllPolicy
	}
	return jetstream.ConsumerConfig{Durable: "drain", AckPolicy: policy, MaxAckPending: -1}
}

// natsPrepareDrain recreates the stream for a drain by k consumers, with
// their consumer in place before the ingest (an interest stream keeps
// only messages some consumer is interested in).
func natsPrepareDrain(ns *natsServer, k int) error {
	retention := jetstream.WorkQueuePolicy
	if k == 1 {
		retention = jetstream.InterestPolicy
	}
	return natsSetupStreamRetention(ns, retention, natsDrainConsumer(k))
}

func natsStreamMsgs(js jetstream.JetStream) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, natsStream)
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// natsWaitEmpty polls until the stream holds no message: the last ack
// has been applied. what names the scenario in the error when ctx ends
// first.
func natsWaitEmpty(ctx context.Context, js jetstream.JetStream, what string) error {
	for {
		left, err := natsStreamMsgs(js)
		if err != nil || left == 0 {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %d messages still unacked", what, left)
		}
		time.Sleep(time.Millisecond)
	}
}

// natsStall is how long an asynchronous publish may wait for room among
// those in flight. nats.go's default, 200 ms, failed a run on a busy
// machine with "stalled with too many outstanding async published
// messages"; waiting longer is what a producer that must not lose
// messages does.
var natsStall = jetstream.WithStallWait(time.Minute)

// natsAsyncIngest makes the ingest publish asynchronously, not in a fast
// batch (-nats-ingest async).
var natsAsyncIngest bool

// natsPublishPending bounds asynchronous publishes awaiting their ack.
var natsPublishPending = 4000

// natsIngest publishes the messages into the stream as one fast batch
// (natsFastBatch) and returns once the server has acknowledged its
// commit.
func natsIngest(ns *natsServer) (time.Duration, error) {
	ms := theMessages()
	nc, js, err := ns.jetStream(jetstream.WithPublishAsyncMaxPending(natsPublishPending))
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	before, err := natsStreamMsgs(js)
	if err != nil {
		return 0, err
	}
	payloads := make([][]byte, len(ms))
	for i := range ms {
		payloads[i] = ms[i].Payload
	}
	t0 := time.Now()
	if natsAsyncIngest {
		err = natsPublishAsync(js, "bench.q", payloads)
	} else {
		err = natsFastBatch(nc, "bench.q", payloads)
	}
	if err != nil {
		return 0, err
	}
	d := time.Since(t0)
	if after, err := natsStreamMsgs(js); err != nil || after-before != uint64(len(ms)) {
		return 0, fmt.Errorf("after ingest: stream holds %d more, want %d (%v)", after-before, len(ms), err)
	}
	return d, nil
}

// natsPublishAsync publishes the payloads asynchronously and waits for
// every publish ack: the way to publish messages one at a time as they
// come.
func natsPublishAsync(js jetstream.JetStream, subject string, payloads [][]byte) error {
	for _, p := range payloads {
		if _, err := js.PublishAsync(subject, p, natsStall); err != nil {
			return err
		}
	}
	select {
	case <-js.PublishAsyncComplete():
		return nil
	case <-time.After(5 * time.Minute):
		return errors.New("publish acks did not all arrive")
	}
}

// natsDrain consumes and acks every message of the stream (set up by
// natsPrepareDrain) with k connections sharing one durable pull
// consumer; it returns when the stream is empty, i.e. when the last ack
// was applied.
func natsDrain(ns *natsServer, k int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	setup, sjs, err := ns.jetStream()
	if err != nil {
		return 0, err
	}
	defer setup.Close()
	n, err := natsStreamMsgs(sjs)
	if err != nil {
		return 0, err
	}
	_, err = sjs.CreateOrUpdateConsumer(ctx, natsStream, natsDrainConsumer(k))
	if err != nil {
		return 0, err
	}
	defer sjs.DeleteConsumer(context.Background(), natsStream, "drain")
	var got atomic.Uint64
	done := make(chan struct{})
	var consumers []jetstream.ConsumeContext
	defer func() {
		for _, cc := range consumers {
			cc.Stop()
		}
	}()
	var conns []jetstream.Consumer
	for range k {
		nc, js, err := ns.jetStream()
		if err != nil {
			return 0, err
		}
		defer nc.Close()
		cons, err := js.Consumer(ctx, natsStream, "drain")
		if err != nil {
			return 0, err
		}
		conns = append(conns, cons)
	}
	t0 := time.Now()
	for _, cons := range conns {
		cc, err := cons.Consume(func(m jetstream.Msg) {
			g := got.Add(1)
			if k > 1 || g%1000 == 0 || g == n {
				m.Ack()
			}
			if g == n {
				close(done)
			}
		}, jetstream.PullMaxMessages(1000))
		if err != nil {
			return 0, err
		}
		consumers = append(consumers, cc)
	}
	select {
	case <-done:
	case <-ctx.Done():
		return 0, fmt.Errorf("drain: got %d of %d", got.Load(), n)
	}
	if err := natsWaitEmpty(ctx, sjs, "drain"); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// natsAckEach consumes from cons, acking each message, and closes done
// once total messages have come.
func natsAckEach(cons jetstream.Consumer, total uint64) (done chan struct{}, stop func(), err error) {
	var got atomic.Uint64
	done = make(chan struct{})
	cc, err := cons.Consume(func(m jetstream.Msg) {
		m.Ack()
		if got.Add(1) == total {
			close(done)
		}
	}, jetstream.PullMaxMessages(1000))
	if err != nil {
		return nil, nil, err
	}
	return done, cc.Stop, nil
}

// queueing holds the rows of scenarios 2 and 3, measured together: each
// round ingests, drains with one consumer, ingests again and drains with
// four, for msw on each transport and for NATS.
var queueing struct {
	done                    bool
	err                     error // why they could not be measured
	ingest, ingestMB        Row
	drain1, drain4          Row
	sendLines, sendLinesRef Row
}

func measureQueueing() error {
	if !queueing.done {
		queueing.err = measureQueueing1()
		queueing.done = true
	}
	return queueing.err
}

func measureQueueing1() error {
	n := ingestCount()
	scen2 := fmt.Sprintf("2 ingest %s × 100 B", count(n))
	scen3 := fmt.Sprintf("3 drain %s", count(n))
	ingest := newRow(scen2, "library batch", unitRate, "NATS fast batch")
	ingestMB := newRow(scen2, "library batch", unitMBs, "NATS fast batch")
	drain1 := newRow(scen3, "1 consumer, acks", unitRate, "NATS AckAll per 1000")
	drain4 := newRow(scen3, "4 consumers, acks", unitRate, "NATS AckExplicit")
	var sw *mswSwitch
	var err error
	if cfg.on("tcp") || cfg.on("unix") {
		if sw, err = startMsw(broker.Options{}); err != nil {
			return err
		}
		defer sw.close()
	}
	var ns *natsServer
	if cfg.on("nats") {
		if ns, err = theNATS(); err != nil {
			return err
		}
		if err := natsSetupStream(ns); err != nil {
			return err
		}
	}
	for round := range cfg.heavy {
		for _, sys := range order(round, "tcp", "unix", "nats") {
			rec := sys
			if sys == "nats" {
				rec = "ref"
			}
			for _, k := range []int{1, 4} {
				var d time.Duration
				q := fmt.Sprintf("ingest-%d", queueSeq.Add(1))
				if sys == "nats" {
					if err := natsPrepareDrain(ns, k); err != nil {
						return err
					}
					d, err = natsIngest(ns)
				} else {
					d, err = mswIngest(sw, sys, q)
				}
				if err != nil {
					return fmt.Errorf("ingest, %s: %w", sys, err)
				}
				ingest.add(rec, float64(n)/d.Seconds())
				ingestMB.add(rec, float64(n*len(payload100))/d.Seconds()/1e6)
				if sys == "nats" {
					d, err = natsDrain(ns, k)
				} else {
					d, err = mswDrain(sw, sys, q, k)
					sw.b.DestroyQueue(nil, q, false)
				}
				if err != nil {
					return fmt.Errorf("drain with %d, %s: %w", k, sys, err)
				}
				map[int]*Row{1: &drain1, 4: &drain4}[k].add(rec, float64(n)/d.Seconds())
				settle()
			}
		}
	}
	ingest.Target, ingest.check = "msw/NATS ≥ 3", ratioAtLeast(3)
	drain1.Target, drain1.check = "msw/NATS ≥ 3", ratioAtLeast(3)
	drain4.Target, drain4.check = "msw/NATS ≥ 1", ratioAtLeast(1)
	queueing.ingest, queueing.ingestMB = ingest, ingestMB
	queueing.drain1, queueing.drain4 = drain1, drain4
	return nil
}

// settle collects the garbage a round left, so that the next round does
// not pay for it.
func settle() {
	runtimeGC()
}

func count(n int) string {
	if n%1_000_000 == 0 {
		return fmt.Sprintf("%dM", n/1_000_000)
	}
	return fmt.Sprintf("%dk", n/1000)
}

func scenarioIngest() ([]Row, error) {
	if err := measureQueueing(); err != nil {
		return nil, err
	}
	rows := []Row{queueing.ingest, queueing.ingestMB}
	lines, err := measureSendLines()
	if err != nil {
		lines.Note = "not run: " + err.Error()
	}
	return append(rows, lines), nil
}

func scenarioDrain() ([]Row, error) {
	if err := measureQueueing(); err != nil {
		return nil, err
	}
	pipe, err := measureRecvPipe()
	if err != nil {
		pipe.Note = "not run: " + err.Error()
	}
	return []Row{queueing.drain1, queueing.drain4, pipe}, nil
}

// measureSendLines feeds ingestCount lines of 100 bytes through a pipe
// into msw-send -l, against the library's own ingest rate on the same
// transport.
func measureSendLines() (Row, error) {
	n := ingestCount()
	row := newRow(fmt.Sprintf("2 ingest %s × 100 B", count(n)), "msw-send -l, pipe", unitRate, "library")
	row.Target, row.check = "msw-send/library ≥ 0.5", ratioAtLeast(0.5)
	row.Ref, row.RefUnix = queueing.ingest.TCP, queueing.ingest.Unix
	bin, err := buildCommands()
	if err != nil {
		return row, err
	}
	input := bytes.Repeat(append(payload100[:len(payload100):len(payload100)], '\n'), n)
	sw, err := startMsw(broker.Options{})
	if err != nil {
		return row, err
	}
	defer sw.close()
	for round := range cfg.heavy {
		for _, sys := range order(round, "tcp", "unix") {
			r, err := sendLines(bin, sw, sys, input, n)
			if err != nil {
				return row, err
			}
			row.add(sys, r)
			settle()
		}
	}
	return row, nil
}

// sendLines pipes input (n lines) into msw-send -l, sending to a fresh
// queue of sw over transport, checks that all n arrived, and returns the
// rate from the program's start to its exit.
func sendLines(bin string, sw *mswSwitch, transport string, input []byte, n int) (float64, error) {
	q := fmt.Sprintf("lines-%d", queueSeq.Add(1))
	defer sw.b.DestroyQueue(nil, q, false) // made by msw-send, if it got that far
	cmd := exec.Command(filepath.Join(bin, "msw-send"), "-l", q)
	cmd.Env = append(os.Environ(), "MSW_SWITCH="+sw.addr(transport))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	w, err := cmd.StdinPipe()
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	go func() {
		w.Write(input)
		w.Close()
	}()
	err = cmd.Wait()
	d := time.Since(t0)
	if err != nil {
		return 0, fmt.Errorf("msw-send: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	if qi, err := sw.b.Info(q); err != nil || qi.Depth != n {
		return 0, fmt.Errorf("after msw-send: depth %d, want %d (%v)", qi.Depth, n, err)
	}
	return float64(n) / d.Seconds(), nil
}

// scenarioFanIn is 64 producers, each a client of its own sending one
// message per request, into one queue drained by one consumer with acks.
func scenarioFanIn() ([]Row, error) {
	const producers = 64
	per := 500
	if cfg.quick {
		per = 100
	}
	row := newRow(fmt.Sprintf("4 fan-in %d×%d", producers, per), "64 producers → 1 consumer", unitRate, "NATS")
	sw, ns, err := startSystems()
	if err != nil {
		return nil, err
	}
	defer sw.close()
	if ns != nil {
		if err := natsSetupStream(ns); err != nil {
			return nil, err
		}
	}
	err = rateRounds(&row, float64(producers*per),
		func(transport string) (time.Duration, error) { return mswFanIn(sw, transport, producers, per) },
		func() (time.Duration, error) { return natsFanIn(ns, producers, per) },
		nil)
	if err != nil {
		return nil, err
	}
	return []Row{row}, nil
}

func mswFanIn(sw *mswSwitch, transport string, producers, per int) (time.Duration, error) {
	q := fmt.Sprintf("fanin-%d", queueSeq.Add(1))
	ctx := context.Background()
	cons := sw.client(transport)
	defer cons.Close()
	if err := cons.CreateQueue(ctx, q); err != nil {
		return 0, err
	}
	if err := cons.Subscribe(ctx, q); err != nil {
		return 0, err
	}
	defer sw.b.DestroyQueue(nil, q, false)
	ps := make([]*lib.Client, producers)
	for i := range ps {
		ps[i] = sw.client(transport)
		defer ps[i].Close()
		if err := ps[i].Login(ctx); err != nil {
			return 0, err
		}
	}
	total := producers * per
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	t0 := time.Now()
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				if _, err := p.Send(ctx, q, lib.Message{Payload: payload100}); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	var got int
	var pending lib.Acks
	deadline := time.Now().Add(5 * time.Minute)
	for got < total && time.Now().Before(deadline) && firstErr.Load() == nil {
		ds, err := cons.Transfer(ctx, lib.TransferOptions{Acks: pending, Timeout: time.Second})
		if err != nil {
			return 0, err
		}
		pending = nil
		if len(ds) > 0 {
			ids := make([]uint64, len(ds))
			for i := range ds {
				ids[i] = ds[i].ID
			}
			pending = lib.Acks{q: ids}
			got += len(ds)
		}
	}
	if len(pending) > 0 {
		if err := cons.Ack(ctx, pending); err != nil {
			return 0, err
		}
	}
	d := time.Since(t0)
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return 0, *p
	}
	if got != total {
		return 0, fmt.Errorf("consumer got %d of %d", got, total)
	}
	return d, nil
}

func natsFanIn(ns *natsServer, producers, per int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	setup, sjs, err := ns.jetStream()
	if err != nil {
		return 0, err
	}
	defer setup.Close()
	cons, err := sjs.CreateOrUpdateConsumer(ctx, natsStream, jetstream.ConsumerConfig{
		Durable:       "fanin",
		AckPolicy:     jetstream.AckExplicitPolicy,
		MaxAckPending: -1,
	})
	if err != nil {
		return 0, err
	}
	defer sjs.DeleteConsumer(context.Background(), natsStream, "fanin")
	jss := make([]jetstream.JetStream, producers)
	for i := range jss {
		nc, js, err := ns.jetStream()
		if err != nil {
			return 0, err
		}
		defer nc.Close()
		jss[i] = js
	}
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	t0 := time.Now()
	done, stop, err := natsAckEach(cons, uint64(producers*per))
	if err != nil {
		return 0, err
	}
	defer stop()
	for _, js := range jss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				if _, err := js.Publish(ctx, "bench.fanin", payload100); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					cancel()
					return
				}
			}
		}()
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return 0, *p
	}
	if err := natsWaitEmpty(ctx, sjs, "fan-in"); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}
