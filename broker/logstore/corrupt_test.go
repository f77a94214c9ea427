package logstore

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"msw/internal/testutil"
)

// segPath is the first segment of a log in testDir.
var segPath = testDir + "/" + fileName(segID(1))

// writeLog makes a log of n single-message sends to queue q on a memFS
// and returns it with the end offset of each record.
func writeLog(t *testing.T, n int) (*memFS, []int64) {
	t.Helper()
	mfs := newMemFS(1)
	st := mustOpen(t, testDir, Options{Prealloc: testPrealloc, FS: mfs})
	b := newBroker(t, st)
	if err := b.CreateQueue(nil, "q"); err != nil {
		t.Fatal(err)
	}
	ends := []int64{written(st)}
	for i := range n {
		send(t, b, "q", fmt.Sprintf("m%d", i+1))
		ends = append(ends, written(st))
	}
	testutil.Eventually(t, "the segment preallocated after its records", func() bool {
		return int64(len(mfs.get(segPath))) > ends[n]
	})
	return mfs, ends
}

func TestTornTailOpensOnTheLongestValidPrefix(t *testing.T) {
	mfs, ends := writeLog(t, 5)
	file := mfs.get(segPath)
	data := file[:ends[len(ends)-1]]
	if len(file) <= len(data) || !zeros(file[len(data):]) {
		t.Fatalf("segment of %d bytes, records end at %d: want preallocated zeros after them", len(file), len(data))
	}
	// Every cut inside the last three records: the file ends there, or
	// (preallocated) zeros follow from there, as when a write into the
	// preallocated room was torn.
	for _, zeros := range []bool{false, true} {
		for cut := ends[2]; cut < int64(len(data)); cut++ {
			tornTail(t, mfs, ends, data, cut, zeros, len(file))
		}
	}
}

// tornTail opens mfs's log with its segment cut at cut (data: the
// records), followed by zeros to size bytes if zeros, and checks it
// opens on the records whole before cut.
func tornTail(t *testing.T, mfs *memFS, ends []int64, data []byte, cut int64, zeros bool, size int) {
	t.Helper()
	img := mfs.clone()
	torn := data[:cut]
	if zeros {
		torn = append(slices.Clone(torn), make([]byte, size-int(cut))...)
	}
	img.set(segPath, torn)
	var logged logLines
	st, err := Open(testDir, Options{Prealloc: testPrealloc, FS: img, Logf: logged.logf})
	if err != nil {
		t.Fatalf("cut at %d (zeros after: %v): %v", cut, zeros, err)
	}
	whole := 0
	for i, e := range ends {
		if e <= cut {
			whole = i
		}
	}
	var want []string
	for i := 1; i <= whole; i++ {
		want = append(want, fmt.Sprintf("m%d", i))
	}
	if got := payloadsOf(recoveredQueue(st.Recovered(), "q")); got != strings.Join(want, " ") {
		t.Errorf("cut at %d (zeros after: %v): recovered %q, want %q", cut, zeros, got, want)
	}
	onBoundary := cut == ends[whole]
	if cutLogged := strings.Contains(logged.String(), "torn write"); cutLogged == onBoundary {
		t.Errorf("cut at %d (zeros after: %v): logged %q", cut, zeros, logged.String())
	}
	st.Close()
	if got := int64(len(img.get(segPath))); got != ends[whole] {
		t.Errorf("cut at %d (zeros after: %v): file left at %d bytes, want %d", cut, zeros, got, ends[whole])
	}
}

func TestCorruptRecordRefusesToOpenAndRepairCutsThere(t *testing.T) {
	mfs, ends := writeLog(t, 5)
	data := mfs.get(segPath)
	data[ends[2]+frameHeader+3]++ // inside the third message's record
	mfs.set(segPath, data)

	_, err := Open(testDir, Options{Prealloc: testPrealloc, FS: mfs.clone()})
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.File != segPath || ce.Offset != ends[2] {
		t.Fatalf("open of a corrupt log: %v, want a CorruptError at %s offset %d", err, segPath, ends[2])
	}
	if msg := err.Error(); !strings.Contains(msg, segPath) || !strings.Contains(msg, fmt.Sprintf("offset %d", ends[2])) || !strings.Contains(msg, "--repair") {
		t.Fatalf("error does not name file, offset and the way out: %s", msg)
	}

	var logged logLines
	st := mustOpen(t, testDir, Options{Prealloc: testPrealloc, FS: mfs, Repair: true, Logf: logged.logf})
	if got := payloadsOf(recoveredQueue(st.Recovered(), "q")); got != "m1 m2" {
		t.Fatalf("after repair: %q, want m1 m2", got)
	}
	want := fmt.Sprintf("repair: %s: corrupt record at offset %d (record checksum mismatch): dropping %d bytes", segPath, ends[2], int64(len(data))-ends[2])
	if logged.String() != want {
		t.Fatalf("repair logged %q, want %q", logged.String(), want)
	}
}

func TestCorruptionInAnEarlierFileIsNeverATornTail(t *testing.T) {
	mfs := newMemFS(1)
	st := mustOpen(t, testDir, Options{Prealloc: testPrealloc, FS: mfs, SegmentSize: 256})
	b := newBroker(t, st)
	if err := b.CreateQueue(nil, "q"); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		send(t, b, "q", strings.Repeat("x", 40)+fmt.Sprint(i))
	}
	data := mfs.get(segPath)
	mfs.set(segPath, data[:len(data)-3]) // the end of a full segment lost
	_, err := Open(testDir, Options{Prealloc: testPrealloc, FS: mfs.clone()})
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.File != segPath || !strings.Contains(ce.Drops, fileName(segID(2))) {
		t.Fatalf("open: %v, want corruption in %s, dropping the later files", err, segPath)
	}
}
