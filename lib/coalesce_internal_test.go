package lib

import (
	"context"
	"fmt"
	"log"
	"sync"
	"testing"

	"msw/broker"
	"msw/internal/testutil"
	mswserver "msw/server"
)

// Send lines are retired when idle, so a client that sends to many
// queues (a server replying to many callers) keeps none of them.
func TestSendLinesAreRetired(t *testing.T) {
	b := broker.New(broker.Options{})
	srv := mswserver.New(b, mswserver.Options{Log: log.New(testutil.LogWriter(t, "switch: "), "", 0)})
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
	testutil.Eventually(t, "every send line retired after every send returned", func() bool {
		c.sendLines.mu.Lock()
		defer c.sendLines.mu.Unlock()
		return len(c.sendLines.lines) == 0
	})
}
