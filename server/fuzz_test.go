package server

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"msw/broker"
	"msw/internal/wire"
)

// FuzzHTTPRequest sends arbitrary requests — method, path and query,
// headers, body — through the switch's handler, with and without a
// token: none may panic or be answered 5xx, and without the token none
// but the health check gets past 401.
func FuzzHTTPRequest(f *testing.F) {
	f.Add("PUT", "/v1/queues/q", "", "", "")
	f.Add("POST", "/v1/queues/q/messages", wire.ContentTypeFrames, "", "\x01\x00\x00\x00")
	f.Add("POST", "/v1/queues/q/messages", "text/plain", "Msw-Status: 300", "hello")
	f.Add("POST", "/v1/ack", wire.ContentTypeJSON, "", `{"acks":{"q":[1,2,18446744073709551615]}}`)
	f.Add("POST", "/v1/transfer", wire.ContentTypeJSON, "", `{"max":-1,"timeout_ms":-5,"acks":{"":[0]}}`)
	f.Add("POST", "/v1/session", wire.ContentTypeJSON, "", `{"client_id":"`+strings.Repeat("x", 2000)+`"}`)
	f.Add("POST", "/v1/subscribe", wire.ContentTypeJSON, "Msw-Session: x", `{"queues":["q","..",""]}`)
	f.Add("GET", "/v1/diagnostics?max_messages=99999999999999999999&stale_ms=-1", "", "", "")
	f.Add("GET", "/v1/trace?after=-1&max=1&timeout_ms=1", "", "", "")
	f.Add("GET", "/?token=abc", "", "Cookie: msw_token=abc", "")
	f.Add("DELETE", "/v1/queues/q/messages/abc", "", "Origin: http://evil", "")
	f.Add("GET", "/v1/queues/%2F", "", "Authorization: Bearer tok", "")
	const token = "fuzz-token-0123456789"
	handler := func(token string) http.Handler {
		b := broker.New(broker.Options{MaxWait: 10 * time.Millisecond, MaxQueues: 1000, MaxSessions: 1000})
		b.CreateQueue(nil, "q")
		return New(b, Options{Token: token}).Handler()
	}
	open, locked := handler(""), handler(token)
	f.Fuzz(func(t *testing.T, method, target, contentType, header, body string) {
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		for i, h := range []http.Handler{open, locked} {
			req, err := http.NewRequest(method, "http://127.0.0.1"+target, strings.NewReader(body))
			if err != nil {
				return // not a request a client could send
			}
			req.Header.Set("Content-Type", contentType)
			if k, v, ok := strings.Cut(header, ": "); ok && k != "" {
				req.Header[k] = []string{v}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code >= 500 {
				t.Errorf("%s %s: %d %s", method, target, w.Code, w.Body)
			}
			if i == 1 && w.Code != http.StatusUnauthorized && !(req.URL.Path == wire.PathHealth && method == "GET") &&
				!strings.Contains(header, token) {
				t.Errorf("%s %s without the token: %d", method, target, w.Code)
			}
		}
	})
}

// FuzzStreamConn feeds arbitrary bytes to an upgraded stream: the switch
// may close the stream, but never panics and keeps serving.
func FuzzStreamConn(f *testing.F) {
	req := func(op wire.StreamOp, id uint64, queue string, arg uint64, body []byte) []byte {
		return append(wire.AppendStreamRequest(nil, &wire.StreamRequest{Op: op, ID: id, Queue: queue, Arg: arg}, len(body)), body...)
	}
	f.Add(req(wire.StreamSend, 1, "q", 0, wire.AppendSendFrame(nil, &wire.Message{Payload: []byte("x")})))
	f.Add(req(wire.StreamTransfer, 2, "", 0, []byte(`{"max":1,"timeout_ms":1}`)))
	f.Add(req(wire.StreamAck, 3, "", 0, []byte(`{"acks":{"q":[1]}}`)))
	f.Add(req(wire.StreamConsume, 4, "q", 10, nil))
	f.Add(append(req(wire.StreamTransfer, 5, "", 0, []byte(`{"max":1,"timeout_ms":100000}`)), req(wire.StreamCancel, 6, "", 5, nil)...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3})
	f.Add([]byte{0, 0, 0, 3, 9, 9, 9})
	b := broker.New(broker.Options{MaxWait: 10 * time.Millisecond})
	b.CreateQueue(nil, "q")
	s := New(b, Options{Limits: Limits{StreamIdleTimeout: 200 * time.Millisecond, FrameTimeout: 200 * time.Millisecond}})
	l, err := Listen("127.0.0.1:0", 0o600)
	if err != nil {
		f.Fatal(err)
	}
	go s.Serve(l)
	f.Cleanup(func() { s.http.Close() })
	addr := l.Addr().String()
	f.Fuzz(func(t *testing.T, in []byte) {
		sess, err := b.Login("fuzz")
		if err != nil {
			t.Fatal(err)
		}
		defer b.EndSession(sess)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET "+wire.PathStream+" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: "+wire.StreamProtocol+"\r\n"+wire.HeaderSession+": "+sess.ID()+"\r\n\r\n")
		c.Write(in)
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, c)
		resp, err := http.Get("http://" + addr + wire.PathHealth)
		if err != nil {
			t.Fatalf("the switch stopped serving: %v", err)
		}
		resp.Body.Close()
	})
}

// FuzzDecodeSend: a stream send's body decodes or is refused with 400
// or 413, never more messages than wire.MaxSendMessages.
func FuzzDecodeSend(f *testing.F) {
	f.Add(wire.AppendSendFrame(nil, &wire.Message{Payload: []byte("x"), CorrelationID: "c", ReplyTo: "r"}))
	f.Add(bytes.Repeat([]byte{0}, 100))
	f.Add(binary.AppendUvarint(nil, 1<<40))
	f.Fuzz(func(t *testing.T, body []byte) {
		ms, err := decodeSend(body, 1<<20)
		if err != nil {
			if st, _ := errorAnswer(err); st != http.StatusBadRequest && st != http.StatusRequestEntityTooLarge {
				t.Errorf("decodeSend: %v answered %d", err, st)
			}
			return
		}
		if len(ms) > wire.MaxSendMessages {
			t.Errorf("%d messages decoded", len(ms))
		}
	})
}
