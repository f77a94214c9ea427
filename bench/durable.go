package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"msw/broker"
	"msw/broker/logstore"
	"msw/lib"
)

// Scenario 9: durable ingest. A switch with a log (msw-switch --data,
// fsync always: every send answered only once synced) against the disk's
// own fsync, the in-memory switch, and NATS JetStream with a file stream
// synced on every write (the fair durable anchor), at 1 and 64 producers
// of single sends, and for batches: msw-send -l (the target) and the
// library's BatchSender in this process. Ingest only: nothing consumes.

// durableSwitch is an in-process switch over a log store in a temporary
// directory, as msw-switch --data DIR starts one.
type durableSwitch struct {
	*mswSwitch
	st *logstore.Store
}

func startDurable() (*durableSwitch, error) {
	dir, err := os.MkdirTemp(cfg.work, "data-")
	if err != nil {
		return nil, err
	}
	st, err := logstore.Open(dir, logstore.Options{Fsync: logstore.FsyncAlways})
	if err != nil {
		return nil, err
	}
	sw, err := startMsw(broker.Options{Store: st})
	if err != nil {
		st.Close()
		return nil, err
	}
	return &durableSwitch{sw, st}, nil
}

func (d *durableSwitch) close() {
	d.mswSwitch.close()
	d.st.Close()
}

// startSyncNATS starts a NATS server whose file streams sync every write,
// with a file stream on bench.durable.
func startSyncNATS() (*natsServer, error) {
	dir, err := os.MkdirTemp(cfg.work, "nats-sync-")
	if err != nil {
		return nil, err
	}
	ns, err := startNATSSync(dir, true)
	if err != nil {
		return nil, err
	}
	nc, js, err := ns.jetStream()
	if err != nil {
		ns.close()
		return nil, err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "DURABLE", Subjects: []string{"bench.durable"}, Storage: jetstream.FileStorage,
	}); err != nil {
		ns.close()
		return nil, err
	}
	return ns, nil
}

// diskFsync is the median time of a 100-byte write and an fsync in the
// run's work directory.
func diskFsync(n int) (time.Duration, error) {
	f, err := os.Create(filepath.Join(cfg.work, "fsync-probe"))
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	ds := make([]time.Duration, n)
	for i := range ds {
		t := time.Now()
		if _, err := f.Write(payload100); err != nil {
			return 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, err
		}
		ds[i] = time.Since(t)
	}
	slices.Sort(ds)
	return percentile(ds, 0.5), nil
}

// sendLoad runs producers clients, each sending per single messages to a
// fresh queue, and returns the elapsed time and every send's latency.
func sendLoad(sw *mswSwitch, transport string, producers, per int) (time.Duration, []time.Duration, error) {
	ctx := context.Background()
	q := fmt.Sprintf("durable-%d", queueSeq.Add(1))
	if err := sw.b.CreateQueue(nil, q); err != nil {
		return 0, nil, err
	}
	defer sw.b.DestroyQueue(nil, q, false)
	return parallelSends(producers, per, func() (func() error, func(), error) {
		c := sw.client(transport)
		if err := c.Login(ctx); err != nil {
			c.Close()
			return nil, nil, err
		}
		return func() error {
			_, err := c.Send(ctx, q, lib.Message{Payload: payload100})
			return err
		}, func() { c.Close() }, nil
	})
}

// natsSyncLoad is sendLoad against the synced file stream.
func natsSyncLoad(ns *natsServer, producers, per int) (time.Duration, []time.Duration, error) {
	ctx := context.Background()
	return parallelSends(producers, per, func() (func() error, func(), error) {
		nc, js, err := ns.jetStream()
		if err != nil {
			return nil, nil, err
		}
		return func() error {
			_, err := js.Publish(ctx, "bench.durable", payload100)
			return err
		}, nc.Close, nil
	})
}

// parallelSends runs per sends on each of producers connections made by
// open, all at once, timing each. Each connection sends one message
// first, untimed, so that what a first send sets up (msw's stream, a
// JetStream client's inbox) is not counted against either system.
func parallelSends(producers, per int, open func() (send func() error, closer func(), err error)) (time.Duration, []time.Duration, error) {
	sends := make([]func() error, producers)
	for i := range sends {
		send, closer, err := open()
		if err != nil {
			return 0, nil, err
		}
		defer closer()
		if err := send(); err != nil {
			return 0, nil, err
		}
		sends[i] = send
	}
	lat := make([]time.Duration, producers*per)
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	t0 := time.Now()
	for i, send := range sends {
		wg.Go(func() {
			for k := range per {
				t := time.Now()
				if err := send(); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				lat[i*per+k] = time.Since(t)
			}
		})
	}
	wg.Wait()
	d := time.Since(t0)
	if p := firstErr.Load(); p != nil {
		return 0, nil, *p
	}
	slices.Sort(lat)
	return d, lat, nil
}

// batchLoad sends n messages in batches of 1000 with a lib.BatchSender,
// three in flight, as msw-send -l does, and returns the rate.
func batchLoad(sw *mswSwitch, transport string, n int) (float64, error) {
	ctx := context.Background()
	q := fmt.Sprintf("durable-batch-%d", queueSeq.Add(1))
	c := sw.client(transport)
	defer c.Close()
	if err := c.CreateQueue(ctx, q); err != nil {
		return 0, err
	}
	defer sw.b.DestroyQueue(nil, q, false)
	ms := theMessages()[:1000]
	bs := c.NewBatchSender(q, lib.BatchOptions{})
	t0 := time.Now()
	for sent := 0; sent < n; sent += len(ms) {
		if err := bs.Send(ctx, ms); err != nil {
			return 0, err
		}
	}
	if err := bs.Wait(ctx); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(t0).Seconds(), nil
}

