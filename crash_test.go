package msw_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"msw/internal/testutil"
	"msw/lib"
)

// TestKill9LosesNoAnsweredSend runs msw-switch --data as a child process
// under concurrent senders and a consumer that acks half of what it
// takes, and SIGKILLs it at a random moment, 20 times. After each restart
// every answered send is there exactly once, with the id it was answered
// with, unless it was acked; an acked message comes back only as a
// redelivery (its ack was not yet on disk). One of the senders keeps
// several batches in flight (lib.BatchSender, as msw-send -l): each batch
// it was told was accepted is there whole, in order.
func TestKill9LosesNoAnsweredSend(t *testing.T) {
	if _, err := exec.LookPath("msw-switch"); err != nil {
		t.Fatalf("msw-switch is not on PATH (TestMain puts it there): %v", err)
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 3))
	h := &crashHistory{answered: map[string]crashSend{}, acked: map[string]bool{}}
	queues := []string{"q0", "q1", "q2"}
	for round := range 20 {
		addr, cmd := startDataSwitch(t, dir, round)
		c, err := lib.New(lib.Options{Addr: addr, ClientID: fmt.Sprintf("check%d", round)})
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range queues {
			if err := c.CreateQueue(context.Background(), q); err != nil {
				t.Fatalf("round %d: create %s: %v", round, q, err)
			}
			h.check(t, round, c, q)
		}
		c.Close()

		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() { h.sendUntilError(addr, queues[g%2], fmt.Sprintf("r%d-g%d-", round, g)) })
		}
		wg.Go(func() { h.batchUntilError(addr, "q2", fmt.Sprintf("r%d-b-", round), uint64(round)) })
		wg.Go(func() { h.consumeUntilError(addr, queues) })
		target := h.count() + 5 + rng.IntN(40)
		testutil.Eventually(t, fmt.Sprintf("round %d: %d answered sends", round, target), func() bool { return h.count() >= target })
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		wg.Wait()
	}
	addr, cmd := startDataSwitch(t, dir, 20)
	c, err := lib.New(lib.Options{Addr: addr, ClientID: "check"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, q := range queues {
		h.check(t, 20, c, q)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
}

// startDataSwitch starts msw-switch --data dir and returns its address.
func startDataSwitch(t *testing.T, dir string, round int) (string, *exec.Cmd) {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "addr")
	cmd := exec.Command("msw-switch", "--listen", "127.0.0.1:0", "--data", dir, "--ready-file", ready)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	cmd.Stderr = testutil.LogWriter(t, fmt.Sprintf("switch %d: ", round))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	var addr string
	testutil.Eventually(t, fmt.Sprintf("round %d: the switch is ready", round), func() bool {
		b, err := os.ReadFile(ready)
		addr = strings.TrimSpace(string(b))
		return err == nil && strings.HasSuffix(string(b), "\n")
	})
	return addr, cmd
}

// crashHistory is what the clients were told, over all rounds.
type crashHistory struct {
	mu       sync.Mutex
	answered map[string]crashSend // by payload
	acked    map[string]bool      // by payload, marked before the ack is sent
}

// crashSend is one answered send.
type crashSend struct {
	queue string
	id    uint64
}

func (h *crashHistory) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.answered)
}

func (h *crashHistory) sendUntilError(addr, queue, prefix string) {
	c, err := lib.New(lib.Options{Addr: addr, ClientID: prefix})
	if err != nil {
		return
	}
	defer c.Close()
	for i := 0; ; i++ {
		p := fmt.Sprintf("%s%d", prefix, i)
		id, err := c.Send(context.Background(), queue, lib.Message{Payload: []byte(p)})
		if err != nil {
			return
		}
		h.mu.Lock()
		h.answered[p] = crashSend{queue, id}
		h.mu.Unlock()
	}
}

