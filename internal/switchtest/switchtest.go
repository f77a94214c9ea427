// Package switchtest runs a switch inside a test process, on a free
// loopback port or a Unix socket, for the tests of the library, the
// server and the commands.
package switchtest

import (
	"context"
	"log"
	"net"
	"sync"
	"testing"
	"time"

	"msw/broker"
	"msw/internal/testutil"
	"msw/internal/wire"
	"msw/lib"
	"msw/server"
)

// Switch is a switch serving in the test process.
type Switch struct {
	// Addr is the address clients give: host:port or unix:/path.
	Addr string
	// Broker is the switch's core, for tests that look inside.
	Broker *broker.Broker
	// Server is the switch's HTTP server, for listeners served beside it.
	Server *server.Server

	srv  *server.Server
	done chan struct{}
	once sync.Once
}

// Start serves a fresh broker on listen ("" for a free loopback port, or
// unix:/path) until the test ends or Stop is called. Unless sopts has a
// log, the switch logs to the test's log.
func Start(tb testing.TB, listen string, opts broker.Options, sopts server.Options) *Switch {
	tb.Helper()
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	if sopts.Log == nil {
		sopts.Log = log.New(testutil.LogWriter(tb, "switch: "), "", 0)
	}
	b := broker.New(opts)
	srv := server.New(b, sopts)
	l, err := server.Listen(listen, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	sw := &Switch{Addr: l.Addr().String(), Broker: b, Server: srv, srv: srv, done: make(chan struct{})}
	if ua, ok := l.Addr().(*net.UnixAddr); ok {
		sw.Addr = wire.Addr{Network: "unix", Address: ua.Name}.String()
	} else if sopts.TLS != nil {
		sw.Addr = "https://" + sw.Addr
	}
	go func() {
		srv.Serve(l)
		close(sw.done)
	}()
	tb.Cleanup(sw.Stop)
	return sw
}

// Stop shuts the switch down, as msw-switch does on SIGTERM, and waits
// until it no longer serves. Calling it again does nothing.
func (sw *Switch) Stop() {
	sw.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		sw.srv.Shutdown(ctx)
		<-sw.done
	})
}

// Client returns a library client for addr with the given options (Addr
// is set from addr), closed when the test ends.
func Client(tb testing.TB, addr string, o lib.Options) *lib.Client {
	tb.Helper()
	o.Addr = addr
	c, err := lib.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}
