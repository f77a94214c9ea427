package main

import (
	"context"

	"msw/lib"
)

// mswCall is one library call.
func mswCall(ctx context.Context, c *lib.Client, queue string, payload []byte) ([]byte, error) {
	return c.Call(ctx, queue, payload)
}

// startMswServer serves queue as opts say, answering each
// payload with handle's answer, from a client of its own, until stop is
// called.
func startMswServer(sw *mswSwitch, transport, queue string, opts lib.ServeOptions, handle func([]byte) []byte) (stop func(), err error) {
	c := sw.client(transport)
	if err := c.CreateQueue(context.Background(), queue); err != nil {
		c.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Serve(ctx, queue, opts, func(ctx context.Context, req *lib.Request) ([]byte, error) {
			return handle(req.Payload), nil
		})
	}()
	return func() {
		cancel()
		<-done
		c.Close()
	}, nil
}
