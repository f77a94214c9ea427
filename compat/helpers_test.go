package compat_test

import (
	"context"
	"log"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"msw/broker"
	"msw/compat"
	"msw/internal/compattest"
	"msw/internal/switchtest"
	"msw/internal/testutil"
	"msw/server"
)

// env is a switch serving msw's protocol on one Unix socket and the
// original's on another, as msw-switch --listen unix:... --compat unix:...
type env struct {
	sw   *switchtest.Switch
	b    *broker.Broker
	sock string // the compat socket
	log  *testutil.Buffer
}

func start(t testing.TB, opts broker.Options) *env {
	t.Helper()
	dir := t.TempDir()
	sw := switchtest.Start(t, "unix:"+filepath.Join(dir, "msw.sock"), opts, server.Options{})
	e := &env{sw: sw, b: sw.Broker, sock: filepath.Join(dir, "ms.sock"), log: &testutil.Buffer{}}
	cs := compat.New(sw.Broker, sw.Server, compat.Options{Log: log.New(e.log, "", 0)})
	l, err := compat.Listen("unix:"+e.sock, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		cs.Serve(l)
		close(done)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cs.Shutdown(ctx)
		<-done
	})
	return e
}

func (e *env) dial(t *testing.T) *compattest.Conn {
	t.Helper()
	c, err := compattest.Dial(e.sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// login dials and logs in with token.
func (e *env) login(t *testing.T, token string) *compattest.Conn {
	t.Helper()
	c := e.dial(t)
	ok(t, c, "GET", "/login/"+token, "")
	return c
}

// ok sends a request and returns the body of its 200 answer.
func ok(t *testing.T, c *compattest.Conn, method, path, body string) string {
	t.Helper()
	b, err := c.Ok(method, path, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// exact sends raw request bytes and checks the answer: the status, the
// body byte for byte, a Content-Length, and never Connection: close.
func exact(t *testing.T, c *compattest.Conn, req string, status int, body string) {
	t.Helper()
	resp, got, err := c.Raw([]byte(req))
	if err != nil {
		t.Fatalf("%q: %v", firstLine(req), err)
	}
	if resp.StatusCode != status || string(got) != body {
		t.Errorf("%q: %d %q; want %d %q", firstLine(req), resp.StatusCode, got, status, body)
	}
	checkFraming(t, req, resp, got)
}

func checkFraming(t *testing.T, req string, resp *http.Response, body []byte) {
	t.Helper()
	if resp.Header.Get("Content-Length") == "" || resp.ContentLength != int64(len(body)) {
		t.Errorf("%q: Content-Length %q for %d bytes", firstLine(req), resp.Header.Get("Content-Length"), len(body))
	}
	if resp.Close || strings.EqualFold(resp.Header.Get("Connection"), "close") {
		t.Errorf("%q: the answer closes the connection", firstLine(req))
	}
}

func firstLine(req string) string {
	line, _, _ := strings.Cut(req, "\r\n")
	return line
}

// live adds the headers every live client sends (Go requires Host) to a
// request line and its headers, as the link-test bytes lack them.
func live(req string) string {
	return strings.Replace(req, "\r\n", "\r\nhost: localhost\r\n", 1)
}
