package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"time"

	"msw/broker"
	"msw/broker/logstore"
	"msw/lib"
)

// Scenario 10: a durable switch's replay and a backlog larger than its
// memory, each in a msw-switch --data child process, so that its start
// time and resident memory are its own.

func scenarioBacklog() ([]Row, error) {
	records, backlog := 1_000_000, int64(4<<30)
	if cfg.quick {
		records, backlog = 100_000, 256<<20
	}
	const msgSize = 4 << 10
	replay := newRow("10 durable backlog", fmt.Sprintf("start on a log of %s records", count(records)), unitLatency, "")
	replay.Target, replay.check = "< 2 s", valueBelow(2)
	n := int(backlog / msgSize)
	scen := fmt.Sprintf("10 durable backlog, %d MiB of 4 KiB", backlog>>20)
	queued := newRow(scen, "switch RSS, queued", unitMiB, "")
	queued.Target, queued.check = "< 512 MiB", valueBelow(512)
	peak := newRow(scen, "switch RSS, highest while queueing and draining", unitMiB, "")
	peak.Target, peak.check = "< 512 MiB", valueBelow(512)
	ingest := newRow(scen, "queued, msg/s (batches of 256)", unitRate, "")
	drain := newRow(scen, "drained, msg/s", unitRate, "")
	bin, err := buildCommands()
	if err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp(cfg.work, "replay-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := writeRecords(dir, records); err != nil {
		return nil, err
	}
	for range cfg.heavy {
		ready := filepath.Join(cfg.work, fmt.Sprintf("ready-%d", queueSeq.Add(1)))
		t0 := time.Now()
		ch, err := startChild(exec.Command(filepath.Join(bin, "msw-switch"), "--listen", "127.0.0.1:0", "--data", dir, "--ready-file", ready), ready)
		if err != nil {
			return nil, err
		}
		replay.add("tcp", time.Since(t0).Seconds())
		ch.stop()
	}

	data, err := os.MkdirTemp(cfg.work, "backlog-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(data)
	ready := filepath.Join(cfg.work, "ready-backlog")
	ch, err := startChild(exec.Command(filepath.Join(bin, "msw-switch"), "--listen", "127.0.0.1:0", "--data", data, "--ready-file", ready), ready)
	if err != nil {
		return nil, err
	}
	defer ch.stop()
	pid := ch.cmd.Process.Pid
	var high atomic.Int64
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			if r, err := rssBytes(pid); err == nil && r > high.Load() {
				high.Store(r)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	c, err := lib.New(lib.Options{Addr: ch.addr, ClientID: "bench-backlog"})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.CreateQueue(ctx, "backlog"); err != nil {
		return nil, err
	}
	batch := make([]lib.Message, 256)
	for i := range batch {
		batch[i].Payload = make([]byte, msgSize)
	}
	t0 := time.Now()
	for sent := 0; sent < n; sent += len(batch) {
		if _, err := c.SendBatch(ctx, "backlog", batch); err != nil {
			return nil, fmt.Errorf("queueing: %w", err)
		}
	}
	ingest.add("tcp", float64(n)/time.Since(t0).Seconds())
	r, err := settledRSS(pid, 2*time.Second)
	if err != nil {
		return nil, err
	}
	queued.add("tcp", float64(r)/(1<<20))
	if err := c.Subscribe(ctx, "backlog"); err != nil {
		return nil, err
	}
	t0 = time.Now()
	var acks lib.Acks
	for got := 0; got < n; {
		ds, err := c.Transfer(ctx, lib.TransferOptions{Max: 1000, Timeout: 5 * time.Second, Acks: acks})
		if err != nil {
			return nil, fmt.Errorf("draining: %w", err)
		}
		if len(ds) == 0 {
			return nil, fmt.Errorf("draining: nothing after %d of %d", got, n)
		}
		ids := make([]uint64, len(ds))
		for i, d := range ds {
			ids[i] = d.ID
		}
		acks = lib.Acks{"backlog": ids}
		got += len(ds)
	}
	if err := c.Ack(ctx, acks); err != nil {
		return nil, err
	}
	drain.add("tcp", float64(n)/time.Since(t0).Seconds())
	peak.add("tcp", float64(high.Load())/(1<<20))
	peak.Note = "msw-switch --data, fsync always, default --cache (64 MiB); RSS sampled every 50 ms"
	return []Row{replay, queued, peak, ingest, drain}, nil
}

// writeRecords writes a log of n one-message records of 100 bytes to
// dir, through the log store itself (without syncing each).
func writeRecords(dir string, n int) error {
	st, err := logstore.Open(dir, logstore.Options{Fsync: logstore.FsyncNever})
	if err != nil {
		return err
	}
	if _, err := st.CreateQueue("replay", 0); err != nil {
		return err
	}
	var c broker.Commit
	for i := 1; i <= n; i++ {
		if c, err = st.Append("replay", []broker.StoredMessage{{ID: uint64(i), Payload: payload100, Origin: "bench"}}); err != nil {
			return err
		}
	}
	if err := st.Wait(c); err != nil {
		return err
	}
	return st.Close()
}
