//go:build norpclib

package main

import (
	"context"
	"errors"

	"msw/lib"
)

var errNoRPC = errors.New("lib.Call/lib.Serve not in this tree yet (built with -tags norpclib)")

func mswCall(ctx context.Context, c *lib.Client, queue string, payload []byte) ([]byte, error) {
	return nil, errNoRPC
}

func startMswServer(sw *mswSwitch, transport, queue string, n int) (stop func(), err error) {
	return nil, errNoRPC
}
