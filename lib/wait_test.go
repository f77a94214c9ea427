package lib_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"msw/lib"
)

// TestWaitIsWaitedInFull checks that a client waits as long as
// Options.Wait says for a switch it cannot reach, not until the last
// backoff that would have ended before it, and that Options.Waiting
// is told once, with the address and why.
func TestWaitIsWaitedInFull(t *testing.T) {
	const wait = 1500 * time.Millisecond
	var mu sync.Mutex
	var told []string
	c, err := lib.New(lib.Options{Addr: "127.0.0.1:1", Wait: wait, Waiting: func(addr, why string) {
		mu.Lock()
		defer mu.Unlock()
		told = append(told, addr+" "+why)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	err = c.Ping(context.Background())
	waited := time.Since(start)
	if !errors.Is(err, lib.ErrUnreachable) {
		t.Fatalf("Ping: %v; want unreachable", err)
	}
	// A lower bound only: it holds however slow the machine is.
	if waited < wait {
		t.Errorf("gave up after %s; Wait is %s", waited, wait)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(told) != 1 || told[0] != "127.0.0.1:1 connection refused" {
		t.Errorf("Waiting told %q; want once, \"127.0.0.1:1 connection refused\"", told)
	}
}

// TestShortWaitSaysNothing checks that a wait under a second ends
// without Options.Waiting being told.
func TestShortWaitSaysNothing(t *testing.T) {
	c, err := lib.New(lib.Options{Addr: "127.0.0.1:1", Wait: 200 * time.Millisecond, Waiting: func(addr, why string) {
		t.Errorf("Waiting told %s %s for a wait of 200ms", addr, why)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ping(context.Background()); !errors.Is(err, lib.ErrUnreachable) {
		t.Fatalf("Ping: %v; want unreachable", err)
	}
}
