package logstore

import (
	"errors"
	"strings"
	"testing"

	"msw/broker"
	"msw/internal/wire"
)

func TestFullDiskRefusesSendsKeepsDataAndRecovers(t *testing.T) {
	mfs := newMemFS(1)
	st := mustOpen(t, testDir, Options{Prealloc: testPrealloc, FS: mfs, SegmentSize: 1 << 20})
	b := newBroker(t, st)
	if err := b.CreateQueue(nil, "q"); err != nil {
		t.Fatal(err)
	}
	send(t, b, "q", "before1", "before2")
	mfs.mu.Lock()
	mfs.limit = mfs.used() + 100
	mfs.mu.Unlock()

	// Larger than the room preallocated: it needs new space.
	big := strings.Repeat("x", 4*testPrealloc)
	_, err := b.Send(nil, "q", []wire.Message{{Payload: []byte("fits")}, {Payload: []byte(big)}})
	if !errors.Is(err, broker.ErrStorageFull) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("send to a full disk: %v, want %v naming the cause", err, broker.ErrStorageFull)
	}
	if !strings.HasPrefix(st.Stats().Failed, "storage full") {
		t.Fatalf("stats after the failure: %+v", st.Stats())
	}
	if got := depth(t, b, "q"); got != 2 {
		t.Fatalf("refused messages are queued: depth %d, want 2", got)
	}
	// Small records still fit, and are accepted: the half-written one
	// was cut off.
	send(t, b, "q", "small")

	// Space returns: sends are accepted again.
	mfs.mu.Lock()
	mfs.limit = 0
	mfs.mu.Unlock()
	send(t, b, "q", big)
	if st.Stats().Failed != "" {
		t.Fatalf("still failed after space returned: %q", st.Stats().Failed)
	}

	img := mfs.crash()
	st2 := mustOpen(t, testDir, Options{Prealloc: testPrealloc, FS: img})
	q := recoveredQueue(st2.Recovered(), "q")
	if got, want := payloadsOf(q), "before1 before2 small "+big; got != want {
		t.Fatalf("after restart: %q, want %q", got, want)
	}
}

func depth(t *testing.T, b *broker.Broker, queue string) int {
	t.Helper()
	qi, err := b.Info(queue)
	if err != nil {
		t.Fatal(err)
	}
	return qi.Depth
}
