package lib

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"msw/broker"
	mswserver "msw/server"
)

// Send lines are retired when idle, so a client that sends to many
// queues (a server replying to many callers) keeps none of them.
func TestSendLinesAreRetired(t *testing.T) {
	b := broker.New(broker.Options{})
	srv := mswserver.New(b, mswserver.Options{})
	l, err := mswserver.Listen("127.0.0.1:0", 0o600)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())
	c, err := New(Options{Addr: l.Addr().String(), ClientID: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	for q := range 20 {
		name := fmt.Sprintf("q%d", q)
		if err := c.CreateQueue(ctx, name); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.Send(ctx, name, Message{Payload: []byte("x")}); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	// A batch's sender answers before it looks for more: allow it to.
	var n int
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		c.sendLines.mu.Lock()
		n = len(c.sendLines.lines)
		c.sendLines.mu.Unlock()
		if n == 0 {
			return
		}
	}
	t.Errorf("%d send lines left after every send returned", n)
}
