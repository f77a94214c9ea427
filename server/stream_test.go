package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"msw/broker"
	"msw/internal/testutil"
	"msw/internal/wire"
)

// rawStream is a test's end of a stream, speaking frames by hand.
type rawStream struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

// login starts a session over HTTP and returns its token.
func login(t testing.TB, base string) string {
	t.Helper()
	r := do(t, http.DefaultClient, "POST", base+wire.PathSession, nil, `{"client_id":"stream-test"}`)
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	var lr wire.LoginResponse
	json.Unmarshal([]byte(r.body), &lr)
	return lr.Session
}

// upgrade opens a stream for session sess; it returns the HTTP status
// the switch answered and, on 101, the stream.
func upgrade(t testing.TB, base, sess string, headers string) (int, *rawStream) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s: %s\r\n\r\n", wire.PathStream, headers, wire.HeaderSession, sess)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	return resp.StatusCode, &rawStream{t: t, conn: conn, br: br}
}

const upgradeHeaders = "Connection: Upgrade\r\nUpgrade: " + wire.StreamProtocol + "\r\n"

func openStream(t testing.TB, base, sess string) *rawStream {
	t.Helper()
	status, st := upgrade(t, base, sess, upgradeHeaders)
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: status %d", status)
	}
	return st
}

func (s *rawStream) send(op wire.StreamOp, id uint64, queue string, arg uint64, body []byte) {
	s.t.Helper()
	f := wire.AppendStreamRequest(nil, &wire.StreamRequest{Op: op, ID: id, Queue: queue, Arg: arg}, len(body))
	if _, err := s.conn.Write(append(f, body...)); err != nil {
		s.t.Fatal(err)
	}
}

type rawAnswer struct {
	id     uint64
	status int
	body   []byte
}

// next reads the next answer, failing the test after 5s without one.
func (s *rawStream) next() rawAnswer {
	s.t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer s.conn.SetReadDeadline(time.Time{})
	var lb [4]byte
	n, err := wire.ReadStreamLength(s.br, &lb)
	if err != nil {
		s.t.Fatalf("reading an answer: %v", err)
	}
	f := make([]byte, n)
	if _, err := io.ReadFull(s.br, f); err != nil {
		s.t.Fatal(err)
	}
	id, status, body, err := wire.ParseStreamAnswer(f)
	if err != nil {
		s.t.Fatal(err)
	}
	return rawAnswer{id, status, body}
}

// answers reads n answers, which may come in any order, by request id.
func (s *rawStream) answers(n int) map[uint64]rawAnswer {
	s.t.Helper()
	got := map[uint64]rawAnswer{}
	for range n {
		a := s.next()
		got[a.id] = a
	}
	return got
}

func sendBody(payloads ...string) []byte {
	var b []byte
	for _, p := range payloads {
		b = wire.AppendSendFrame(b, &wire.Message{Payload: []byte(p), CorrelationID: "c-" + p})
	}
	return b
}

