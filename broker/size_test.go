package broker

import (
	"testing"
	"unsafe"
)

// TestMessageSize guards the per-message overhead: a queued message's
// header must stay at 56 bytes (the payload shares one allocation with the
// correlation id and reply-to).
func TestMessageSize(t *testing.T) {
	if got := unsafe.Sizeof(message{}); got != 56 {
		t.Errorf("unsafe.Sizeof(message{}) = %d; want 56", got)
	}
}
