package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"msw/broker"
	"msw/lib"
)

// Redelivery: a consumer in a process of its own takes redeliverN
// messages without acking them and is killed (SIGKILL); the scenario
// measures the time from the kill until another consumer has been given
// all of them again. msw gives a dead client's messages back when its
// session ends: the switch sees the connection drop and ends the session
// after its grace period (broker.Options.Grace, 3 s by default). A NATS
// pull consumer does not watch connections: a message is redelivered
// when its AckWait runs out, set here to the same 3 s (its default, 30 s,
// would measure the default rather than the server).
const (
	redeliverN    = 1000
	redeliverWait = 3 * time.Second
)

// scenarioRedelivery measures it on each system.
func scenarioRedelivery() ([]Row, error) {
	sw, ns, err := startSystems()
	if err != nil {
		return nil, err
	}
	defer sw.close()
	row := newRow("15 redelivery", fmt.Sprintf("consumer holding %d killed: all delivered again after", redeliverN), unitLatency, "NATS")
	row.Note = fmt.Sprintf("the holder is a child process killed with SIGKILL; msw: session grace %s (default), NATS: AckWait %s", broker.DefaultGrace, redeliverWait)
	rounds := min(cfg.rounds, 3)
	for round := range rounds {
		for _, sys := range order(round, "tcp", "unix", "nats") {
			var d time.Duration
			rec := sys
			if sys == "nats" {
				rec = "ref"
				d, err = natsRedelivery(ns)
			} else {
				d, err = mswRedelivery(sw, sys)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", sys, err)
			}
			row.add(rec, d.Seconds())
		}
	}
	return []Row{row}, nil
}

// runHolder starts this program with -hold-child SPEC and waits until it
// says it holds the messages.
func runHolder(spec string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-hold-child", spec)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if _, err := cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "held\n" {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("holder: %s", bytes.TrimSpace(stderr.Bytes()))
	}
	return cmd, nil
}

// kill ends the holder as a crash would and returns when it is gone.
func kill(cmd *exec.Cmd) time.Time {
	t0 := time.Now()
	cmd.Process.Kill()
	cmd.Wait()
	return t0
}

func mswRedelivery(sw *mswSwitch, transport string) (time.Duration, error) {
	q := fmt.Sprintf("redeliver-%d", queueSeq.Add(1))
	defer sw.b.DestroyQueue(nil, q, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := sw.client(transport)
	defer c.Close()
	if err := c.CreateQueue(ctx, q); err != nil {
		return 0, err
	}
	ms := make([]lib.Message, redeliverN)
	for i := range ms {
		ms[i].Payload = payload100
	}
	if _, err := c.SendBatch(ctx, q, ms); err != nil {
		return 0, err
	}
	holder, err := runHolder(fmt.Sprintf("msw,%s,%s", sw.addr(transport), q))
	if err != nil {
		return 0, err
	}
	if qi, err := sw.b.Info(q); err != nil || qi.InFlight != redeliverN {
		kill(holder)
		return 0, fmt.Errorf("holder holds %d, want %d (%v)", qi.InFlight, redeliverN, err)
	}
	if err := c.Subscribe(ctx, q); err != nil {
		kill(holder)
		return 0, err
	}
	t0 := kill(holder)
	got := 0
	var pending lib.Acks
	for got < redeliverN {
		ds, err := c.Transfer(ctx, lib.TransferOptions{Acks: pending, Timeout: 10 * time.Second})
		if err != nil {
			return 0, fmt.Errorf("after %d of %d: %w", got, redeliverN, err)
		}
		pending = nil
		ids := make([]uint64, len(ds))
		for i := range ds {
			ids[i] = ds[i].ID
		}
		if len(ids) > 0 {
			pending = lib.Acks{q: ids}
		}
		got += len(ds)
	}
	d := time.Since(t0)
	return d, c.Ack(ctx, pending)
}

func natsRedelivery(ns *natsServer) (time.Duration, error) {
	if err := natsSetupStream(ns); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nc, js, err := ns.jetStream()
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	cons, err := js.CreateOrUpdateConsumer(ctx, natsStream, jetstream.ConsumerConfig{
		Durable: "redeliver", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: -1, AckWait: redeliverWait,
	})
	if err != nil {
		return 0, err
	}
	defer js.DeleteConsumer(context.Background(), natsStream, "redeliver")
	payloads := make([][]byte, redeliverN)
	for i := range payloads {
		payloads[i] = payload100
	}
	if err := natsPublishAsync(js, "bench.r", payloads); err != nil {
		return 0, err
	}
	holder, err := runHolder("nats," + ns.url + ",redeliver")
	if err != nil {
		return 0, err
	}
	t0 := kill(holder)
	got := 0
	for got < redeliverN {
		batch, err := cons.Fetch(redeliverN-got, jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			return 0, err
		}
		for m := range batch.Messages() {
			m.Ack()
			got++
		}
		if err := batch.Error(); err != nil {
			return 0, fmt.Errorf("after %d of %d: %w", got, redeliverN, err)
		}
	}
	d := time.Since(t0)
	return d, natsWaitEmpty(ctx, js, "redelivery")
}

// runHoldChild is the -hold-child mode: "msw,ADDR,QUEUE" or
// "nats,URL,CONSUMER". It takes redeliverN messages without acking them,
// prints "held" and waits to be killed.
func runHoldChild(spec string) {
	parts := strings.Split(spec, ",")
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if len(parts) != 3 {
		fail(fmt.Errorf("bad -hold-child spec %q", spec))
	}
	ctx := context.Background()
	got := 0
	switch parts[0] {
	case "msw":
		c, err := lib.New(lib.Options{Addr: parts[1], ClientID: "bench-holder-" + strconv.Itoa(os.Getpid()), Wait: 5 * time.Second})
		if err != nil {
			fail(err)
		}
		if err := c.Subscribe(ctx, parts[2]); err != nil {
			fail(err)
		}
		for got < redeliverN {
			ds, err := c.Transfer(ctx, lib.TransferOptions{Max: redeliverN - got, Timeout: 10 * time.Second})
			if err != nil {
				fail(err)
			}
			got += len(ds)
		}
	case "nats":
		ns := &natsServer{url: parts[1]}
		nc, js, err := ns.jetStream()
		if err != nil {
			fail(err)
		}
		defer nc.Close()
		cons, err := js.Consumer(ctx, natsStream, parts[2])
		if err != nil {
			fail(err)
		}
		for got < redeliverN {
			batch, err := cons.Fetch(redeliverN-got, jetstream.FetchMaxWait(10*time.Second))
			if err != nil {
				fail(err)
			}
			for range batch.Messages() {
				got++
			}
		}
	default:
		fail(fmt.Errorf("bad -hold-child system %q", parts[0]))
	}
	fmt.Println("held")
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0) // the bench is gone: end as abruptly as a kill would
}
