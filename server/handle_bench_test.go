package server

import (
	"bufio"
	"context"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"msw/broker"
	"msw/internal/wire"
)

// The switch's own work per hot-path request, without a network: a
// stream's dispatch and an HTTP handler's, each doing one message's
// send, transfer and ack. Steadier than the loopback benchmarks on a
// busy machine.

// benchServer is a server with queue q and a session subscribed to it.
func benchServer(b *testing.B) (*Server, *broker.Session) {
	br := broker.New(broker.Options{})
	b.Cleanup(br.Close)
	s := New(br, Options{Log: testLog(b)})
	br.CreateQueue(nil, "q")
	sess, err := br.Login("bench")
	if err != nil {
		b.Fatal(err)
	}
	sess.AddConn() // as a connection would: no grace period runs out
	br.Subscribe(sess, []string{"q"})
	return s, sess
}

func BenchmarkHandleStream(b *testing.B) {
	s, sess := benchServer(b)
	st := &stream{s: s, sess: sess, bw: bufio.NewWriter(io.Discard), waiting: map[uint64]func(){}}
	st.ctx, st.cancel = context.WithCancel(context.Background())
	defer st.cancel()
	send := &wire.StreamRequest{Op: wire.StreamSend, Queue: "q", Body: sendBody("payload of a message")}
	transfer := &wire.StreamRequest{Op: wire.StreamTransfer, Body: []byte(`{"max":1}`)}
	ack := &wire.StreamRequest{Op: wire.StreamAck}
	b.ReportAllocs()
	for i := 1; b.Loop(); i++ {
		if st.handle(send) != 200 || st.handle(transfer) != 200 {
			b.Fatal("send or transfer failed")
		}
		ack.Body = acksBody("q", uint64(i))
		if st.handle(ack) != 204 {
			b.Fatal("ack failed")
		}
		st.bw.Flush()
	}
}

func BenchmarkHandleHTTP(b *testing.B) {
	s, sess := benchServer(b)
	h := s.Handler()
	serve := func(path, body string, want int) {
		r := httptest.NewRequest("POST", "http://127.0.0.1"+path, strings.NewReader(body))
		r.Header.Set(wire.HeaderSession, sess.ID())
		r.Header.Set("Accept", wire.ContentTypeFrames)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			b.Fatalf("POST %s: %d %s", path, w.Code, w.Body)
		}
	}
	b.ReportAllocs()
	for i := 1; b.Loop(); i++ {
		serve("/v1/queues/q/messages", "payload of a message", 200)
		serve(wire.PathTransfer, `{"max":1}`, 200)
		serve(wire.PathAck, `{"acks":{"q":[`+strconv.Itoa(i)+`]}}`, 204)
	}
}
