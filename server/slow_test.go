package server_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"msw/broker"
	"msw/internal/switchtest"
	"msw/internal/testutil"
	"msw/internal/wire"
	"msw/lib"
	"msw/server"
)

// TestSlowloris: connections that send their headers a byte at a time
// are closed by the header timeout, while an RPC issued meanwhile
// completes well within 100 ms (asserted at 1 s, for loaded machines).
func TestSlowloris(t *testing.T) {
	n := scale(1000, 300)
	sw := switchtest.Start(t, "", broker.Options{TraceSize: -1}, server.Options{Limits: server.Limits{HeaderTimeout: 500 * time.Millisecond}})
	caller := echo(t, sw.Addr)
	var wg sync.WaitGroup
	var mu sync.Mutex
	closed := 0
	done := make(chan struct{})
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", sw.Addr)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			req := "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 1000)
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for i := 0; i < len(req); i++ {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				_, err := c.Write([]byte{req[i]})
				if err == nil {
					// Anything but a timeout (an answer, EOF, a reset)
					// means the switch gave up on the connection.
					c.SetReadDeadline(time.Now().Add(time.Millisecond))
					var b [64]byte
					_, err = c.Read(b[:])
					if isTimeout(err) {
						continue
					}
				}
				mu.Lock()
				closed++
				mu.Unlock()
				return
			}
		}()
	}
	var worst time.Duration
	for i := 0; i < 20; i++ {
		worst = max(worst, rpc(t, caller))
	}
	testutil.Eventually(t, "the slow connections are closed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return closed == n
	})
	close(done)
	wg.Wait()
	t.Logf("%d slow connections closed by the header timeout; the slowest of 20 RPCs meanwhile took %v", n, worst)
	if worst > time.Second {
		t.Errorf("an RPC took %v during the attack", worst)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// openRawStream logs in and upgrades a connection to a stream by hand.
func openRawStream(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, _ := openRawSession(t, addr)
	return c
}

// openRawSession is openRawStream, also returning the session's token.
func openRawSession(t *testing.T, addr string) (net.Conn, string) {
	t.Helper()
	return openRawSessionDialed(t, addr, &net.Dialer{})
}

// openRawSessionDialed is openRawSession with the stream's connection
// made by d.
func openRawSessionDialed(t *testing.T, addr string, d *net.Dialer) (net.Conn, string) {
	t.Helper()
	resp, err := http.Post("http://"+addr+wire.PathSession, wire.ContentTypeJSON, strings.NewReader(`{"client_id":"raw"}`))
	if err != nil {
		t.Fatal(err)
	}
	var login wire.LoginResponse
	json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: %s\r\n%s: %s\r\n\r\n", wire.PathStream, wire.StreamProtocol, wire.HeaderSession, login.Session)
	buf := make([]byte, 0, 256)
	for !strings.HasSuffix(string(buf), "\r\n\r\n") {
		var b [1]byte
		if _, err := c.Read(b[:]); err != nil {
			t.Fatalf("upgrade: %v after %q", err, buf)
		}
		buf = append(buf, b[0])
	}
	if !strings.HasPrefix(string(buf), "HTTP/1.1 101") {
		t.Fatalf("upgrade: %q", buf)
	}
	return c, login.Session
}

// closedBy waits for the server to close c and returns how long it took.
func closedBy(t *testing.T, c net.Conn) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err := io.Copy(io.Discard, c)
	if isTimeout(err) {
		t.Fatalf("the switch did not close the stream: %v", err)
	}
	return time.Since(start)
}

// TestStreamTimeouts: a stream frame that stops part-way is dropped with
// its buffer and the stream; so is a stream that sends nothing at all;
// the memory the stalled frames had is given back.
func TestStreamTimeouts(t *testing.T) {
	sw := switchtest.Start(t, "", broker.Options{}, server.Options{Limits: server.Limits{
		FrameTimeout: 300 * time.Millisecond, FrameRate: 1 << 30, StreamIdleTimeout: time.Second,
	}})
	// Stalled frames: each announces 60 MiB and sends 8 MiB of it.
	n := scale(13, 3)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	conns := make([]net.Conn, n)
	for i := range conns {
		c := openRawStream(t, sw.Addr)
		defer c.Close()
		var head [4]byte
		binary.BigEndian.PutUint32(head[:], 60<<20)
		c.Write(head[:])
		c.Write(make([]byte, 8<<20))
		conns[i] = c
	}
	for _, c := range conns {
		d := closedBy(t, c)
		t.Logf("a stream stalled part-way through a 60 MiB frame was closed after %v", d.Round(time.Millisecond))
	}
	testutil.Eventually(t, "the stalled frames' buffers are let go", func() bool {
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		return after.HeapAlloc < before.HeapAlloc+16<<20
	})
	// An idle stream.
	c := openRawStream(t, sw.Addr)
	defer c.Close()
	t.Logf("an idle stream was closed after %v", closedBy(t, c).Round(time.Millisecond))
	// A library client keeps its stream with its keep-alives, and one
	// whose stream was dropped carries on.
	cl := switchtest.Client(t, sw.Addr, lib.Options{KeepaliveInterval: 200 * time.Millisecond})
	if err := cl.CreateQueue(t.Context(), "q"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		time.Sleep(600 * time.Millisecond) // longer than the frame timeout, shorter than the idle one: the keep-alives
		if _, err := cl.Send(t.Context(), "q", lib.Message{Payload: []byte("x")}); err != nil {
			t.Fatalf("send after %d idle spells: %v", i+1, err)
		}
	}
}

