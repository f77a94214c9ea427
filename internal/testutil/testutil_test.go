package testutil

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestWithin(t *testing.T) {
	var n atomic.Int32
	if !Within(time.Second, func() bool { return n.Add(1) == 5 }) {
		t.Fatal("Within gave up on a condition that comes true at the fifth poll")
	}
	if Within(20*time.Millisecond, func() bool { return false }) {
		t.Fatal("Within(20ms, false) = true; want false")
	}
}

// recorder is a testing.TB that keeps what is logged.
type recorder struct {
	testing.TB
	lines []string
}

func (r *recorder) Log(args ...any)       { r.lines = append(r.lines, args[0].(string)) }
func (r *recorder) Cleanup(func())        {}
func (r *recorder) Helper()               {}
func (r *recorder) Fatalf(string, ...any) {}

func TestLogWriterSplitsLines(t *testing.T) {
	r := &recorder{TB: t}
	w := LogWriter(r, "switch: ")
	w.Write([]byte("one\ntw"))
	w.Write([]byte("o\nthree"))
	want := []string{"switch: one", "switch: two"}
	if len(r.lines) != len(want) || r.lines[0] != want[0] || r.lines[1] != want[1] {
		t.Fatalf("logged %q; want %q", r.lines, want)
	}
}
