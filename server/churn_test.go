package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"msw/broker"
	"msw/internal/switchtest"
	"msw/internal/testutil"
	"msw/internal/wire"
	"msw/lib"
	"msw/server"
)

// openFDs counts this process's open file descriptors.
func openFDs() int {
	es, _ := os.ReadDir("/proc/self/fd")
	return len(es)
}

// TestChurn: clients open sessions with transient queues and vanish,
// half by closing, half by resetting their connection; afterwards
// queues, sessions, goroutines and file descriptors are back to where
// they were.
func TestChurn(t *testing.T) {
	n := scale(10000, 400)
	sw := switchtest.Start(t, "", broker.Options{Grace: 200 * time.Millisecond, TraceSize: -1}, server.Options{})
	caller := echo(t, sw.Addr)
	baseQueues, baseSessions := len(sw.Broker.List("", true)), len(sw.Broker.Snapshot(0).Sessions)
	http.DefaultClient.CloseIdleConnections()
	ignore := goleak.IgnoreCurrent()
	baseFDs := openFDs()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if i%2 == 0 {
				c, err := lib.New(lib.Options{Addr: sw.Addr, ClientID: "churn"})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := c.CreateTransient(ctx, ""); err != nil {
					t.Error(err)
				}
				c.Close()
				return
			}
			resetClient(t, sw.Addr, i)
		}()
	}
	wg.Wait()
	rpc(t, caller)
	testutil.Eventually(t, "queues and sessions back to their baseline", func() bool {
		return len(sw.Broker.List("", true)) == baseQueues && len(sw.Broker.Snapshot(0).Sessions) == baseSessions
	})
	testutil.Eventually(t, "file descriptors back to their baseline", func() bool { return openFDs() <= baseFDs })
	if err := goleak.Find(ignore); err != nil {
		t.Errorf("goroutines left behind: %v", err)
	}
	t.Logf("%d clients came and went (half closed, half reset): queues %d, sessions %d, fds %d, as before", n, baseQueues, baseSessions, baseFDs)
}

// resetClient logs in over a raw connection, makes a transient queue and
// a stream, and resets both connections.
func resetClient(t *testing.T, addr string, i int) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return
	}
	defer func() {
		c.(*net.TCPConn).SetLinger(0) // a reset, not a close
		c.Close()
	}()
	body := `{"client_id":"reset"}`
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", wire.PathSession, len(body), body)
	resp, err := http.ReadResponse(bufioReader(c), nil)
	if err != nil {
		t.Error(err)
		return
	}
	var login wire.LoginResponse
	json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	body = fmt.Sprintf(`{"name":"reset-%d"}`, i)
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", wire.PathTransient, wire.HeaderSession, login.Session, len(body), body)
	resp, err = http.ReadResponse(bufioReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("transient queue: %v %v", resp, err)
	}
}

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReaderSize(c, 4096) }