// TestStreamReaderThatStopsReading: a client that asks for pushes and
// stops reading is dropped by the write timeout, and every message
// pushed down its stream goes back to the queue.
func TestStreamReaderThatStopsReading(t *testing.T) {
	sw := switchtest.Start(t, "", broker.Options{Grace: time.Hour}, server.Options{Limits: server.Limits{WriteTimeout: 500 * time.Millisecond}})
	const n, size = 2000, 16 << 10
	fillQueue(t, sw.Broker, "q", n, size)
	c := rawConsumer(t, sw, &net.Dialer{})
	defer c.Close()
	took := handedOutThenBack(t, sw.Broker, n, "pushed down the stream")
	t.Logf("a stream that stopped reading was dropped after %v; all %d messages are back in the queue", took, n)
	closedBy(t, c)
}

// TestSendsToAConsumerThatStopsReading: messages sent to a queue whose
// consumer asked for pushes and stopped reading do not hold up their
// sender. The stream's reader that carries the sends pushes to the
// consumer itself only when that cannot wait (server/push.go); with the
// write timeout at an hour, a reader that waited for the consumer's
// connection would stall the producer's sends past their deadline.
// Every message is accounted for, and all go back once the consumer's
// connection is gone.
func TestSendsToAConsumerThatStopsReading(t *testing.T) {
	sw := switchtest.Start(t, "", broker.Options{Grace: time.Hour}, server.Options{Limits: server.Limits{WriteTimeout: time.Hour}})
	const n, size = 1000, 16 << 10 // 16 MB: far more than the sockets buffer
	if err := sw.Broker.CreateQueue(nil, "q"); err != nil {
		t.Fatal(err)
	}
	c := rawConsumer(t, sw, smallReceiveBuffer())
	producer := switchtest.Client(t, sw.Addr, lib.Options{ClientID: "producer"})
	payload := make([]byte, size)
	for i := range n {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		_, err := producer.Send(ctx, "q", lib.Message{Payload: payload})
		cancel()
		if err != nil {
			t.Fatalf("send %d of %d to the queue of a consumer that stopped reading: %v", i+1, n, err)
		}
	}
	qi, err := sw.Broker.Info("q")
	if err != nil {
		t.Fatal(err)
	}
	if qi.Depth+qi.InFlight != n || qi.InFlight == 0 {
		t.Fatalf("after %d sends: %d ready and %d in flight; want some in flight, %d in all", n, qi.Depth, qi.InFlight, n)
	}
	t.Logf("all %d sends answered; %d messages pushed to the consumer that stopped reading, %d ready", n, qi.InFlight, qi.Depth)
	c.Close()
	testutil.Eventually(t, "the pushed messages go back", func() bool {
		qi, _ := sw.Broker.Info("q")
		return qi.InFlight == 0 && qi.Depth == n
	})
}

// rawConsumer opens a raw stream dialed by d, subscribes its session to
// queue q and asks for pushes with the largest window; it reads nothing.
func rawConsumer(t *testing.T, sw *switchtest.Switch, d *net.Dialer) net.Conn {
	t.Helper()
	c, token := openRawSessionDialed(t, sw.Addr, d)
	sess, err := sw.Broker.Session(token)
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Broker.Subscribe(sess, []string{"q"}); err != nil {
		t.Fatal(err)
	}
	c.Write(wire.AppendStreamRequest(nil, &wire.StreamRequest{Op: wire.StreamConsume, ID: 1, Arg: wire.MaxConsumeWindow}, 0))
	return c
}

// smallReceiveBuffer dials connections with a 4 KiB receive buffer.
func smallReceiveBuffer() *net.Dialer {
	return &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
}

