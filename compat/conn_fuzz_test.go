package compat_test

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"msw/broker"
	"msw/internal/compattest"
)

// FuzzConn writes arbitrary bytes to a logged-in connection of the compat
// listener, as a client of the original protocol would send requests and
// their bodies: whatever the bytes, the listener never panics, and a new
// client can still log in and send afterwards.
func FuzzConn(f *testing.F) {
	req := func(method, path, body string) string { return string(compattest.Request(method, path, []byte(body))) }
	seeds := []string{
		req("GET", "/persistent/q", ""),
		req("POST", "/request/q/reply", "hello"),
		req("POST", "/response/q/reply/q%2F1", "answer"),
		req("POST", "/transfer", `{"from":"-1","timeout":0.01,"queues":["q"]}`),
		req("POST", "/transfer", `{"from":1e99,"timeout":"x","queues":["q"]}`),
		req("GET", "/ack/q/99999999999999999999", ""),
		req("GET", "/trace/-1/0.01", ""),
		req("GET", "/list/%", ""),
		req("GET", "/destroy/%2e%2e", ""),
		req("GET", "/", "") + req("GET", "/list/", ""),
		"POST /request/q/r HTTP/1.1\r\nContent-Length: 99999999999999\r\n\r\nabc",
		"POST /request/q/r HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\nabc",
		"GET /login/\x00\xff HTTP/1.1\r\n\r\n",
		"\r\n\r\n\r\n",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	e := start(f, broker.Options{MaxWait: 20 * time.Millisecond, MaxQueues: 1000, MaxSessions: 1000})
	f.Fuzz(func(t *testing.T, in string) {
		c, err := net.Dial("unix", e.sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		c.Write(compattest.Request("GET", "/login/fuzz", nil))
		c.Write([]byte(in))
		c.(*net.UnixConn).CloseWrite()
		io.Copy(io.Discard, c) // until the listener closes, or the deadline
		c.Close()

		cl := e.login(t, "after-fuzz")
		for _, r := range []struct{ method, path, body string }{
			{"GET", "/persistent/after-fuzz", ""}, {"POST", "/request/after-fuzz/r", "x"}, {"GET", "/destroy/after-fuzz", ""},
		} {
			if _, err := cl.Ok(r.method, r.path, []byte(r.body)); err != nil {
				t.Fatalf("after %q the listener does not serve %s %s: %v", in, r.method, r.path, err)
			}
		}
		if log := e.log.String(); strings.Contains(log, "panic") {
			t.Fatalf("after %q: %s", in, log)
		}
	})
}
