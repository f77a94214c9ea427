package server

import (
	"net/http"
	"strings"
	"testing"

	"msw/broker"
	"msw/internal/wire"
)

// sendQuiet writes a quiet request frame (wire.StreamQuiet).
func (s *rawStream) sendQuiet(op wire.StreamOp, id uint64, queue string, arg uint64, body []byte) {
	s.t.Helper()
	f := wire.AppendStreamRequest(nil, &wire.StreamRequest{Op: op, Quiet: true, ID: id, Queue: queue, Arg: arg}, len(body))
	if _, err := s.conn.Write(append(f, body...)); err != nil {
		s.t.Fatal(err)
	}
}

// A quiet request is answered only when it fails, before any later
// request is: a ping after quiet requests is answered after their
// failures, and its answer alone stands for their successes.
func TestStreamQuietAnswersOnlyFailures(t *testing.T) {
	b, _, _, st := streamSetup(t, broker.Options{})
	st.sendQuiet(wire.StreamSend, 1, "q", 0, sendBody("a"))
	st.sendQuiet(wire.StreamSend, 2, "nope", 0, sendBody("b"))
	st.sendQuiet(wire.StreamSend, 3, "q", 0, sendBody("c"))
	st.sendQuiet(wire.StreamWithdraw, 4, "q", 99, nil)
	st.send(wire.StreamPing, 5, "", 0, nil)
	for _, want := range []struct {
		id     uint64
		status int
		code   string
	}{{2, http.StatusNotFound, wire.CodeNoSuchQueue}, {4, http.StatusNotFound, wire.CodeNoSuchMessage}, {5, http.StatusNoContent, ""}} {
		a := st.next()
		if a.id != want.id || a.status != want.status || !strings.Contains(string(a.body), want.code) {
			t.Fatalf("answer %d %d %s; want request %d answered %d %s", a.id, a.status, a.body, want.id, want.status, want.code)
		}
	}
	if qi, _ := b.Info("q"); qi.Depth != 2 {
		t.Fatalf("depth %d after two quiet sends, want 2", qi.Depth)
	}
}

// A withdrawal with argument 0 names its message by correlation id: the
// RPC caller's way to take back a request it sent quietly.
func TestStreamWithdrawByCorrelationID(t *testing.T) {
	b, _, _, st := streamSetup(t, broker.Options{})
	st.sendQuiet(wire.StreamSend, 1, "q", 0, sendBody("a", "b", "c")) // correlation ids c-a, c-b, c-c
	st.send(wire.StreamWithdraw, 2, "q", 0, []byte("c-b"))
	if a := st.next(); a.id != 2 || a.status != http.StatusNoContent {
		t.Fatalf("withdraw of c-b: %d %s", a.status, a.body)
	}
	st.send(wire.StreamWithdraw, 3, "q", 0, []byte("c-b"))
	if a := st.next(); a.id != 3 || a.status != http.StatusNotFound || !strings.Contains(string(a.body), wire.CodeNoSuchMessage) {
		t.Fatalf("second withdraw of c-b: %d %s", a.status, a.body)
	}
	ds, _ := b.Peek("q", 10)
	if len(ds) != 2 || ds[0].CorrelationID != "c-a" || ds[1].CorrelationID != "c-c" {
		t.Fatalf("left in the queue: %+v", ds)
	}
}
