package lib_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"msw/lib"
)

// TestCallsWithPayloadsOfEverySize: requests and replies from an empty
// payload to several MiB, from four callers at once so that large and
// small frames share the switch's write buffers, come back byte for byte.
// (A payload larger than the room left in a stream's write buffer is
// written from the message itself, after its frame's head.)
func TestCallsWithPayloadsOfEverySize(t *testing.T) {
	sw := rpcSwitch(t, "127.0.0.1:0")
	rpcServe(t, rpcClient(t, sw.Addr), "echo", lib.ServeOptions{Concurrency: 2, Prefetch: 4}, func(ctx context.Context, req *lib.Request) ([]byte, error) {
		return req.Payload, nil
	})
	c := rpcClient(t, sw.Addr)
	sizes := []int{0, 1, 100, 32<<10 - 1, 32 << 10, 32<<10 + 1, 100 << 10, 1<<20 + 3, 4<<20 + 100<<10, 5 << 20}
	var wg sync.WaitGroup
	for caller := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(caller), 1))
			fill := rand.NewChaCha8([32]byte{byte(caller)})
			for round := range 2 {
				for _, i := range rng.Perm(len(sizes)) {
					p := make([]byte, sizes[i])
					fill.Read(p)
					got, err := c.Call(context.Background(), "echo", p)
					if err != nil {
						t.Errorf("caller %d, round %d, %d bytes: %v", caller, round, len(p), err)
						return
					}
					if !bytes.Equal(got, p) {
						t.Errorf("caller %d, round %d: %d bytes sent, %s came back", caller, round, len(p), describe(got, p))
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// describe says how got differs from want.
func describe(got, want []byte) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d bytes", len(got))
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Sprintf("the same length, differing first at byte %d", i)
		}
	}
	return "the same bytes"
}
