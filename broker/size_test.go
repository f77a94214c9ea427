package broker

import (
	"runtime"
	"testing"
	"unsafe"

	"msw/internal/wire"
)

// TestMessageSize guards the per-message overhead: a queued message's
// slot must stay at 32 bytes (the fields fixed at the send share one
// allocation with the payload, see message.go).
func TestMessageSize(t *testing.T) {
	if got := unsafe.Sizeof(message{}); got != 32 {
		t.Errorf("unsafe.Sizeof(message{}) = %d; want 32", got)
	}
}

// TestQueuedMessageBytes measures the heap a queued 100-byte message
// costs above its payload: its slot (32 bytes) and the rounding of its
// record, header included, to the 112-byte size class (12 bytes), with
// the deque's chunks leaving next to nothing unused.
func TestQueuedMessageBytes(t *testing.T) {
	const n = 100_000
	b := New(Options{TraceSize: -1})
	b.CreateQueue(nil, "q")
	ms := make([]wire.Message, 1000)
	for i := range ms {
		ms[i].Payload = make([]byte, 100)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n / len(ms) {
		if _, err := b.Send(nil, "q", ms); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(b)
	per := float64(after.HeapAlloc-before.HeapAlloc)/n - 100
	t.Logf("%.1f B per queued 100-byte message above its payload", per)
	if per > 50 {
		t.Errorf("a queued 100-byte message costs %.1f B above its payload; want at most 50", per)
	}
}
