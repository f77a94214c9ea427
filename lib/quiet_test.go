package lib_test

import (
	"context"
	"testing"

	"msw/broker"
	"msw/internal/switchtest"
	"msw/lib"
)

// A call whose request the switch refuses (too large) fails with the
// switch's error at once: the request goes quietly, and the refusal is
// the only answer it gets.
func TestCallRefusedRequestFails(t *testing.T) {
	sw := switchtest.Start(t, "", broker.Options{MaxPayload: 1000}, switchLog(t))
	c := rpcClient(t, sw.Addr)
	ctx := context.Background()
	// No server: a refusal must not leave the call waiting for a reply.
	if _, err := c.Call(ctx, "svc", make([]byte, 2000)); !lib.IsCode(err, lib.CodeTooLarge) {
		t.Fatalf("call with an oversize request: %v, want %s", err, lib.CodeTooLarge)
	}
	// The caller goes on working.
	rpcServe(t, c, "svc", lib.ServeOptions{}, rpcEcho)
	if got, err := c.Call(ctx, "svc", []byte("ok")); err != nil || string(got) != "ok" {
		t.Fatalf("call after a refusal: %q, %v", got, err)
	}
}
