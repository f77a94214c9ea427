package compat_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"msw/broker"
	"msw/internal/compattest"
)

// BenchmarkOriginalRPC is one call of the original's RPC client to an
// original-style service, both over the compat socket: per call, a
// create, a request, the service's transfer, response and ack, and the
// caller's transfer and ack.
func BenchmarkOriginalRPC(b *testing.B) {
	e := start(b, broker.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- compattest.Serve(ctx, e.sock, "bench-server:1", "bench", 30, bytes.ToUpper) }()
	defer func() {
		cancel()
		<-done
	}()
	k, err := compattest.NewCaller(e.sock, "bench-caller:1")
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close()
	payload := []byte(`{"method":"Example.ping","params":[],"id":1}`)
	b.ResetTimer()
	for b.Loop() {
		if _, err := k.Call("bench", payload, 10*time.Second); err != nil {
			b.Fatal(err)
		}
	}
}
