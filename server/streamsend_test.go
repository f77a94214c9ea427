package server

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"msw/broker"
	"msw/broker/logstore"
	"msw/internal/testutil"
	"msw/internal/wire"
)

// Sends to a durable queue are answered once synced while the reader
// reads on; their answers, a quiet send's failure and the answers of the
// requests after them still come in request order, and a send that
// follows a failed one is aborted, not carried out.
func TestStreamDurableSendsInOrder(t *testing.T) {
	skipOnEngine(t, "the log store is the switch's own")
	st, err := logstore.Open(t.TempDir(), logstore.Options{Fsync: logstore.FsyncAlways})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // after the broker's close
	b, _, _, s := streamSetup(t, broker.Options{Store: st, MaxPayload: 100})

	s.send(wire.StreamSend, 1, "q", 0, sendBody("a"))
	s.send(wire.StreamSend, 2, "q", 1, sendBody("b", "c"))
	quiet := wire.AppendStreamRequest(nil, &wire.StreamRequest{Op: wire.StreamSend, Quiet: true, ID: 3, Queue: "missing", Arg: 2}, len(sendBody("x")))
	if _, err := s.conn.Write(append(quiet, sendBody("x")...)); err != nil {
		t.Fatal(err)
	}
	s.send(wire.StreamSend, 4, "q", 3, sendBody("d"))
	s.send(wire.StreamSend, 5, "q", 0, sendBody(strings.Repeat("y", 101)))
	s.send(wire.StreamSend, 6, "q", 5, sendBody("e"))
	s.send(wire.StreamSend, 7, "q", 0, sendBody("f"))
	s.send(wire.StreamPing, 8, "", 0, nil)
	for _, want := range []struct {
		id     uint64
		status int
	}{
		{1, http.StatusOK}, {2, http.StatusOK},
		{3, http.StatusNotFound},              // the quiet send's failure
		{4, http.StatusConflict},              // follows 3: aborted
		{5, http.StatusRequestEntityTooLarge}, // over the payload limit
		{6, http.StatusConflict},              // follows 5: aborted
		{7, http.StatusOK},
		{8, http.StatusNoContent},
	} {
		a := s.next()
		if a.id != want.id || a.status != want.status {
			t.Fatalf("answer %d %d %s, want %d %d", a.id, a.status, a.body, want.id, want.status)
		}
		if a.status == http.StatusConflict && !strings.Contains(string(a.body), wire.CodeAborted) {
			t.Errorf("answer %d: %s, want code %s", a.id, a.body, wire.CodeAborted)
		}
	}
	ds, err := b.Peek("q", 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, string(d.Payload))
	}
	if strings.Join(got, ",") != "a,b,c,f" {
		t.Errorf("q holds %q, want a,b,c,f", got)
	}
}

// heldForwards is an engine whose forwards are sent at once but answered
// only once release is closed; it counts the forwards started.
type heldForwards struct {
	broker.Engine
	started atomic.Int32
	release chan struct{}
}

func (h *heldForwards) Forward(queue string, ms []wire.Message, origin string) func() (uint64, error) {
	h.started.Add(1)
	wait := h.Engine.Forward(queue, ms, origin)
	return func() (uint64, error) {
		<-h.release
		return wait()
	}
}

// Over the engine, a reply to another gateway's caller is forwarded while
// the stream's reader goes on: a second reply is forwarded before the
// first one's answer has come, and the answers still come in request
// order, each acking its request.
func TestStreamRepliesForwardedWhileReaderReadsOn(t *testing.T) {
	opts := engineOptions(t, broker.Options{}) // registers the test for the run over the engine
	if engineURL == nil {
		t.Skip("over the nats engine only: the memory switch forwards nothing")
	}
	held := &heldForwards{Engine: opts.Engine, release: make(chan struct{})}
	opts.Engine = held
	b, _, _, st := streamSetup(t, opts)
	st.send(wire.StreamSend, 1, "q", 0, sendBody("1", "2"))
	if a := st.next(); a.status != 200 {
		t.Fatalf("send: %+v", a)
	}
	st.send(wire.StreamConsume, 2, "", 2, []byte{0})
	// Over a cluster the two may come in one push or in two.
	var ids []uint64
	for len(ids) < 2 {
		a := st.next()
		if a.id != 2 || a.status != http.StatusOK {
			t.Fatalf("push: %d %d %s", a.id, a.status, a.body)
		}
		for _, d := range deliveries(t, a.body) {
			ids = append(ids, d.ID)
		}
	}
	// No gateway has these reply queues: each forward is answered
	// no_such_queue, as a caller gone with its gateway would be.
	for i, queue := range []string{"gone-1", "gone-2"} {
		reply := wire.AppendString(nil, "q")
		reply = wire.AppendSendFrame(reply, &wire.Message{Payload: []byte("r")})
		st.send(wire.StreamReply, uint64(3+i), queue, ids[i], reply)
	}
	testutil.Eventually(t, "both replies forwarded before either is answered", func() bool { return held.started.Load() == 2 })
	st.send(wire.StreamPing, 5, "", 0, nil)
	close(held.release)
	for _, want := range []struct {
		id     uint64
		status int
	}{{3, http.StatusNotFound}, {4, http.StatusNotFound}, {5, http.StatusNoContent}} {
		if a := st.next(); a.id != want.id || a.status != want.status {
			t.Fatalf("answer %d %d %s, want %d %d", a.id, a.status, a.body, want.id, want.status)
		}
	}
	waitQueueCounts(t, b, "q", 0, 0) // each reply acked its request
}
