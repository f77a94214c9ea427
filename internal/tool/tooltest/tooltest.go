// Package tooltest is what the tests of the command bodies share: a
// switch in the test process, a client of it, and a way to run a body
// with strings for its streams.
package tooltest

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"msw/broker"
	"msw/internal/switchtest"
	"msw/lib"
	"msw/server"
)

// Switch runs a switch in the test process on a free loopback port
// and returns its address.
func Switch(tb testing.TB, opts broker.Options) string {
	return switchtest.Start(tb, "", opts, server.Options{}).Addr
}

// Client is a client of the switch at addr named id, closed when the
// test ends.
func Client(tb testing.TB, addr, id string) *lib.Client {
	return switchtest.Client(tb, addr, lib.Options{ClientID: id})
}

// Start runs a switch as Switch does, and returns its address, a client
// of it named id, and a context for the test's requests that ends after
// 20 seconds (a hung switch fails the test instead of hanging it) or
// with the test.
func Start(t *testing.T, id string) (addr string, cl *lib.Client, ctx context.Context) {
	addr = Switch(t, broker.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return addr, Client(t, addr, id), ctx
}

// Run runs a command body with empty standard input and returns its exit
// code, standard output and standard error.
func Run(body func([]string, io.Reader, io.Writer, io.Writer) int, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = body(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}
