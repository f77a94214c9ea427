package lib_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"msw/broker"
	"msw/internal/wire"
	"msw/lib"
	"msw/server"
)

// TestAckSendsRuns: the ids a reader took one after the other go to the
// switch as runs, [first,last], and are all acked; others stay.
func TestAckSendsRuns(t *testing.T) {
	b := broker.New(broker.Options{})
	h := server.New(b, switchLog(t)).Handler()
	var mu sync.Mutex
	var bodies []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == wire.PathStream {
			http.NotFound(w, r) // over HTTP, where the bodies can be seen
			return
		}
		if r.URL.Path == wire.PathAck {
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			bodies = append(bodies, string(body))
			mu.Unlock()
			r.Body = io.NopCloser(strings.NewReader(string(body)))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		b.Close()
		ts.CloseClientConnections()
		ts.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := plainClient(t, strings.TrimPrefix(ts.URL, "http://"))
	if err := c.CreateQueue(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	ms := make([]lib.Message, 8)
	for i := range ms {
		ms[i] = lib.Message{Payload: []byte{'a' + byte(i)}}
	}
	if _, err := c.SendBatch(ctx, "q", ms); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	ds, err := c.Transfer(ctx, lib.TransferOptions{Timeout: time.Second})
	if err != nil || len(ds) != len(ms) {
		t.Fatalf("took %d of %d: %v", len(ds), len(ms), err)
	}
	// All but the fifth and the seventh: a run, and two single ids.
	var ids []uint64
	for _, d := range ds {
		if d.ID != 5 && d.ID != 7 {
			ids = append(ids, d.ID)
		}
	}
	if err := c.Ack(ctx, lib.Acks{"q": ids}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := strings.Join(bodies, "\n")
	mu.Unlock()
	if want := `{"acks":{"q":[[1,4],6,8]}}`; got != want {
		t.Errorf("ack body %s; want %s", got, want)
	}
	info, err := b.Info("q")
	if err != nil || info.InFlight != 2 || info.Depth != 0 {
		t.Errorf("after the ack: %d in flight, %d ready (%v); want the fifth and seventh in flight", info.InFlight, info.Depth, err)
	}
}
