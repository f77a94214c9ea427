package compat_test

import (
	"log"
	"net"
	"strings"
	"testing"
	"time"

	"msw/broker"
	"msw/compat"
	"msw/internal/compattest"
	"msw/internal/testutil"
)

// Clients that reset their connections or stop halfway through a request
// (daemons restarting) are ordinary closes: the switch neither crashes
// nor logs a line for each, and goes on serving everyone else.
func TestResetsAndHalfWrittenRequests(t *testing.T) {
	e := start(t, broker.Options{Grace: 10 * time.Millisecond})
	tcp, err := compat.Listen("127.0.0.1:0", 0)
	if err != nil {
		t.Fatal(err)
	}
	cs := compat.New(e.b, e.sw.Server, compat.Options{Log: log.New(e.log, "", 0)})
	go cs.Serve(tcp)
	t.Cleanup(func() { cs.Shutdown(t.Context()) })

	full := string(compattest.Request("POST", "/transfer", []byte(`{"timeout":30.0,"queues":["q"]}`)))
	login := string(compattest.Request("GET", "/login/restarting:1", nil))
	abuse := []string{
		"GET /login/x HTTP/1.1\r\n",            // a request line and nothing more
		"GET /login/x HTTP/1.1\r\nhost: local", // cut inside a header
		login + full[:len(full)-5],             // a body cut short
		login + full,                           // a long-poll, then gone
		login + strings.Repeat(login, 20),      // pipelined, answers unread
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc", // not HTTP at all
	}
	dials := map[string]func() (net.Conn, error){
		"unix": func() (net.Conn, error) { return net.Dial("unix", e.sock) },
		"tcp":  func() (net.Conn, error) { return net.Dial("tcp", tcp.Addr().String()) },
	}
	for name, dial := range dials {
		for round := 0; round < 20; round++ {
			for _, req := range abuse {
				c, err := dial()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				c.Write([]byte(req))
				if tc, ok := c.(*net.TCPConn); ok && round%2 == 0 {
					tc.SetLinger(0) // close with a reset
				}
				c.Close()
			}
		}
	}
	// Still serving, and nothing logged.
	c := e.login(t, "after:1")
	ok(t, c, "GET", "/persistent/q", "")
	if got := ok(t, c, "GET", "/list/", ""); got != `["q"]` {
		t.Fatalf("list after the resets = %s", got)
	}
	testutil.Eventually(t, "the resetting clients' sessions ended", func() bool {
		for _, s := range e.b.Snapshot(0).Sessions {
			if s.ClientID == "restarting:1" {
				return false
			}
		}
		return true
	})
	if log := e.log.String(); log != "" {
		t.Errorf("the switch logged:\n%s", log)
	}
}
