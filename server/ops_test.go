package server

import (
	"encoding/json"
	"net/http"
	"testing"

	"msw/broker"
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
