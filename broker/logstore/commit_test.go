package logstore

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"msw/broker"
	"msw/internal/testutil"
)

// Many senders at once, with the store's own writes and syncs (its tick's)
// running all the time beside their rounds: every wait ends, and none
// before its record is synced.
func TestConcurrentWaitsAllEnd(t *testing.T) {
	st := mustOpen(t, testDir, Options{Prealloc: -1, FS: newMemFS(1)})
	if _, err := st.CreateQueue("q", 1); err != nil {
		t.Fatal(err)
	}
	var id atomic.Uint64
	var wg sync.WaitGroup
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			default:
				st.flushAll()
			}
		}
	}()
	defer func() { close(stop); <-stopped }()
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for range 200 {
				c, err := st.Append("q", []broker.StoredMessage{{ID: id.Add(1), Payload: []byte("m")}})
				if err == nil {
					err = st.Wait(c)
				}
				if err == nil && st.syncedA.Load() < uint64(c) {
					t.Errorf("commit %d answered, synced only to %d", c, st.syncedA.Load())
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("senders still waiting")
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
