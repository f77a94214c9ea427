package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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
// benchmark's. It runs until its standard input closes.
func runNATSChild(dir string) {
	ns, err := startNATS(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(filepath.Join(dir, "ready"), []byte(ns.url+"\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	io.Copy(io.Discard, os.Stdin)
	ns.close()
}

// scenarioMemory loads ingestCount 100-byte messages into a switch running
// as a child process (msw-switch; for NATS, this program in -nats-child
// mode with a memory-stored stream) and reads the resident memory it
// holds them in.
func scenarioMemory() ([]Row, error) {
	n := ingestCount()
	scen := fmt.Sprintf("5 memory, %s × 100 B queued", count(n))
	per := newRow(scen, "bytes/msg above payload", unitBytes, "NATS")
	per.Target, per.check = "< 100 B", valueBelow(100)
	rss := newRow(scen, "switch RSS", unitMiB, "NATS")
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
			base, loaded, err := loadChild(ch, sys)
			ch.stop()
			os.RemoveAll(dir)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", sys, err)
			}
			rec := sys
			if sys == "nats" {
				rec = "ref"
			}
			rss.add(rec, float64(loaded)/(1<<20))
			per.add(rec, float64(loaded-base)/float64(n)-float64(len(payload100)))
			settle()
		}
	}
	per.Note = "settled RSS (lowest over 4 s after the load) minus RSS before it, per message, minus the payload; NATS: memory-stored stream"
	return []Row{per, rss}, nil
}

// loadChild reads the child's RSS, loads the messages into it and reads
// its RSS again.
func loadChild(ch *child, sys string) (base, loaded int64, err error) {
	pid := ch.cmd.Process.Pid
	time.Sleep(300 * time.Millisecond)
	if base, err = settledRSS(pid, 500*time.Millisecond); err != nil {
		return
	}
	ms := theMessages()
	ctx := context.Background()
	if sys == "nats" {
		ns := &natsServer{url: ch.addr}
		if err = natsSetupStream(ns); err != nil {
			return
		}
		nc, js, err2 := ns.jetStream(jetstream.WithPublishAsyncMaxPending(natsPublishPending))
		if err2 != nil {
			return 0, 0, err2
		}
		defer nc.Close()
		for i := range ms {
			if _, err = js.PublishAsync("bench.q", ms[i].Payload, natsStall); err != nil {
				return
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(5 * time.Minute):
			return 0, 0, fmt.Errorf("publish acks did not all arrive")
		}
		if got, err2 := natsStreamMsgs(js); err2 != nil || got != uint64(len(ms)) {
			return 0, 0, fmt.Errorf("stream holds %d, want %d (%v)", got, len(ms), err2)
		}
	} else {
		c, err2 := lib.New(lib.Options{Addr: ch.addr, ClientID: "bench-memory", Wait: 5 * time.Second})
		if err2 != nil {
			return 0, 0, err2
		}
		defer c.Close()
		if err = c.CreateQueue(ctx, "mem"); err != nil {
			return
		}
		if _, err = c.SendBatch(ctx, "mem", ms); err != nil {
			return
		}
		qi, err2 := c.Info(ctx, "mem")
		if err2 != nil || qi.Depth != len(ms) {
			return 0, 0, fmt.Errorf("queue holds %d, want %d (%v)", qi.Depth, len(ms), err2)
		}
	}
	// The switch gives memory back after a second without requests
	// (checked every half second), and the collection that does it takes
	// a few hundred milliseconds more for a heap this size: 2 s was too
	// short to see it settle on a busy machine.
	loaded, err = settledRSS(pid, 4*time.Second)
	return
}