func deliveries(t testing.TB, body []byte) []wire.Delivery {
	t.Helper()
	fr := wire.NewFrameReader(bytes.NewReader(body), 1<<20)
	defer fr.Close()
	var out []wire.Delivery
	for {
		var d wire.Delivery
		err := fr.Next(&d)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
}

func acksBody(queue string, ids ...uint64) []byte {
	b, _ := json.Marshal(wire.AckRequest{Acks: wire.Acks{queue: ids}})
	return b
}

// streamSetup makes queue q, logs in, subscribes to q and opens a stream.
func streamSetup(t testing.TB, opts broker.Options) (*broker.Broker, string, string, *rawStream) {
	b, base := startSwitch(t, opts)
	if r := do(t, http.DefaultClient, "PUT", base+wire.PathQueuePrefix+"q", nil, ""); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	sess := login(t, base)
	if r := do(t, http.DefaultClient, "POST", base+wire.PathSubscribe, map[string]string{wire.HeaderSession: sess}, `{"queues":["q"]}`); r.status != 204 {
		t.Fatalf("subscribe: %d %s", r.status, r.body)
	}
	return b, base, sess, openStream(t, base, sess)
}

func TestStreamUpgradeRefusals(t *testing.T) {
	_, base := startSwitch(t, broker.Options{})
	sess := login(t, base)
	if status, _ := upgrade(t, base, sess, ""); status != http.StatusUpgradeRequired {
		t.Errorf("without Upgrade headers: status %d, want 426", status)
	}
	if status, _ := upgrade(t, base, "no-such-session", upgradeHeaders); status != http.StatusGone {
		t.Errorf("unknown session: status %d, want 410", status)
	}
}

func TestStreamSendTransferAck(t *testing.T) {
	b, _, _, st := streamSetup(t, broker.Options{})

	// A transfer with nothing ready waits; a send answered meanwhile
	// wakes it, and the answers come back by request id.
	st.send(wire.StreamTransfer, 1, "", 0, []byte(`{"timeout_ms":5000}`))
	st.send(wire.StreamSend, 2, "q", 0, sendBody("a", "b"))
	got := st.answers(2)
	a := got[1]
	if a.status != 200 {
		t.Fatalf("transfer answer: %d %s", a.status, a.body)
	}
	ds := deliveries(t, a.body)
	if engineURL != nil && len(ds) == 1 {
		// Over the engine a pull hands over what has arrived when the
		// first message does, so one transfer may bring fewer
		// (docs/scale-out.md): the second comes with the next.
		st.send(wire.StreamTransfer, 9, "", 0, []byte(`{"timeout_ms":5000}`))
		if a := st.next(); a.id == 9 && a.status == 200 {
			ds = append(ds, deliveries(t, a.body)...)
		}
	}
	if len(ds) != 2 || string(ds[0].Payload) != "a" || ds[1].CorrelationID != "c-b" {
		t.Fatalf("transfer delivered %+v", ds)
	}
	// The send answers the first id (1 on a switch of its own; over the
	// engine, the one the gateway that took it gave it).
	if a := got[2]; a.status != 200 || !strings.Contains(string(a.body), fmt.Sprintf(`"id":%d,"count":2`, ds[0].ID)) {
		t.Errorf("send answer: %d %s, delivered id %d", a.status, a.body, ds[0].ID)
	}
	if engineURL == nil && ds[0].ID != 1 {
		t.Errorf("first id %d, want 1", ds[0].ID)
	}
	if qi, _ := b.Info("q"); qi.InFlight != 2 {
		t.Fatalf("in flight %d, want 2", qi.InFlight)
	}

	st.send(wire.StreamAck, 3, "", 0, acksBody("q", ds[0].ID, ds[1].ID))
	if a := st.next(); a.id != 3 || a.status != 204 {
		t.Fatalf("ack answer: %+v", a)
	}
	// A cluster's counts follow its acks a moment later (its stream
	// deletes what was acked as it applies the acks).
	testutil.Eventually(t, "the queue empty after the ack", func() bool {
		qi, _ := b.Info("q")
		return qi.InFlight == 0 && qi.Depth == 0
	})

	// Errors answer with the HTTP status and JSON error line.
	st.send(wire.StreamSend, 4, "nope", 0, sendBody("x"))
	if a := st.next(); a.id != 4 || a.status != 404 || !strings.Contains(string(a.body), wire.CodeNoSuchQueue) {
		t.Fatalf("send to a missing queue: %d %s", a.status, a.body)
	}
	st.send(wire.StreamWithdraw, 5, "q", 99, nil)
	if a := st.next(); a.id != 5 || a.status != 404 || !strings.Contains(string(a.body), wire.CodeNoSuchMessage) {
		t.Fatalf("withdraw of a missing message: %d %s", a.status, a.body)
	}
	st.send(99, 6, "", 0, nil)
	if a := st.next(); a.id != 6 || a.status != 400 {
		t.Fatalf("unknown op: %d %s", a.status, a.body)
	}
}

func TestStreamRefusesOversizeFrameAndGoesOn(t *testing.T) {
	_, _, _, st := streamSetup(t, broker.Options{MaxPayload: 1024})
	// The frame limit is 64 MiB at least; a frame claiming more is
	// answered without being kept, and the stream stays usable.
	big := make([]byte, 65<<20)
	st.send(wire.StreamSend, 1, "q", 0, big)
	if a := st.next(); a.id != 1 || a.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversize frame: %d %s", a.status, a.body)
	}
	st.send(wire.StreamSend, 2, "q", 0, sendBody(strings.Repeat("x", 2000)))
	if a := st.next(); a.id != 2 || a.status != http.StatusRequestEntityTooLarge || !strings.Contains(string(a.body), wire.CodeTooLarge) {
		t.Fatalf("oversize payload: %d %s", a.status, a.body)
	}
	st.send(wire.StreamPing, 3, "", 0, nil)
	if a := st.next(); a.id != 3 || a.status != 204 {
		t.Fatalf("ping after refusals: %+v", a)
	}
}