// batchUntilError sends batches of 1 to 40 messages with a window of
// three in flight, recording each batch the switch accepted.
func (h *crashHistory) batchUntilError(addr, queue, prefix string, seed uint64) {
	c, err := lib.New(lib.Options{Addr: addr, ClientID: prefix})
	if err != nil {
		return
	}
	defer c.Close()
	rng := rand.New(rand.NewPCG(seed, 7))
	var flight [][]string // payloads of the batches not yet accepted, in order
	bs := c.NewBatchSender(queue, lib.BatchOptions{OnSent: func(first uint64, n int) {
		b := flight[0]
		flight = flight[1:]
		if len(b) != n {
			panic(fmt.Sprintf("accepted a request of %d messages, the batch has %d", n, len(b)))
		}
		h.mu.Lock()
		for i, p := range b {
			h.answered[p] = crashSend{queue, first + uint64(i)}
		}
		h.mu.Unlock()
	}})
	for i := 0; ; {
		ms := make([]lib.Message, 1+rng.IntN(40))
		b := make([]string, len(ms))
		for k := range ms {
			b[k] = fmt.Sprintf("%s%d", prefix, i)
			ms[k].Payload = []byte(b[k])
			i++
		}
		flight = append(flight, b)
		if bs.Send(context.Background(), ms) != nil {
			return
		}
	}
}

func (h *crashHistory) consumeUntilError(addr string, queues []string) {
	c, err := lib.New(lib.Options{Addr: addr, ClientID: "consumer"})
	if err != nil {
		return
	}
	defer c.Close()
	ctx := context.Background()
	if c.Subscribe(ctx, queues...) != nil {
		return
	}
	for {
		ds, err := c.Transfer(ctx, lib.TransferOptions{Max: 3, Timeout: 0})
		if err != nil {
			return
		}
		acks := lib.Acks{}
		h.mu.Lock()
		for i, d := range ds {
			if i%2 == 0 {
				h.acked[string(d.Payload)] = true
				acks[d.Queue] = append(acks[d.Queue], d.ID)
			}
		}
		h.mu.Unlock()
		if len(acks) > 0 && c.Ack(ctx, acks) != nil {
			return
		}
	}
}

// check compares a queue after a restart with the history.
func (h *crashHistory) check(t *testing.T, round int, c *lib.Client, queue string) {
	t.Helper()
	ds, err := c.Peek(context.Background(), queue, 1<<20)
	if err != nil {
		t.Fatalf("round %d: peek %s: %v", round, queue, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[string]bool{}
	for _, d := range ds {
		p := string(d.Payload)
		if seen[p] {
			t.Fatalf("round %d: %s holds %q twice", round, queue, p)
		}
		seen[p] = true
		if s, ok := h.answered[p]; ok && (s.queue != queue || s.id != d.ID) {
			t.Fatalf("round %d: %q is %s/%d, was answered as %s/%d", round, p, queue, d.ID, s.queue, s.id)
		}
		if h.acked[p] && d.DeliveryCount == 0 {
			t.Fatalf("round %d: acked %q is back as a first delivery", round, p)
		}
	}
	for p, s := range h.answered {
		if s.queue == queue && !h.acked[p] && !seen[p] {
			t.Fatalf("round %d: answered send %q (%s/%d) lost", round, p, queue, s.id)
		}
	}
	// In id order, each sender's messages are in the order it sent them.
	byID := slices.Clone(ds)
	slices.SortFunc(byID, func(a, b lib.Delivery) int { return cmp.Compare(a.ID, b.ID) })
	last := map[string]int{}
	for _, d := range byID {
		p := string(d.Payload)
		i := strings.LastIndexByte(p, '-')
		seq, _ := strconv.Atoi(p[i+1:])
		if prev, ok := last[p[:i]]; ok && seq <= prev {
			t.Fatalf("round %d: %s: %q has id %d, after message %d of its sender", round, queue, p, d.ID, prev)
		}
		last[p[:i]] = seq
	}
}
