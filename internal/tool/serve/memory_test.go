package serve

import (
	"bytes"
	"context"
	"io"
	"runtime/metrics"
	"testing"

	"msw/internal/testutil"
	"msw/lib"
)

// heapFree is the heap memory this process holds from the system but
// does not use.
func heapFree() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestServeGivesMemoryBack: after a large request and its reply, the
// memory they took goes back to the system, not held for the next.
func TestServeGivesMemoryBack(t *testing.T) {
	p := newServeProgram([]string{"/bin/cat"}, "127.0.0.1:1", 0, io.Discard)
	payload := bytes.Repeat([]byte("x"), 48<<20)
	req := &lib.Request{Queue: "q", CorrelationID: "c1", ReplyTo: "r", ID: 1, DeliveryCount: 1, Payload: payload}
	out, err := p.handle(context.Background(), req)
	if err != nil || len(out) != len(payload) {
		t.Fatalf("reply of %d bytes, %v", len(out), err)
	}
	req, payload, out = nil, nil, nil
	testutil.Eventually(t, "the heap's free memory going back under 16 MiB", func() bool {
		return heapFree() < 16<<20
	})
}
