package logstore

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// segPath is the first segment of a log in testDir.
var segPath = testDir + "/" + fileName(segID(1))

// writeLog makes a log of n single-message sends to queue q on a memFS
// and returns it with the end offset of each record.
func writeLog(t *testing.T, n int) (*memFS, []int64) {
	t.Helper()
	mfs := newMemFS(1)
	st := mustOpen(t, testDir, Options{FS: mfs})
	b := newBroker(t, st)
	if err := b.CreateQueue(nil, "q"); err != nil {
		t.Fatal(err)
	}
	ends := []int64{int64(len(mfs.get(segPath)))}
	for i := range n {
		send(t, b, "q", fmt.Sprintf("m%d", i+1))
		ends = append(ends, int64(len(mfs.get(segPath))))
	}
	return mfs, ends
}

func TestTornTailOpensOnTheLongestValidPrefix(t *testing.T) {
	mfs, ends := writeLog(t, 5)
	data := mfs.get(segPath)
	// Every cut inside the last three records.
	for cut := ends[2]; cut < int64(len(data)); cut++ {
		img := mfs.clone()
		img.set(segPath, data[:cut])
		var logged logLines
		st, err := Open(testDir, Options{FS: img, Logf: logged.logf})
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
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
			t.Errorf("cut at %d: recovered %q, want %q", cut, got, want)
		}
		onBoundary := cut == ends[whole]
		if cutLogged := strings.Contains(logged.String(), "torn write"); cutLogged == onBoundary {
			t.Errorf("cut at %d: logged %q", cut, logged.String())
		}
		st.Close()
		if got := int64(len(img.get(segPath))); got != ends[whole] {
			t.Errorf("cut at %d: file left at %d bytes, want %d", cut, got, ends[whole])
		}
	}
}

func TestCorruptRecordRefusesToOpenAndRepairCutsThere(t *testing.T) {
	mfs, ends := writeLog(t, 5)
	data := mfs.get(segPath)
	data[ends[2]+frameHeader+3]++ // inside the third message's record
	mfs.set(segPath, data)

	_, err := Open(testDir, Options{FS: mfs.clone()})
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.File != segPath || ce.Offset != ends[2] {
		t.Fatalf("open of a corrupt log: %v, want a CorruptError at %s offset %d", err, segPath, ends[2])
	}
	if msg := err.Error(); !strings.Contains(msg, segPath) || !strings.Contains(msg, fmt.Sprintf("offset %d", ends[2])) || !strings.Contains(msg, "--repair") {
		t.Fatalf("error does not name file, offset and the way out: %s", msg)
	}

	var logged logLines
	st := mustOpen(t, testDir, Options{FS: mfs, Repair: true, Logf: logged.logf})
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
	st := mustOpen(t, testDir, Options{FS: mfs, SegmentSize: 256})
	b := newBroker(t, st)
	if err := b.CreateQueue(nil, "q"); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		send(t, b, "q", strings.Repeat("x", 40)+fmt.Sprint(i))
	}
	data := mfs.get(segPath)
	mfs.set(segPath, data[:len(data)-3]) // the end of a full segment lost
	_, err := Open(testDir, Options{FS: mfs.clone()})
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.File != segPath || !strings.Contains(ce.Drops, fileName(segID(2))) {
		t.Fatalf("open: %v, want corruption in %s, dropping the later files", err, segPath)
	}
}