func TestStreamCancelEndsWaitingTransfer(t *testing.T) {
	b, _, _, st := streamSetup(t, broker.Options{})
	// The switch handles a stream's frames in order: the cancel finds
	// the transfer waiting.
	st.send(wire.StreamTransfer, 1, "", 0, []byte(`{"timeout_ms":30000}`))
	st.send(wire.StreamCancel, 0, "", 1, nil)
	if a := st.next(); a.id != 1 || a.status != 200 || len(a.body) != 0 {
		t.Fatalf("cancelled transfer: %d %q", a.status, a.body)
	}
	// Nothing waits any more: a message sent now stays ready.
	st.send(wire.StreamSend, 2, "q", 0, sendBody("later"))
	if a := st.next(); a.id != 2 || a.status != 200 {
		t.Fatalf("send: %+v", a)
	}
	// (A cluster's counts follow its writes a moment later.)
	testutil.Eventually(t, "the message ready, none in flight", func() bool {
		qi, _ := b.Info("q")
		return qi.Depth == 1 && qi.InFlight == 0
	})
}

func TestStreamConsumeKeepsWindow(t *testing.T) {
	b, _, _, st := streamSetup(t, broker.Options{})
	st.send(wire.StreamSend, 1, "q", 0, sendBody("1", "2", "3"))
	if a := st.next(); a.status != 200 {
		t.Fatalf("send: %+v", a)
	}
	st.send(wire.StreamConsume, 2, "", 1, []byte{0})
	a := st.next()
	if ds := deliveries(t, a.body); a.id != 2 || len(ds) != 1 || string(ds[0].Payload) != "1" {
		t.Fatalf("first push: id %d %+v", a.id, ds)
	}
	// Window 1: one taken, nothing more until an ack (a second push
	// before the reply's answer would break the reads below).
	waitQueueCounts(t, b, "q", 2, 1)

	// A reply acks the request it answers, making room for the next.
	reply := wire.AppendString(nil, "q")
	reply = wire.AppendSendFrame(reply, &wire.Message{Payload: []byte("r1"), CorrelationID: "c-1"})
	if r := b.CreateQueue(nil, "replies"); r != nil {
		t.Fatal(r)
	}
	st.send(wire.StreamReply, 3, "replies", 1, reply)
	got := st.answers(2)
	if got[3].status != 200 {
		t.Fatalf("reply answer: %d %s", got[3].status, got[3].body)
	}
	if ds := deliveries(t, got[2].body); len(ds) != 1 || string(ds[0].Payload) != "2" {
		t.Fatalf("second push: %+v", ds)
	}
	waitQueueCounts(t, b, "replies", 1, 0)

	// A reply whose queue is gone still acks its request.
	reply = wire.AppendString(nil, "q")
	reply = wire.AppendSendFrame(reply, &wire.Message{Payload: []byte("r2")})
	st.send(wire.StreamReply, 4, "gone", 2, reply)
	got = st.answers(2)
	if got[4].status != 404 {
		t.Fatalf("reply to a missing queue: %d %s", got[4].status, got[4].body)
	}
	if ds := deliveries(t, got[2].body); len(ds) != 1 || string(ds[0].Payload) != "3" {
		t.Fatalf("third push: %+v", ds)
	}
	waitQueueCounts(t, b, "q", 0, 1)
}

