package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"msw/broker"
	"msw/internal/testutil"
	"msw/internal/wire"
)

// startSwitch serves a fresh broker on a free loopback port.
func startSwitch(t testing.TB, opts broker.Options) (*broker.Broker, string) {
	t.Helper()
	b := broker.New(engineOptions(t, opts))
	t.Cleanup(b.Close) // after the server's shutdown: cleanups run last first
	s := New(b, Options{Log: testLog(t)})
	l, err := Listen("127.0.0.1:0", 0o600)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return b, "http://" + l.Addr().String()
}

// testLog routes a server's log lines to the test's log.
func testLog(tb testing.TB) *log.Logger {
	return log.New(testutil.LogWriter(tb, "switch: "), "", 0)
}

type result struct {
	status int
	body   string
}

func do(t testing.TB, c *http.Client, method, url string, hdr map[string]string, body string) result {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, string(b)}
}

func TestBadInputGetsOneLineError(t *testing.T) {
	_, base := startSwitch(t, broker.Options{MaxPayload: 8})
	c := &http.Client{}
	do(t, c, "PUT", base+"/v1/queues/q", nil, "")
	tests := []struct {
		name, method, path, body string
		hdr                      map[string]string
		status                   int
		code                     string
	}{
		{"bad queue name", "PUT", "/v1/queues/a%20b", "", nil, 400, wire.CodeBadQueueName},
		{"send to missing queue", "POST", "/v1/queues/nope/messages", "x", nil, 404, wire.CodeNoSuchQueue},
		{"payload over limit", "POST", "/v1/queues/q/messages", "123456789", nil, 413, wire.CodeTooLarge},
		{"frame over limit", "POST", "/v1/queues/q/messages", string(wire.AppendSendFrame(nil, &wire.Message{Payload: []byte("123456789")})),
			map[string]string{"Content-Type": wire.ContentTypeFrames}, 413, wire.CodeTooLarge},
		{"truncated frame", "POST", "/v1/queues/q/messages", "\x00\x00\x00\x05ab",
			map[string]string{"Content-Type": wire.ContentTypeFrames}, 400, wire.CodeBadRequest},
		{"bad status header", "POST", "/v1/queues/q/messages", "x", map[string]string{wire.HeaderStatus: "300"}, 400, wire.CodeBadRequest},
		{"bad JSON", "POST", "/v1/session", "{", nil, 400, wire.CodeBadRequest},
		{"empty JSON", "POST", "/v1/session", "", nil, 400, wire.CodeBadRequest},
		{"transfer without session", "POST", "/v1/transfer", "{}", nil, 400, wire.CodeNoSession},
		{"unknown session", "POST", "/v1/transfer", "{}", map[string]string{wire.HeaderSession: "nope"}, 410, wire.CodeUnknownSession},
		{"bad message id", "DELETE", "/v1/queues/q/messages/x", "", nil, 400, wire.CodeBadRequest},
		{"bad peek max", "GET", "/v1/queues/q/messages?max=-1", "", nil, 400, wire.CodeBadRequest},
		{"unknown endpoint", "GET", "/v2/nothing", "", nil, 404, wire.CodeNoSuchEndpoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, c, tt.method, base+tt.path, tt.hdr, tt.body)
			if r.status != tt.status {
				t.Errorf("status = %d; want %d (%s)", r.status, tt.status, r.body)
			}
			var e wire.Error
			if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Code != tt.code || e.Message == "" {
				t.Errorf("body = %q; want a JSON error with code %s", r.body, tt.code)
			}
			if strings.Count(strings.TrimSpace(r.body), "\n") != 0 {
				t.Errorf("error body is not one line: %q", r.body)
			}
		})
	}
}

func TestStateChangesNeedNonGET(t *testing.T) {
	_, base := startSwitch(t, broker.Options{})
	c := &http.Client{}
	for _, path := range []string{"/v1/session", "/v1/shutdown", "/v1/transfer", "/v1/ack", "/v1/subscribe"} {
		if r := do(t, c, "GET", base+path, nil, ""); r.status != http.StatusMethodNotAllowed {
			t.Errorf("GET %s = %d; want 405", path, r.status)
		}
	}
}

func TestBrowserGuard(t *testing.T) {
	b, base := startSwitch(t, broker.Options{})
	c := &http.Client{}
	host := strings.TrimPrefix(base, "http://")
	tests := []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"no origin (a command-line client)", nil, 200},
		{"same origin (the switch's own page: read-only, see TestPageWrites)", map[string]string{"Origin": base}, 403},
		{"other origin", map[string]string{"Origin": "http://evil.example"}, 403},
		{"null origin", map[string]string{"Origin": "null"}, 403},
		{"rebinding host", map[string]string{"Host": "evil.example:" + strings.Split(host, ":")[1]}, 403},
		{"rebinding host with matching origin", map[string]string{"Host": "evil.example", "Origin": "http://evil.example"}, 403},
		{"localhost", map[string]string{"Host": "localhost:1"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, c, "PUT", base+"/v1/queues/guarded", tt.hdr, "")
			if r.status != tt.status {
				t.Errorf("status = %d; want %d (%s)", r.status, tt.status, r.body)
			}
		})
	}
	if r := do(t, c, "GET", base+"/v1/diagnostics", map[string]string{"Host": "evil.example"}, ""); r.status != 403 {
		t.Errorf("rebinding read of diagnostics = %d; want 403", r.status)
	}
	b.DestroyQueue(nil, "guarded", false)
}

