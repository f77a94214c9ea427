package server

import (
	"encoding/json"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"msw/broker"
	"msw/internal/testutil"
	"msw/internal/wire"
)

func TestEveryHotOpHasItsFunction(t *testing.T) {
	for _, op := range wire.HotOps {
		if hotOps[op.Name] == nil {
			t.Errorf("operation %s: no function in hotOps", op.Name)
		}
		if op.Stream != 0 && streamOps[op.Stream] == nil {
			t.Errorf("operation %s: stream op %d not dispatched", op.Name, op.Stream)
		}
	}
	if len(hotOps) != len(wire.HotOps) {
		t.Errorf("hotOps has %d functions for %d operations", len(hotOps), len(wire.HotOps))
	}
}

// TestHotOpAnswersAlikeOnHTTPAndStream sends the same requests both
// ways: one function does the work, so status and error code agree.
func TestHotOpAnswersAlikeOnHTTPAndStream(t *testing.T) {
	_, base, sess, st := streamSetup(t, broker.Options{MaxPayload: 8})
	hdr := map[string]string{wire.HeaderSession: sess, "Content-Type": wire.ContentTypeFrames}
	for i, tc := range []struct {
		name  string
		op    wire.Op
		queue string
		id    uint64
		body  string
		want  int
		code  string
	}{
		{"send", wire.OpSend, "q", 0, string(sendBody("x")), 200, ""},
		{"send to a missing queue", wire.OpSend, "nope", 0, string(sendBody("x")), 404, wire.CodeNoSuchQueue},
		{"send over the payload limit", wire.OpSend, "q", 0, string(sendBody("123456789")), 413, wire.CodeTooLarge},
		{"send of a truncated frame", wire.OpSend, "q", 0, "\x00\x00\x00\x05ab", 400, wire.CodeBadRequest},
		{"transfer with a bad body", wire.OpTransfer, "", 0, "{", 400, wire.CodeBadRequest},
		{"transfer with nothing ready", wire.OpTransfer, "", 0, `{"timeout_ms":0}`, 200, ""},
		{"ack with an empty body", wire.OpAck, "", 0, "", 400, wire.CodeBadRequest},
		{"ack of a message not held", wire.OpAck, "", 0, `{"acks":{"q":[99]}}`, 404, wire.CodeNoSuchMessage},
		{"release of a message not held", wire.OpRelease, "", 0, `{"acks":{"q":[99]}}`, 204, ""},
		{"withdraw of a missing message", wire.OpWithdraw, "q", 99, "", 404, wire.CodeNoSuchMessage},
		{"withdraw from a missing queue", wire.OpWithdraw, "nope", 1, "", 404, wire.CodeNoSuchQueue},
		{"keepalive", wire.OpKeepalive, "", 0, "", 204, ""},
	} {
		r := do(t, http.DefaultClient, tc.op.Method, base+tc.op.Path(tc.queue, tc.id), hdr, tc.body)
		st.send(tc.op.Stream, uint64(i+1), tc.queue, tc.id, []byte(tc.body))
		a := st.next()
		if r.status != tc.want || a.status != tc.want {
			t.Errorf("%s: HTTP %d %s, stream %d %s; want %d", tc.name, r.status, r.body, a.status, a.body, tc.want)
			continue
		}
		if tc.code == "" {
			continue
		}
		var he, se wire.Error
		json.Unmarshal([]byte(r.body), &he)
		json.Unmarshal(a.body, &se)
		if he.Code != tc.code || se.Code != tc.code {
			t.Errorf("%s: codes HTTP %q, stream %q; want %q", tc.name, he.Code, se.Code, tc.code)
		}
	}
}

// TestVerboseLogNamesOperations: -v lines name a hot-path operation as
// wire.HotOps does, on HTTP and on the stream.
func TestVerboseLogNamesOperations(t *testing.T) {
	var buf testutil.Buffer
	b := broker.New(broker.Options{})
	b.CreateQueue(nil, "q")
	h := New(b, Options{Log: log.New(&buf, "", 0), Verbose: true}).Handler()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "http://127.0.0.1"+wire.OpSend.Path("q", 0), strings.NewReader("x")))
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "http://127.0.0.1"+wire.PathQueues, nil))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log = %q; want two lines", lines)
	}
	if f := strings.Fields(lines[0]); len(f) != 5 || f[0]+" "+f[1]+" "+f[2] != "POST /v1/queues/q/messages 200" || f[4] != "send" {
		t.Errorf("log of a send = %q; want POST /v1/queues/q/messages 200 <duration> send", lines[0])
	}
	if f := strings.Fields(lines[1]); len(f) != 4 || f[0]+" "+f[1]+" "+f[2] != "GET /v1/queues 200" {
		t.Errorf("log of a listing = %q; want GET /v1/queues 200 <duration>, no operation", lines[1])
	}
}
