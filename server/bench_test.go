package server

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"msw/broker"
	"msw/internal/wire"
)

// The server's hot path, measured end to end over loopback: what a
// refactor of the handlers must not slow.

// BenchmarkStreamSendTransferAck is one message's round on a stream: a
// send, a transfer that finds it ready, and its ack.
func BenchmarkStreamSendTransferAck(b *testing.B) {
	_, _, _, st := streamSetup(b, broker.Options{})
	send := sendBody("payload of a message")
	transfer := []byte(`{"max":1,"timeout_ms":1000}`)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		id := uint64(i) * 3
		st.send(wire.StreamSend, id+1, "q", 0, send)
		st.send(wire.StreamTransfer, id+2, "", 0, transfer)
		got := st.answers(2)
		if got[id+1].status != 200 || got[id+2].status != 200 {
			b.Fatalf("send %d, transfer %d", got[id+1].status, got[id+2].status)
		}
		st.send(wire.StreamAck, id+3, "", 0, acksBody("q", uint64(i)+1))
		if a := st.next(); a.status != 204 {
			b.Fatalf("ack: %d %s", a.status, a.body)
		}
	}
}

// BenchmarkHTTPSendTransferAck is the same round as three HTTP requests.
func BenchmarkHTTPSendTransferAck(b *testing.B) {
	_, base := startSwitch(b, broker.Options{})
	c := &http.Client{}
	do(b, c, "PUT", base+wire.PathQueuePrefix+"q", nil, "")
	sess := map[string]string{wire.HeaderSession: login(b, base)}
	do(b, c, "POST", base+wire.PathSubscribe, sess, `{"queues":["q"]}`)
	post := func(path, body string, want int) {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set(wire.HeaderSession, sess[wire.HeaderSession])
		req.Header.Set("Accept", wire.ContentTypeFrames)
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			b.Fatalf("POST %s: %d", path, resp.StatusCode)
		}
	}
	b.ReportAllocs()
	for i := 1; b.Loop(); i++ {
		post(wire.OpSend.Path("q", 0), "payload of a message", 200)
		post(wire.PathTransfer, `{"max":1,"timeout_ms":1000}`, 200)
		post(wire.PathAck, `{"acks":{"q":[`+strconv.Itoa(i)+`]}}`, 204)
	}
}
