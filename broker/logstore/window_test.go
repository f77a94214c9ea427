package logstore

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"msw/internal/testutil"
)

// TestReplayAcrossWindows: replay reads files through a window of
// replayWindow bytes. Records that straddle its end, records larger than
// it, and a preallocated zero tail longer than it all replay as they
// were written; a tear inside a record larger than the window is cut.
func TestReplayAcrossWindows(t *testing.T) {
	mfs := newMemFS(1)
	prealloc := int64(3 * replayWindow)
	st := mustOpen(t, testDir, Options{Prealloc: prealloc, FS: mfs, CacheBytes: 64 << 20})
	b := newBroker(t, st)
	if err := b.CreateQueue(nil, "q"); err != nil {
		t.Fatal(err)
	}
	var want []string
	ends := []int64{written(st)}
	for i, size := range []int{100, 300 << 10, 7, 5 << 19, 300 << 10, 300 << 10, 1, 3 << 20, 300 << 10, 10} {
		p := fmt.Sprintf("%d:", i)
		p += strings.Repeat("x", max(0, size-len(p)))
		send(t, b, "q", p)
		want = append(want, p)
		ends = append(ends, written(st))
	}
	last := ends[len(ends)-1]
	testutil.Eventually(t, "zeros preallocated past a window after the records", func() bool {
		return int64(len(mfs.get(segPath))) > last+replayWindow
	})
	b.Close()
	st.Close()

	img := mfs.clone()
	st2 := mustOpen(t, testDir, Options{Prealloc: prealloc, FS: img, CacheBytes: 64 << 20})
	if got := payloadsOf(recoveredQueue(st2.Recovered(), "q")); got != strings.Join(want, " ") {
		t.Fatalf("recovered %d bytes of payloads, want %d", len(got), len(strings.Join(want, " ")))
	}
	if got := written(st2); got != last {
		t.Fatalf("appends go on at %d, want %d (the end of the records)", got, last)
	}
	st2.Close()

	// Torn inside the 3 MiB record, and inside the 2.5 MiB one.
	for _, k := range []int{8, 4} {
		cut := ends[k-1] + (ends[k]-ends[k-1])/2
		img := mfs.clone()
		img.set(segPath, slices.Clone(mfs.get(segPath)[:cut]))
		var logged logLines
		st3 := mustOpen(t, testDir, Options{Prealloc: prealloc, FS: img, Logf: logged.logf, CacheBytes: 64 << 20})
		if got := payloadsOf(recoveredQueue(st3.Recovered(), "q")); got != strings.Join(want[:k-1], " ") {
			t.Fatalf("cut at %d: recovered %d bytes of payloads, want %d", cut, len(got), len(strings.Join(want[:k-1], " ")))
		}
		if !strings.Contains(logged.String(), "torn write") {
			t.Fatalf("cut at %d: logged %q", cut, logged.String())
		}
		st3.Close()
	}
}

// TestReplayCorruptLengthAllocatesLittle: a torn record whose length
// field reads as nearly maxBody, followed by more than a window of
// garbage, makes replay read what the file holds, not allocate a
// gigabyte for it.
func TestReplayCorruptLengthAllocatesLittle(t *testing.T) {
	mfs, ends := writeLog(t, 5)
	data := slices.Clone(mfs.get(segPath)[:ends[5]])
	data = binary.LittleEndian.AppendUint32(data, maxBody-1)
	data = append(data, strings.Repeat("torn", replayWindow/2)...)
	mfs.set(segPath, data)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	st := mustOpen(t, testDir, Options{Prealloc: testPrealloc, FS: mfs})
	runtime.ReadMemStats(&after)
	if got := payloadsOf(recoveredQueue(st.Recovered(), "q")); got != "m1 m2 m3 m4 m5" {
		t.Fatalf("recovered %q", got)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
		t.Fatalf("replay allocated %d MiB", n>>20)
	}
}