// TestClosedConnectionEndsSession: a client whose connections all close
// (a killed process) loses its session after the grace period; the
// messages it held are redelivered and its transient queues go.
func TestClosedConnectionEndsSession(t *testing.T) {
	skipOnEngine(t, "a message given back counts as in flight until the cluster delivers it again")
	b, base := startSwitch(t, broker.Options{Grace: 50 * time.Millisecond})
	tr := &http.Transport{}
	c := &http.Client{Transport: tr}
	do(t, c, "PUT", base+"/v1/queues/q", nil, "")
	do(t, c, "POST", base+"/v1/queues/q/messages", nil, "precious")
	var lr wire.LoginResponse
	json.Unmarshal([]byte(do(t, c, "POST", base+"/v1/session", nil, `{"client_id":"doomed"}`).body), &lr)
	sess := map[string]string{wire.HeaderSession: lr.Session}
	var tmp wire.TransientResponse
	json.Unmarshal([]byte(do(t, c, "POST", base+"/v1/transient", sess, `{}`).body), &tmp)
	do(t, c, "POST", base+"/v1/subscribe", sess, `{"queues":["q"]}`)
	r := do(t, c, "POST", base+"/v1/transfer", sess, `{"timeout_ms":1000}`)
	if !strings.Contains(r.body, "precious") {
		t.Fatalf("transfer = %s", r.body)
	}
	if qi, _ := b.Info("q"); qi.InFlight != 1 {
		t.Fatalf("in flight = %d; want 1", qi.InFlight)
	}
	tr.CloseIdleConnections() // the process dies: its connections close
	testutil.Eventually(t, "after the connection closed, the message back and the transient queue gone", func() bool {
		qi, _ := b.Info("q")
		_, err := b.Info(tmp.Name)
		return qi.Depth == 1 && qi.InFlight == 0 && err != nil
	})
	// The ended session is refused with its own code.
	if r := do(t, &http.Client{}, "POST", base+"/v1/transfer", sess, `{}`); r.status != http.StatusGone {
		t.Errorf("ended session = %d %s; want 410", r.status, r.body)
	}
}

func TestTransferFramesAndJSON(t *testing.T) {
	_, base := startSwitch(t, broker.Options{})
	c := &http.Client{}
	do(t, c, "PUT", base+"/v1/queues/q", nil, "")
	body := wire.AppendSendFrame(nil, &wire.Message{Payload: []byte{0, 0xff}, CorrelationID: "bin"})
	body = wire.AppendSendFrame(body, &wire.Message{Payload: []byte("text"), ReplyTo: "q"})
	r := do(t, c, "POST", base+"/v1/queues/q/messages", map[string]string{"Content-Type": wire.ContentTypeFrames}, string(body))
	if r.status != 200 || !strings.Contains(r.body, `"count":2`) {
		t.Fatalf("batch send = %d %s", r.status, r.body)
	}
	r = do(t, c, "GET", base+"/v1/queues/q/messages", nil, "")
	var dr wire.DeliveriesResponse
	if err := json.Unmarshal([]byte(r.body), &dr); err != nil || len(dr.Messages) != 2 {
		t.Fatalf("peek JSON = %s", r.body)
	}
	if dr.Messages[0].PayloadBase64 == nil || !bytes.Equal(dr.Messages[0].PayloadBase64, []byte{0, 0xff}) || *dr.Messages[1].Payload != "text" {
		t.Errorf("peek JSON payloads = %s", r.body)
	}
	r = do(t, c, "GET", base+"/v1/queues/q/messages", map[string]string{"Accept": wire.ContentTypeFrames}, "")
	fr := wire.NewFrameReader(strings.NewReader(r.body), 1<<20)
	var d wire.Delivery
	if err := fr.Next(&d); err != nil || d.CorrelationID != "bin" || !bytes.Equal(d.Payload, []byte{0, 0xff}) {
		t.Errorf("peek frames: %+v, %v", d, err)
	}
}

func TestUnixSocketListen(t *testing.T) {
	path := t.TempDir() + "/sock"
	l, err := Listen("unix:"+path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen("unix:"+path, 0o600); err == nil || !strings.Contains(err.Error(), "another process is listening") {
		t.Errorf("second listen on a live socket = %v; want refusal", err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close() // leaves a stale socket file behind, as a crash would
	l2, err := Listen("unix:"+path, 0o600)
	if err != nil {
		t.Fatalf("listen over a stale socket: %v", err)
	}
	defer l2.Close()
}

func TestReclaimableCountsUncollectedGarbage(t *testing.T) {
	for _, c := range []struct{ free, objects, live, want uint64 }{
		{free: 40 << 20, objects: 100 << 20, live: 100 << 20, want: 40 << 20},
		// A burst no collection has seen yet: nothing free, yet half the
		// objects are garbage.
		{free: 0, objects: 200 << 20, live: 100 << 20, want: 100 << 20},
		// Live as of the last collection may exceed the objects now.
		{free: 1 << 20, objects: 50 << 20, live: 60 << 20, want: 1 << 20},
	} {
		if got := reclaimable(c.free, c.objects, c.live); got != c.want {
			t.Errorf("reclaimable(free %d, objects %d, live %d) = %d, want %d", c.free, c.objects, c.live, got, c.want)
		}
	}
}