// waitQueueCounts waits until queue has depth ready messages and
// inflight in flight. A cluster queue's counts follow its writes a
// moment later (docs/scale-out.md), so a test over the NATS engine can't
// read them at once.
func waitQueueCounts(t *testing.T, b *broker.Broker, queue string, depth, inflight int) {
	t.Helper()
	var qi wire.QueueInfo
	if !testutil.Within(testutil.WaitLimit, func() bool {
		qi, _ = b.Info(queue)
		return qi.Depth == depth && qi.InFlight == inflight
	}) {
		t.Fatalf("queue %s: depth %d, in flight %d; want %d and %d", queue, qi.Depth, qi.InFlight, depth, inflight)
	}
}

func TestStreamConsumeAutoAck(t *testing.T) {
	b, _, _, st := streamSetup(t, broker.Options{})
	st.send(wire.StreamConsume, 1, "", 1, []byte{wire.ConsumeAutoAck})
	st.send(wire.StreamSend, 2, "q", 0, sendBody("1", "2", "3"))
	var n int
	for n < 3 {
		a := st.next()
		if a.id == 1 {
			n += len(deliveries(t, a.body))
		}
	}
	// (A cluster's counts follow its acks a moment later.)
	testutil.Eventually(t, "all acked", func() bool {
		qi, _ := b.Info("q")
		return qi.InFlight == 0 && qi.Depth == 0
	})
}

func TestStreamCloseGivesBackPushed(t *testing.T) {
	skipOnEngine(t, "a message given back counts as in flight until the cluster delivers it again")
	// A long grace: the session outlives the stream, yet what was pushed
	// down the stream and not acked is ready again at once.
	b, base, sess, st := streamSetup(t, broker.Options{Grace: time.Minute})
	st.send(wire.StreamSend, 1, "q", 0, sendBody("1", "2"))
	st.next()
	st.send(wire.StreamConsume, 2, "", 8, []byte{0})
	for n := 0; n < 2; {
		n += len(deliveries(t, st.next().body))
	}
	st.conn.Close()
	testutil.Eventually(t, "after the stream closed, both pushed messages ready again", func() bool {
		qi, _ := b.Info("q")
		return qi.Depth == 2 && qi.InFlight == 0
	})
	if _, err := b.Session(sess); err != nil {
		t.Fatalf("the session ended with its stream: %v", err)
	}
	// The session can open another stream and go on.
	st2 := openStream(t, base, sess)
	st2.send(wire.StreamTransfer, 1, "", 0, []byte(`{"timeout_ms":1000}`))
	if ds := deliveries(t, st2.next().body); len(ds) != 2 || ds[0].DeliveryCount != 2 {
		t.Fatalf("redelivered: %+v", ds)
	}
}