func scenarioDurable() ([]Row, error) {
	const name = "9 durable, fsync always"
	// 64 × 300 sends: at 100 each, a round of the memory switch lasted
	// under 0.1 s and its ratio swung by a fifth between rounds.
	per1, per64, batchN, linesN := 2000, 300, 200_000, 1_000_000
	if cfg.quick {
		per1, per64, batchN, linesN = 300, 20, 20_000, 100_000
	}
	one := newRow(name, "1 producer send p50", unitLatency, "disk fsync")
	one.Target, one.check = "p50/fsync ≤ 1.5", ratioAtMost(1.5)
	many := newRow(name, "64 producers, sends/s", unitRate, "NATS file, sync always")
	many.Target, many.check = "msw/NATS ≥ 2", ratioAtLeast(2)
	vsMem := newRow(name, "64 producers, sends/s", unitRate, "in-memory switch")
	vsMem.Target, vsMem.check = "durable/memory ≥ 0.5", ratioAtLeast(0.5)
	lines := newRow(name, fmt.Sprintf("msw-send -l, %s lines", count(linesN)), unitRate, "in-memory switch")
	lines.Target, lines.check = "durable/memory ≥ 0.5", ratioAtLeast(0.5)
	lines.Note = "100-byte lines piped into msw-send -l, a process of its own, start to exit"
	batch := newRow(name, "batches of 1000, msg/s", unitRate, "in-memory switch")
	batch.Note = "library BatchSender in this process, 3 in flight as msw-send -l: the switch's side alone (no target; see NOTES.md)"
	bin, err := buildCommands()
	if err != nil {
		return nil, err
	}
	input := bytes.Repeat(append(payload100[:len(payload100):len(payload100)], '\n'), linesN)

	dsw, err := startDurable()
	if err != nil {
		return nil, err
	}
	defer dsw.close()
	msw, err := startMsw(broker.Options{})
	if err != nil {
		return nil, err
	}
	defer msw.close()
	var ns *natsServer
	if cfg.on("nats") {
		if ns, err = startSyncNATS(); err != nil {
			return nil, err
		}
		defer ns.close()
	}
	for round := range cfg.rounds {
		f, err := diskFsync(200)
		if err != nil {
			return nil, err
		}
		one.add("ref", f.Seconds())
		for _, sys := range order(round, "tcp", "unix", "nats") {
			if sys == "nats" {
				if ns == nil {
					continue
				}
				d, _, err := natsSyncLoad(ns, 64, per64)
				if err != nil {
					return nil, fmt.Errorf("nats: %w", err)
				}
				many.add("ref", float64(64*per64)/d.Seconds())
				continue
			}
			if !cfg.on(sys) {
				continue
			}
			_, lat, err := sendLoad(dsw.mswSwitch, sys, 1, per1)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", sys, err)
			}
			one.add(sys, percentile(lat, 0.5).Seconds())
			d, m, err := inTurns(round, dsw.mswSwitch, msw, func(sw *mswSwitch) (float64, error) {
				d, _, err := sendLoad(sw, sys, 64, per64)
				return float64(64*per64) / d.Seconds(), err
			})
			if err != nil {
				return nil, fmt.Errorf("%s, 64 producers: %w", sys, err)
			}
			many.add(sys, d)
			vsMem.add(sys, d)
			vsMem.add(refOf(sys), m)
			if d, m, err = inTurns(round+1, dsw.mswSwitch, msw, func(sw *mswSwitch) (float64, error) {
				return batchLoad(sw, sys, batchN)
			}); err != nil {
				return nil, fmt.Errorf("%s batches: %w", sys, err)
			}
			batch.add(sys, d)
			batch.add(refOf(sys), m)
			if d, m, err = inTurns(round, dsw.mswSwitch, msw, func(sw *mswSwitch) (float64, error) {
				return sendLines(bin, sw, sys, input, linesN)
			}); err != nil {
				return nil, fmt.Errorf("%s msw-send -l: %w", sys, err)
			}
			lines.add(sys, d)
			lines.add(refOf(sys), m)
		}
	}
	one.Note = fmt.Sprintf("log: %d fsyncs, last %s", dsw.st.Stats().Syncs, dsw.st.Stats().LastSync)
	return []Row{one, many, vsMem, lines, batch}, nil
}

// inTurns measures a load on the durable and on the in-memory switch, in
// turns, which first alternating with round, and returns the rate of each.
// Each timed run comes after an untimed one of the same load: a run
// otherwise found the heap as the run before it left it, reusing the
// pages of a larger run's garbage, or faulting in fresh ones where a
// smaller run came before or the collector had given them back (60,000
// page faults and a second of CPU for a million lines on this kind of
// machine), and which switch went second decided the ratio.
func inTurns(round int, durable, memory *mswSwitch, run func(*mswSwitch) (float64, error)) (d, m float64, err error) {
	for _, which := range order(round, "durable", "memory") {
		sw, rate := durable, &d
		if which == "memory" {
			sw, rate = memory, &m
		}
		if _, err := run(sw); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", which, err)
		}
		if *rate, err = run(sw); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", which, err)
		}
	}
	return d, m, nil
}

// refOf is the baseline series of a transport.
func refOf(transport string) string {
	if transport == "unix" {
		return "refunix"
	}
	return "ref"
}
