package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// scenarioExec is msw-serve -j 2 QUEUE -- /bin/cat answering library calls
// against a bare loop that runs /bin/cat the same number of times, two at
// a time.
func scenarioExec() ([]Row, error) {
	const workers, callers = 2, 4
	calls := 2000
	if cfg.quick {
		calls = 200
	}
	row := newRow("6 exec serving", fmt.Sprintf("msw-serve -j %d /bin/cat, %d calls", workers, calls), unitCalls, "bare fork loop")
	row.Target, row.check = "msw/bare ≥ 0.83 (overhead < 20%)", ratioAtLeast(1/1.2)
	row.Note = fmt.Sprintf("%d library callers; the bare loop runs /bin/cat with the payload on stdin, %d at a time", callers, workers)
	bin, sw, err := commandSwitch()
	if err != nil {
		return nil, err
	}
	defer sw.close()
	for round := range cfg.rounds {
		for _, sys := range order(round, "tcp", "unix", "bare") {
			var d time.Duration
			rec := sys
			self0, kids0 := rusage()
			if sys == "bare" {
				rec = "ref"
				d, err = bareForks(workers, calls)
			} else {
				d, err = mswExec(sw, sys, bin, workers, callers, calls)
			}
			self1, kids1 := rusage()
			execSelf[rec] = append(execSelf[rec], float64(self1-self0)/float64(calls))
			execKids[rec] = append(execKids[rec], float64(kids1-kids0)/float64(calls))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", sys, err)
			}
			row.add(rec, float64(calls)/d.Seconds())
		}
	}
	if len(execSelf["ref"]) > 0 && len(execSelf["tcp"]) > 0 && len(execServe) > 0 {
		us := func(xs []float64) float64 { return median(xs) / 1e3 }
		row.Note += fmt.Sprintf("; CPU per call (µs): bare loop: this process %.0f + cat %.0f; "+
			"msw over TCP: this process (switch, callers) %.0f + msw-serve %.0f + cat %.0f",
			us(execSelf["ref"]), us(execKids["ref"]), us(execSelf["tcp"]), us(execServe), us(execServeKids))
	}
	return []Row{row}, nil
}

func bareForks(workers, calls int) (time.Duration, error) {
	return parallel(workers, calls, func() error {
		cmd := exec.Command("/bin/cat")
		cmd.Stdin = bytes.NewReader(payload100)
		out, err := cmd.Output()
		if err == nil && !bytes.Equal(out, payload100) {
			err = fmt.Errorf("cat answered %d bytes", len(out))
		}
		return err
	})
}

// parallel makes calls calls of f from workers goroutines and returns
// how long they took, or the first error (the others then stop).
func parallel(workers, calls int, f func() error) (time.Duration, error) {
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	t0 := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(calls) && firstErr.Load() == nil {
				if err := f(); err != nil {
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
	return time.Since(t0), nil
}

func mswExec(sw *mswSwitch, transport, bin string, workers, callers, calls int) (time.Duration, error) {
	q := fmt.Sprintf("exec-%d", queueSeq.Add(1))
	defer sw.b.DestroyQueue(nil, q, false)
	cmd := exec.Command(filepath.Join(bin, "msw-serve"), "-j", fmt.Sprint(workers), q, "--", "/bin/cat")
	cmd.Env = append(os.Environ(), "MSW_SWITCH="+sw.addr(transport))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}()
	c := sw.client(transport)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	call := func() error {
		reply, err := mswCall(ctx, c, q, payload100)
		if err == nil && !bytes.Equal(reply, payload100) {
			err = fmt.Errorf("reply of %d bytes, want the payload back", len(reply))
		}
		return err
	}
	// The first call waits for msw-serve to come up.
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	_, err := mswCall(wctx, c, q, payload100)
	wcancel()
	if err != nil {
		select {
		case <-exited:
			return 0, fmt.Errorf("msw-serve exited: %s", bytes.TrimSpace(stderr.Bytes()))
		default:
		}
		return 0, fmt.Errorf("first call: %w", err)
	}
	self0, kids0 := procCPU(cmd.Process.Pid)
	d, err := parallel(callers, calls, func() error {
		err := call()
		if err != nil {
			cancel() // the calls in flight give up too
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	if transport == "tcp" {
		self1, kids1 := procCPU(cmd.Process.Pid)
		execServe = append(execServe, float64(self1-self0)/float64(calls))
		execServeKids = append(execServeKids, float64(kids1-kids0)/float64(calls))
	}
	return d, nil
}

// CPU time per call (ns), by system: of this process, of its children
// (the bare loop's cat), of msw-serve and of msw-serve's children.
var (
	execSelf, execKids       = map[string][]float64{}, map[string][]float64{}
	execServe, execServeKids []float64
)

// rusage returns the CPU time (user+system) of this process and of its
// children that have been waited for.
func rusage() (self, kids time.Duration) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	kids = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return
}

// procCPU returns the user+system CPU time a process has used so far,
// and that of its children it has waited for.
func procCPU(pid int) (self, kids time.Duration) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	// Fields after the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0, 0
	}
	n := func(k int) int64 { v, _ := strconv.ParseInt(f[k], 10, 64); return v }
	tick := time.Second / 100 // USER_HZ
	return time.Duration(n(11)+n(12)) * tick, time.Duration(n(13)+n(14)) * tick
}