// TestLongPollReaderThatStopsReading: a client that asks for messages
// over HTTP and never reads the answer is cut off by the write timeout,
// and what it was given goes back to the queue at once, deliverable to
// another client, not when its session ends (an hour here).
func TestLongPollReaderThatStopsReading(t *testing.T) {
	// A 32 MiB answer, and a reader whose receive buffer is small: more
	// than the socket buffers hold (the switch's can grow to 4 MiB).
	const n, size = 256, 128 << 10
	sw := switchtest.Start(t, "", broker.Options{Grace: time.Hour, MaxTransferBytes: n * size},
		server.Options{Limits: server.Limits{WriteTimeout: 500 * time.Millisecond}})
	fillQueue(t, sw.Broker, "q", n, size)
	resp, err := http.Post("http://"+sw.Addr+wire.PathSession, wire.ContentTypeJSON, strings.NewReader(`{"client_id":"raw"}`))
	if err != nil {
		t.Fatal(err)
	}
	var login wire.LoginResponse
	json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	sess, err := sw.Broker.Session(login.Session)
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Broker.Subscribe(sess, []string{"q"}); err != nil {
		t.Fatal(err)
	}
	d := smallReceiveBuffer()
	c, err := d.Dial("tcp", sw.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := fmt.Sprintf(`{"max":%d,"timeout_ms":1000}`, n)
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s: %s\r\nAccept: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s",
		wire.PathTransfer, wire.HeaderSession, login.Session, wire.ContentTypeFrames, wire.ContentTypeJSON, len(body), body)
	took := handedOutThenBack(t, sw.Broker, n, "handed to the long-poll")
	t.Logf("a long-poll whose answer was not read was cut off after %v; all %d messages are back in the queue", took, n)
	other := switchtest.Client(t, sw.Addr, lib.Options{ClientID: "other"})
	if err := other.Subscribe(t.Context(), "q"); err != nil {
		t.Fatal(err)
	}
	got, err := other.Transfer(t.Context(), lib.TransferOptions{Max: 10, Timeout: 5 * time.Second})
	if err != nil || len(got) == 0 {
		t.Fatalf("another client takes the messages back: %d, %v", len(got), err)
	}
	if _, err := sw.Broker.Session(login.Session); err != nil {
		t.Fatalf("the reader's session should live on (only its messages go back): %v", err)
	}
}

// TestManyWaitingTransfers: a client that leaves transfer after
// transfer waiting on one stream gets 429 past the stream's bound, and
// the switch's goroutines stay bounded (100,000 made 100,011 before).
func TestManyWaitingTransfers(t *testing.T) {
	n := scale(100000, 3000)
	sw := switchtest.Start(t, "", broker.Options{}, server.Options{})
	c, token := openRawSession(t, sw.Addr)
	defer c.Close()
	sess, err := sw.Broker.Session(token)
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Broker.CreateQueue(nil, "empty"); err != nil {
		t.Fatal(err)
	}
	if err := sw.Broker.Subscribe(sess, []string{"empty"}); err != nil {
		t.Fatal(err)
	}
	g0 := runtime.NumGoroutine()
	body := []byte(`{"max":1,"timeout_ms":60000}`)
	go func() {
		var buf []byte
		for i := 1; i <= n; i++ {
			buf = wire.AppendStreamRequest(buf, &wire.StreamRequest{Op: wire.StreamTransfer, ID: uint64(i)}, len(body))
			buf = append(buf, body...)
			if len(buf) > 64<<10 || i == n {
				if _, err := c.Write(buf); err != nil {
					return
				}
				buf = buf[:0]
			}
		}
	}()
	br := bufio.NewReader(c)
	var lenBuf [4]byte
	limited := 0
	for limited < n-server.DefaultMaxWaitingPerStream {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		l, err := wire.ReadStreamLength(br, &lenBuf)
		if err != nil {
			t.Fatalf("after %d refusals: %v", limited, err)
		}
		f, err := wire.ReadStreamFrame(br, l, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, status, body, err := wire.ParseStreamAnswer(f)
		if err != nil || status != http.StatusTooManyRequests || !strings.Contains(string(body), wire.CodeLimit) {
			t.Fatalf("answer %d: %d %s %v; want 429 %s", limited+1, status, body, err, wire.CodeLimit)
		}
		limited++
	}
	g := runtime.NumGoroutine()
	t.Logf("%d transfers on one stream: %d waiting, %d refused with 429; goroutines %d → %d; RSS %.0f MiB", n, n-limited, limited, g0, g, rssMiB())
	if g > g0+server.DefaultMaxWaitingPerStream+100 {
		t.Errorf("%d goroutines for %d waiting transfers", g-g0, n-limited)
	}
}

// handedOutThenBack waits until some of queue q's messages are in flight
// (how, says handed) and then until all n are back in it, ready, and
// returns how long the second wait took.
func handedOutThenBack(t *testing.T, b *broker.Broker, n int, handed string) time.Duration {
	t.Helper()
	info := func() wire.QueueInfo {
		qi, err := b.Info("q")
		if err != nil {
			t.Fatal(err)
		}
		return qi
	}
	testutil.Eventually(t, "messages "+handed, func() bool { return info().InFlight > 0 })
	t.Logf("%s, and not read: %d in flight", handed, info().InFlight)
	start := time.Now()
	testutil.Eventually(t, "the messages go back", func() bool {
		qi := info()
		return qi.InFlight == 0 && qi.Depth == n
	})
	return time.Since(start).Round(time.Millisecond)
}

// fillQueue creates queue and sends it n messages of size bytes each.
func fillQueue(t *testing.T, b *broker.Broker, queue string, n, size int) {
	t.Helper()
	if err := b.CreateQueue(nil, queue); err != nil {
		t.Fatal(err)
	}
	ms := make([]wire.Message, n)
	for i := range ms {
		ms[i].Payload = make([]byte, size)
	}
	if _, err := b.Send(nil, queue, ms); err != nil {
		t.Fatal(err)
	}
}
