package server

import (
	"context"
	"net/http"
	"testing"

	"msw/broker"
	"msw/internal/testutil"
	"msw/internal/wire"
)

// trimUsers is how many servers hold the process's trim loop, and whether it
// runs.
func trimUsers() (int, bool) {
	processTrim.mu.Lock()
	defer processTrim.mu.Unlock()
	return processTrim.users, processTrim.stop != nil
}

// TestOneTrimLoopPerProcess: servers share one trim loop, which runs while
// any of them serves (a server that goes quiet must not collect and
// release the heap of one still busy in the same process), each
// letting go once however often it is halted, and a server halted before
// it served never holds it.
func TestOneTrimLoopPerProcess(t *testing.T) {
	u0, _ := trimUsers()
	var a, b, never trimmer
	a.run()
	b.run()
	a.run()
	if u, running := trimUsers(); u != u0+2 || !running {
		t.Fatalf("two servers serving: %d holding the loop (want %d), running %v", u, u0+2, running)
	}
	a.halt()
	a.halt()
	if u, running := trimUsers(); u != u0+1 || !running {
		t.Fatalf("one server left: %d holding the loop (want %d), running %v", u, u0+1, running)
	}
	never.halt()
	never.run()
	if u, _ := trimUsers(); u != u0+1 {
		t.Fatalf("a server halted before it served: %d holding the loop, want %d", u, u0+1)
	}
	b.halt()
	if u, running := trimUsers(); u != u0 || running != (u0 > 0) {
		t.Fatalf("all halted: %d holding the loop (want %d), running %v", u, u0, running)
	}
}

// TestKeepMemoryNeverTrims: a server told to keep its memory serves
// without holding the process's trim loop.
func TestKeepMemoryNeverTrims(t *testing.T) {
	u0, _ := trimUsers()
	s := New(broker.New(broker.Options{TraceSize: -1}), Options{KeepMemory: true})
	l, err := Listen("127.0.0.1:0", 0)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	testutil.Eventually(t, "the server answers", func() bool {
		resp, err := http.Get("http://" + l.Addr().String() + wire.PathHealth)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	if u, _ := trimUsers(); u != u0 {
		t.Errorf("%d servers hold the trim loop, want %d", u, u0)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}
