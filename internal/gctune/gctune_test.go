package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"

	"msw/internal/testutil"
)

func TestPercentFor(t *testing.T) {
	for _, c := range []struct {
		live, headroom uint64
		want           int
	}{
		{1 << 20, 64 << 20, 1600},   // below the runtime's 4 MiB floor: as if 4 MiB
		{16 << 20, 64 << 20, 400},   // 16 + 64 MiB
		{32 << 20, 64 << 20, 200},   // 32 + 64 MiB
		{64 << 20, 64 << 20, 100},   // twice live: Go's default
		{1 << 30, 64 << 20, 100},    // a large heap keeps the default
		{0, 64 << 20, 1600},         // nothing live yet
		{1, 1 << 50, maxPercent},    // bounded
		{100 << 20, 150 << 20, 150}, // rounded up
	} {
		if got := percentFor(c.live, c.headroom); got != c.want {
			t.Errorf("percentFor(%d, %d) = %d, want %d", c.live, c.headroom, got, c.want)
		}
	}
}

// gogc is the collector's percentage now.
func gogc() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// withGOGC sets the GOGC environment variable and the collector's
// percentage for the test, the percentage put back after it.
func withGOGC(t *testing.T, env string, percent int) {
	t.Setenv("GOGC", env)
	prev := debug.SetGCPercent(percent)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
}

// liveHeap returns n bytes, written, for the caller to keep live.
func liveHeap(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func TestStartRaisesThePercentageAndStopPutsItBack(t *testing.T) {
	withGOGC(t, "", 100)
	stop := Start(64 << 20)
	runtime.GC()
	// A test binary's live heap is a few MiB at most.
	testutil.Eventually(t, "the percentage raised after a collection", func() bool {
		runtime.GC()
		return gogc() >= 400
	})
	// Each collection sets it again from what it found live.
	live := liveHeap(48 << 20)
	testutil.Eventually(t, "the percentage lowered after a collection found 48 MiB live", func() bool {
		runtime.GC()
		return gogc() < 200
	})
	runtime.KeepAlive(live)
	live = nil
	testutil.Eventually(t, "the percentage raised again once the 48 MiB are garbage", func() bool {
		runtime.GC()
		return gogc() >= 400
	})
	Start(64 << 20)() // a second Start's stop does nothing: the first tuning runs on
	if p := gogc(); p < 400 {
		t.Fatalf("percentage %d after a second Start's stop, want the first tuning's", p)
	}
	stop()
	if p := gogc(); p != 100 {
		t.Fatalf("percentage %d after stop, want 100 back", p)
	}
	runtime.GC()
	runtime.GC()
	if p := gogc(); p != 100 {
		t.Fatalf("percentage %d after stop and collections, want 100", p)
	}
}

func TestAnOperatorsGOGCIsLeftAlone(t *testing.T) {
	withGOGC(t, "150", 150)
	stop := Start(64 << 20)
	defer stop()
	runtime.GC()
	runtime.GC()
	if p := gogc(); p != 150 {
		t.Fatalf("percentage %d with GOGC=150 set, want 150", p)
	}
}

func TestALargeLiveHeapKeepsTheDefault(t *testing.T) {
	withGOGC(t, "", 100)
	live := liveHeap(32 << 20)
	stop := Start(8 << 20)
	defer stop()
	for range 3 {
		runtime.GC()
	}
	if p := gogc(); p != 100 {
		t.Fatalf("percentage %d with 32 MiB live and 8 MiB of headroom, want 100", p)
	}
	runtime.KeepAlive(live)
}
