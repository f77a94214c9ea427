package server_test

import (
	"net/http"
	"runtime"
	"testing"
	"time"

	"msw/broker"
	"msw/internal/switchtest"
	"msw/internal/testutil"
	"msw/internal/wire"
	"msw/server"
)

// heapHeld is the heap memory the process keeps from the system: in use,
// and free but not yet given back.
func heapHeld() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapSys - ms.HeapReleased
}

// TestMemoryGoesBackWhenQuiet: after a burst is deleted, a switch that
// gets no further request gives the memory back to the system (it kept
// 1.33 GB for 90 s until another request came).
func TestMemoryGoesBackWhenQuiet(t *testing.T) {
	sw := switchtest.Start(t, "", broker.Options{TraceSize: -1}, server.Options{})
	runtime.GC()
	before := heapHeld()
	if err := sw.Broker.CreateQueue(nil, "burst"); err != nil {
		t.Fatal(err)
	}
	ms := make([]wire.Message, 1000)
	for i := 0; i < 100; i++ {
		for j := range ms {
			ms[j].Payload = make([]byte, 1024)
		}
		if _, err := sw.Broker.Send(nil, "burst", ms); err != nil {
			t.Fatal(err)
		}
	}
	ms = nil
	runtime.GC() // the last collection found the burst live, as a switch's would
	peak := heapHeld()
	// The queue is deleted, and then nothing more comes: the switch
	// looks once it has been quiet a second, finds the burst's garbage
	// not yet collected, and must still give it back.
	req, _ := http.NewRequest("DELETE", "http://"+sw.Addr+wire.PathQueuePrefix+"burst", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	start := time.Now()
	testutil.Eventually(t, "the burst's memory goes back to the system", func() bool {
		return heapHeld() < before+32<<20
	})
	t.Logf("heap held from the system: %d MiB before, %d MiB at the burst, %d MiB %v after it was deleted",
		before>>20, peak>>20, heapHeld()>>20, time.Since(start).Round(100*time.Millisecond))
}
