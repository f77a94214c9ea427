package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"

	"msw/lib"
)

func runtimeGC() { runtime.GC() }

// rssBytes reads VmRSS of a process.
func rssBytes(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// settledRSS samples a process's RSS for a while after a load and returns
// the lowest figure: what it keeps once the runtime has returned what it
// no longer needs.
func settledRSS(pid int, window time.Duration) (int64, error) {
	var low int64 = -1
	for end := time.Now().Add(window); ; {
		r, err := rssBytes(pid)
		if err != nil {
			return 0, err
		}
		if low < 0 || r < low {
			low = r
		}
		if time.Now().After(end) {
			return low, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// child is a server process of the memory scenario.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
}

// startChild runs cmd and waits for it to write its address to ready.
func startChild(cmd *exec.Cmd, ready string) (*child, error) {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	w, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: w}
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(ready); err == nil && len(b) > 0 && b[len(b)-1] == '\n' {
			c.addr = strings.TrimSpace(string(b))
			return c, nil
		}
	}
	c.stop()
	return nil, fmt.Errorf("%s did not start: %s", cmd.Path, stderr.String())
}

func (c *child) stop() {
	c.stdin.Close()
	c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// runNATSChild is the -nats-child mode: an embedded NATS server in a
// process of its own, so that its memory can be read apart from the
// benchmark's. It runs until its standard input closes. It is given
// msw-switch's idle trim (server/trim.go): once no message has moved for
// a second, it collects and returns free heap to the system, once per
// quiet spell, and writes its live heap to DIR/heap after each trim.
func runNATSChild(dir string) {
	ns, err := startNATS(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go idleTrim(func() int64 {
		v, err := ns.s.Varz(nil)
		if err != nil {
			return 0
		}
		return v.InMsgs + v.OutMsgs
	}, filepath.Join(dir, "heap"))
	if err := os.WriteFile(filepath.Join(dir, "ready"), []byte(ns.url+"\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	io.Copy(io.Discard, os.Stdin)
	ns.close()
}

// idleTrim trims as msw-switch does (every 500 ms, after a second with no
// change in activity()) and records the live heap after each trim in
// the file heapFile.
func idleTrim(activity func() int64, heapFile string) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	last, quietSince, trimmed := activity(), time.Now(), false
	for range time.Tick(500 * time.Millisecond) {
		if n := activity(); n != last {
			last, quietSince, trimmed = n, time.Now(), false
			continue
		}
		if trimmed || time.Since(quietSince) < time.Second {
			continue
		}
		trimmed = true
		debug.FreeOSMemory()
		metrics.Read(sample)
		// Written whole, then renamed: a reader never sees half of it.
		if os.WriteFile(heapFile+".tmp", []byte(fmt.Sprintf("%d\n", sample[0].Value.Uint64())), 0o644) == nil {
			os.Rename(heapFile+".tmp", heapFile)
		}
	}
}

// liveHeap reads a child's live heap: msw-switch's from its /metrics
// (the heap in use, which after a trim's collection is the live heap),
// NATS's from the file its idle trim writes.
func liveHeap(ch *child, sys, dir string) (int64, error) {
	if sys == "nats" {
		b, err := os.ReadFile(filepath.Join(dir, "heap"))
		if err != nil {
			return 0, err
		}
		return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	}
	resp, err := http.Get("http://" + ch.addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_alloc_bytes "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int64(f), err
		}
	}
	return 0, errors.New("no go_memstats_heap_alloc_bytes in the switch's /metrics")
}

// scenarioMemory loads ingestCount 100-byte messages into a switch running
// as a child process (msw-switch; for NATS, this program in -nats-child
// mode with a memory-stored stream) and reads the resident memory it
// holds them in, as soon as the load is acknowledged and once trimmed,
// and its live heap.
func scenarioMemory() ([]Row, error) {
	n := ingestCount()
	scen := fmt.Sprintf("5 memory, %s × 100 B queued", count(n))
	per := newRow(scen, "bytes/msg above payload, trimmed", unitBytes, "NATS")
	per.Target, per.check = "≤ 60 B and msw/NATS ≤ 0.5", func(v, ref float64) bool { return v <= 60 && v/ref <= 0.5 }
	loadedPer := newRow(scen, "bytes/msg above payload, under load", unitBytes, "NATS")
	livePer := newRow(scen, "live heap/msg above payload", unitBytes, "NATS")
	rss := newRow(scen, "switch RSS, trimmed", unitMiB, "NATS")
	bin, err := buildCommands()
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	for round := range cfg.heavy {
		for _, sys := range order(round, "tcp", "nats") {
			dir, err := os.MkdirTemp(cfg.work, "mem-")
			if err != nil {
				return nil, err
			}
			ready := filepath.Join(dir, "ready")
			var cmd *exec.Cmd
			if sys == "nats" {
				cmd = exec.Command(self, "-nats-child", dir)
			} else {
				cmd = exec.Command(filepath.Join(bin, "msw-switch"), "--listen", "127.0.0.1:0", "--ready-file", ready)
			}
			ch, err := startChild(cmd, ready)
			if err != nil {
				return nil, err
			}
			m, err := loadChild(ch, sys, dir)
			ch.stop()
			os.RemoveAll(dir)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", sys, err)
			}
			rec := sys
			if sys == "nats" {
				rec = "ref"
			}
			perMsg := func(b int64) float64 { return float64(b)/float64(n) - float64(len(payload100)) }
			rss.add(rec, float64(m.trimmed)/(1<<20))
			per.add(rec, perMsg(m.trimmed-m.base))
			loadedPer.add(rec, perMsg(m.loaded-m.base))
			livePer.add(rec, perMsg(m.liveLoaded-m.liveBase))
			settle()
		}
	}
	per.Note = "RSS settled after the idle trim (lowest over 4 s after the load and its trim; NATS given msw's trim; the loading client hung up once acknowledged) minus RSS before the load, per message, minus the payload; " +
		"under load: RSS as the last message is acknowledged; live heap: after the trim's collection minus before the load; NATS: memory-stored stream, fast batch publish"
	return []Row{per, loadedPer, livePer, rss}, nil
}

// childMemory is what loadChild read, in bytes.
type childMemory struct {
	base, loaded, trimmed int64 // RSS: before, as the load is acknowledged, settled
	liveBase, liveLoaded  int64 // live heap before and after
}

// loadChild reads the child's RSS and live heap, loads the messages into
// it and reads them again.
func loadChild(ch *child, sys, dir string) (m childMemory, err error) {
	pid := ch.cmd.Process.Pid
	time.Sleep(300 * time.Millisecond)
	if m.base, err = settledRSS(pid, 500*time.Millisecond); err != nil {
		return
	}
	if sys == "nats" {
		// Its first trim, once idle after starting.
		if err = waitWritten(filepath.Join(dir, "heap"), time.Time{}, time.Minute); err != nil {
			return
		}
	}
	if m.liveBase, err = liveHeap(ch, sys, dir); err != nil {
		return
	}
	if err = loadMessages(ch, sys); err != nil {
		return
	}
	loaded := time.Now()
	if m.loaded, err = rssBytes(pid); err != nil {
		return
	}
	// Both give memory back after a second without requests (checked
	// every half second), and the collection that does it takes a few
	// hundred milliseconds more for a heap this size: 2 s was too short
	// to see it settle on a busy machine. NATS's trim says when it ran:
	// wait for one after the load, not for a window that a loaded
	// machine may not finish it in (which read the heap before the load
	// as the heap after it).
	if sys == "nats" {
		if err = waitWritten(filepath.Join(dir, "heap"), loaded, time.Minute); err != nil {
			return
		}
	}
	if m.trimmed, err = settledRSS(pid, 4*time.Second); err != nil {
		return
	}
	m.liveLoaded, err = liveHeap(ch, sys, dir)
	return
}

// loadMessages sends the messages to the child and checks that it holds
// them all. The client hangs up as soon as they are acknowledged, before
// the child's memory is read trimmed: what is measured is what queued
// messages cost, not the connection's buffers (msw's stream keeps a
// read buffer the size of its largest frame, 4.5 MiB after a 4 MiB
// batch, 4.7 B a message at 1M, for as long as it is connected).
func loadMessages(ch *child, sys string) error {
	ms := theMessages()
	if sys == "nats" {
		ns := &natsServer{url: ch.addr}
		if err := natsSetupStream(ns); err != nil {
			return err
		}
		nc, js, err := ns.jetStream()
		if err != nil {
			return err
		}
		defer nc.Close()
		payloads := make([][]byte, len(ms))
		for i := range ms {
			payloads[i] = ms[i].Payload
		}
		if err := natsFastBatch(nc, "bench.q", payloads); err != nil {
			return err
		}
		if got, err := natsStreamMsgs(js); err != nil || got != uint64(len(ms)) {
			return fmt.Errorf("stream holds %d, want %d (%v)", got, len(ms), err)
		}
		return nil
	}
	ctx := context.Background()
	c, err := lib.New(lib.Options{Addr: ch.addr, ClientID: "bench-memory", Wait: 5 * time.Second})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.CreateQueue(ctx, "mem"); err != nil {
		return err
	}
	if _, err := c.SendBatch(ctx, "mem", ms); err != nil {
		return err
	}
	qi, err := c.Info(ctx, "mem")
	if err != nil || qi.Depth != len(ms) {
		return fmt.Errorf("queue holds %d, want %d (%v)", qi.Depth, len(ms), err)
	}
	return nil
}

// waitWritten waits until the file exists and was written after t,
// polling, for up to limit.
func waitWritten(name string, t time.Time, limit time.Duration) error {
	for end := time.Now().Add(limit); ; time.Sleep(100 * time.Millisecond) {
		if fi, err := os.Stat(name); err == nil && fi.ModTime().After(t) {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("%s was not written within %s", name, limit)
		}
	}
}
