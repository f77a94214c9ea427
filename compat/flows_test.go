package compat_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"msw/broker"
	"msw/compat"
	"msw/internal/compattest"
	"msw/internal/switchtest"
	"msw/internal/testutil"
	"msw/lib"
)

// The original's RPC flows over the compat socket, as its clients run
// them (login on each connection, a transient reply queue named after
// the token, request, transfer with a cursor, response, ack), against
// each other and against msw's own client library on msw's socket.

// serveOriginal runs an original-style service on queue until the test
// ends; it answers each request with its payload upper-cased.
func serveOriginal(t *testing.T, e *env, token, queue string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- compattest.Serve(ctx, e.sock, token, queue, 30, bytes.ToUpper) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("original service: %v", err)
		}
	})
}

func newCaller(t *testing.T, e *env, token string) *compattest.Caller {
	t.Helper()
	k, err := compattest.NewCaller(e.sock, token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	return k
}

// serveMsw runs msw's own server (as msw-serve does) on queue until the
// test ends, answering with "msw:" and the payload.
func serveMsw(t *testing.T, e *env, queue string) {
	t.Helper()
	cl := switchtest.Client(t, e.sw.Addr, lib.Options{ClientID: "msw-server"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- cl.Serve(ctx, queue, lib.ServeOptions{}, func(_ context.Context, r *lib.Request) ([]byte, error) {
			return append([]byte("msw:"), r.Payload...), nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("msw service: %v", err)
		}
	})
	testutil.Eventually(t, "msw server subscribed to "+queue, func() bool {
		for _, s := range e.b.Snapshot(0).Sessions {
			if s.ClientID == "msw-server" && slices.Contains(s.Subscribed, queue) {
				return true
			}
		}
		return false
	})
}

func TestOriginalCallerToOriginalService(t *testing.T) {
	e := start(t, broker.Options{})
	serveOriginal(t, e, "main.exe:22203", "org.xen.xapi.example")
	k := newCaller(t, e, "main.exe:21869")
	for i := range 3 {
		got, err := k.Call("org.xen.xapi.example", fmt.Appendf(nil, `{"method":"Example.ping","id":%d}`, i), 10*time.Second)
		if want := fmt.Sprintf(`{"METHOD":"EXAMPLE.PING","ID":%d}`, i); err != nil || string(got) != want {
			t.Fatalf("call %d = %q, %v; want %s", i, got, err, want)
		}
	}
	// Every request and response was acked.
	for _, q := range []string{"org.xen.xapi.example", "main.exe:21869"} {
		testutil.Eventually(t, q+" empty", func() bool {
			qi, err := e.b.Info(q)
			return err == nil && qi.Depth == 0 && qi.InFlight == 0
		})
	}
	// /metrics counts them like any other.
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Host = "localhost"
	rec := httptest.NewRecorder()
	e.sw.Server.Handler().ServeHTTP(rec, req)
	for _, line := range []string{
		`msw_queue_subscribers{queue="org.xen.xapi.example"} 1`,
		`msw_queue_depth{queue="org.xen.xapi.example"} 0`,
		"msw_messages_sent_total 6",
		"msw_messages_acked_total 6",
		"msw_sessions 2",
		"msw_connections 4",
	} {
		if !strings.Contains(rec.Body.String(), "\n"+line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}

func TestOriginalCallerToMswServe(t *testing.T) {
	e := start(t, broker.Options{})
	serveMsw(t, e, "svc")
	k := newCaller(t, e, "xapi:1234")
	for i := range 3 {
		payload := fmt.Sprintf("request %d", i)
		got, err := k.Call("svc", []byte(payload), 10*time.Second)
		if err != nil || string(got) != "msw:"+payload {
			t.Fatalf("call %d = %q, %v", i, got, err)
		}
	}
}

func TestMswCallToOriginalService(t *testing.T) {
	e := start(t, broker.Options{})
	serveOriginal(t, e, "xenopsd:77", "org.xen.xapi.xenops.classic")
	testutil.Eventually(t, "the original service polling", func() bool {
		qi, err := e.b.Info("org.xen.xapi.xenops.classic")
		return err == nil && qi.Subscribers == 1
	})
	cl := switchtest.Client(t, e.sw.Addr, lib.Options{ClientID: "msw-caller"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 3 {
		got, err := cl.Call(ctx, "org.xen.xapi.xenops.classic", fmt.Appendf(nil, "vm.start %d", i))
		if want := fmt.Sprintf("VM.START %d", i); err != nil || string(got) != want {
			t.Fatalf("call %d = %q, %v; want %s", i, got, err, want)
		}
	}
	testutil.Eventually(t, "requests acked", func() bool {
		qi, err := e.b.Info("org.xen.xapi.xenops.classic")
		return err == nil && qi.Depth == 0 && qi.InFlight == 0
	})
}

func TestTransientQueuesGoWithTheLastConnection(t *testing.T) {
	e := start(t, broker.Options{Grace: 50 * time.Millisecond})
	k, err := compattest.NewCaller(e.sock, "message-cli:4242")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if _, err := e.b.Info("message-cli:4242"); err != nil {
		t.Fatal(err)
	}
	connections := func(n int) func() bool {
		return func() bool {
			for _, s := range e.b.Snapshot(0).Sessions {
				if s.ClientID == "message-cli:4242" {
					return s.Connections == n
				}
			}
			return false
		}
	}
	testutil.Eventually(t, "one session with two connections", connections(2))
	k.Req.Close()
	testutil.Eventually(t, "one connection left", connections(1))
	if _, err := e.b.Info("message-cli:4242"); err != nil {
		t.Fatalf("reply queue gone with a connection still open: %v", err)
	}
	k.Events.Close()
	testutil.Eventually(t, "reply queue removed", func() bool {
		_, err := e.b.Info("message-cli:4242")
		return errors.Is(err, broker.ErrNoSuchQueue)
	})
}

// A client that goes while its Transfer waits is noticed at once: the
// Transfer ends, and the connection leaves the session.
func TestTransferEndsWhenItsClientGoes(t *testing.T) {
	e := start(t, broker.Options{Grace: time.Minute})
	c := e.login(t, "gone:1")
	ok(t, c, "GET", "/persistent/q", "")
	ok(t, c, "GET", "/login/gone:1", "") // twice, as services do: still one connection
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Transfer(nil, 30, "q")
		done <- err
	}()
	testutil.Eventually(t, "the transfer polling q", func() bool {
		qi, err := e.b.Info("q")
		return err == nil && qi.Subscribers == 1 && !qi.LastTransfer.IsZero()
	})
	c.Close()
	<-done
	// The server drops a connection from its session only once the
	// request it was serving has returned.
	testutil.Eventually(t, "the connection dropped", func() bool {
		for _, s := range e.b.Snapshot(0).Sessions {
			if s.ClientID == "gone:1" {
				return s.Connections == 0
			}
		}
		return false
	})
}

// POST /shutdown, from a client that logged in, asks the switch to stop
// (after answering); without a login it is refused.
func TestShutdown(t *testing.T) {
	e := start(t, broker.Options{})
	asked := make(chan struct{})
	cs := compat.New(e.b, e.sw.Server, compat.Options{OnShutdown: func() { close(asked) }})
	sock := filepath.Join(t.TempDir(), "s.sock")
	l, err := compat.Listen(sock, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	go cs.Serve(l)
	t.Cleanup(func() { cs.Shutdown(t.Context()) })
	c, err := compattest.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exact(t, c, string(compattest.Request("POST", "/shutdown", nil)), 404, "Please log in.")
	ok(t, c, "GET", "/login/message-cli:1", "")
	exact(t, c, string(compattest.Request("POST", "/shutdown", nil)), 200, "")
	select {
	case <-asked:
	case <-time.After(10 * time.Second):
		t.Fatal("OnShutdown not called")
	}
}
