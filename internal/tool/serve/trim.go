package serve

import (
	"runtime/debug"
	"sync"
	"time"
)

// Memory after large messages: a request or reply of many MiB grows the
// heap, and the runtime gives such memory back to the system only
// slowly. A long-running msw-serve that answered one large request would
// keep its peak size for good; after one, it gives the memory back.
const (
	trimAbove = 1 << 20                // a message larger than this is large
	trimAfter = 500 * time.Millisecond // time for the reply to be sent first
)

// trimmer gives free memory back to the system a little after a large
// message, once for any number that come together.
type trimmer struct {
	mu      sync.Mutex
	pending bool
}

// large notes a message of n bytes.
func (t *trimmer) large(n int) {
	if n <= trimAbove {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending {
		return
	}
	t.pending = true
	time.AfterFunc(trimAfter, func() {
		t.mu.Lock()
		t.pending = false
		t.mu.Unlock()
		debug.FreeOSMemory()
	})
}