func TestStreamShutdownAnswersWaiting(t *testing.T) {
	b := broker.New(broker.Options{})
	var logged testutil.Buffer
	s := New(b, Options{Log: log.New(io.MultiWriter(&logged, testutil.LogWriter(t, "switch: ")), "", 0)})
	l, err := Listen("127.0.0.1:0", 0o600)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	base := "http://" + l.Addr().String()
	b.CreateQueue(nil, "q")
	sess := login(t, base)
	do(t, http.DefaultClient, "POST", base+wire.PathSubscribe, map[string]string{wire.HeaderSession: sess}, `{"queues":["q"]}`)
	st := openStream(t, base, sess)
	st.send(wire.StreamTransfer, 1, "", 0, []byte(`{"timeout_ms":30000}`))
	st.send(wire.StreamConsume, 2, "", 1, []byte{0})
	// Frames are handled in order: once the ping is answered, the
	// transfer and the consume are both under way.
	st.send(wire.StreamPing, 3, "", 0, nil)
	if a := st.next(); a.id != 3 || a.status != 204 {
		t.Fatalf("ping: %+v", a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// Shutdown returns once its streams are closed.
	s.streamsMu.Lock()
	open := len(s.streams)
	s.streamsMu.Unlock()
	if open != 0 {
		t.Errorf("%d streams open after Shutdown returned", open)
	}
	for range 2 {
		if a := st.next(); a.status != http.StatusServiceUnavailable || !strings.Contains(string(a.body), wire.CodeShuttingDown) {
			t.Fatalf("waiting request %d at shutdown: %d %s", a.id, a.status, a.body)
		}
	}
	st.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := st.br.ReadByte(); err != io.EOF {
		t.Fatalf("stream after shutdown: %v, want EOF", err)
	}
	// The deadline Shutdown cuts short is not a client's timeout.
	if strings.Contains(logged.String(), "timed out") {
		t.Errorf("the switch logged a timeout at shutdown:\n%s", logged.String())
	}
}

func TestStreamFrameBufferGrowsWithItsBytes(t *testing.T) {
	// A frame announcing 60 MiB of which 20 bytes ever come: the buffer
	// must not have been made for all of it.
	st := &stream{br: bufio.NewReader(io.LimitReader(zeros{}, 20))}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := st.readFrame(60 << 20)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("readFrame of a truncated frame: no error")
	}
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 1<<20 {
		t.Errorf("%d MiB allocated for a frame of which 20 bytes came", grown>>20)
	}
	// Whole frames are read whole, into a buffer kept near their size.
	for range 3 {
		st.br = bufio.NewReader(io.LimitReader(zeros{}, 3<<20))
		if f, err := st.readFrame(3 << 20); err != nil || len(f) != 3<<20 {
			t.Fatalf("readFrame of a whole 3 MiB frame: %d bytes, %v", len(f), err)
		}
	}
	if cap(st.buf) > 8<<20 {
		t.Errorf("buffer of %d MiB for 3 MiB frames", cap(st.buf)>>20)
	}
}

// zeros reads as endless zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestStreamReleaseAfterCancelSkipsTheConsume(t *testing.T) {
	// A release right after a consume's cancel, as a stopping server
	// sends them: the message goes back to the queue, not to the consume
	// still waiting in the broker (which would count a delivery nobody
	// saw). Run a number of times: the race this guards was a few in a
	// hundred.
	b, _, _, st := streamSetup(t, broker.Options{})
	id := uint64(0)
	next := func() uint64 { id++; return id }
	for round := range 50 {
		st.send(wire.StreamSend, next(), "q", 0, sendBody("m"))
		if a := st.next(); a.status != 200 {
			t.Fatalf("send: %+v", a)
		}
		consume := next()
		st.send(wire.StreamConsume, consume, "", 1, []byte{0})
		a := st.next()
		ds := deliveries(t, a.body)
		if a.id != consume || len(ds) != 1 || ds[0].DeliveryCount != 1 {
			t.Fatalf("round %d: push: id %d %+v", round, a.id, ds)
		}
		st.send(wire.StreamCancel, 0, "", consume, nil)
		release := next()
		st.send(wire.StreamRelease, release, "", 0, acksBody("q", ds[0].ID))
		if a := st.next(); a.id != release || a.status/100 != 2 {
			t.Fatalf("round %d: release: %+v", round, a)
		}
		transfer := next()
		st.send(wire.StreamTransfer, transfer, "", 0, []byte(`{"timeout_ms":5000}`))
		a = st.next()
		ds = deliveries(t, a.body)
		if a.id != transfer || len(ds) != 1 || ds[0].DeliveryCount != 2 {
			t.Fatalf("round %d: after the release: id %d %+v, want the message delivered a second time", round, a.id, ds)
		}
		ack := next()
		st.send(wire.StreamAck, ack, "", 0, acksBody("q", ds[0].ID))
		if a := st.next(); a.id != ack || a.status/100 != 2 {
			t.Fatalf("round %d: ack: %+v", round, a)
		}
	}
	// Over a cluster its counts follow the last ack a moment later.
	testutil.Eventually(t, "queue empty after the last ack", func() bool {
		qi, _ := b.Info("q")
		return qi.Depth == 0 && qi.InFlight == 0
	})
}
