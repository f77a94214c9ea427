package serve

import (
	"fmt"
	"strings"
	"testing"
)

func TestStderrLines(t *testing.T) {
	var out strings.Builder
	s := &stderrLines{prefix: "c1: ", w: &out}
	fmt.Fprint(s, "one\ntw")
	fmt.Fprint(s, "o\n")
	for i := 3; i <= 14; i++ {
		fmt.Fprintf(s, "line %d\n", i)
	}
	fmt.Fprint(s, "unfinished")
	s.flush()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 15 || lines[0] != "c1: one" || lines[1] != "c1: two" || lines[14] != "c1: unfinished" {
		t.Fatalf("copied stderr:\n%s", out.String())
	}
	want := "line 6\nline 7\nline 8\nline 9\nline 10\nline 11\nline 12\nline 13\nline 14\nunfinished\n"
	if got := s.text(); got != want {
		t.Fatalf("tail kept:\n%q\nwant\n%q", got, want)
	}
}

func TestStderrLinesLongLine(t *testing.T) {
	var out strings.Builder
	s := &stderrLines{prefix: "p: ", w: &out}
	fmt.Fprint(s, strings.Repeat("x", 3*serveTailBytes))
	s.flush()
	if n := strings.Count(out.String(), "\n"); n < 2 {
		t.Fatalf("a very long line should go out in pieces; got %d lines", n)
	}
	if len(s.text()) > serveTailBytes*2 {
		t.Fatalf("kept %d bytes of tail", len(s.text()))
	}
}
