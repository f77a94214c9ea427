package ls

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"msw/internal/tool"
	"msw/lib"
)

func TestQueueAge(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		ago  time.Duration
		want string
	}{
		{0, "0s"},
		{-time.Second, "0s"}, // a clock a little ahead
		{999 * time.Millisecond, "0s"},
		{59 * time.Second, "59s"},
		{61 * time.Second, "1m01s"},
		{time.Hour - time.Second, "59m59s"},
		{time.Hour + 2*time.Minute + 3*time.Second, "1h02m"},
		{49*time.Hour + 30*time.Minute, "2d01h"},
	} {
		if got := queueAge(now, now.Add(-tc.ago)); got != tc.want {
			t.Errorf("%s ago: %q, want %q", tc.ago, got, tc.want)
		}
	}
	if got := queueAge(now, time.Time{}); got != "-" {
		t.Errorf("never: %q", got)
	}
}

func TestQueueTable(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	qs := []lib.QueueInfo{
		{Name: "jobs", Kind: "persistent", Depth: 12, InFlight: 3, Subscribers: 2, OldestMessage: now.Add(-250 * time.Second), LastTransfer: now.Add(-2 * time.Second)},
		{Name: "tmp-0123456789abcdef", Kind: "transient", Owner: "x"},
	}
	var out bytes.Buffer
	if err := writeQueueTable(&out, qs, now); err != nil {
		t.Fatal(err)
	}
	want := `QUEUE                 KIND        DEPTH  IN FLIGHT  SUBSCRIBERS  OLDEST  LAST POLL
jobs                  persistent  12     3          2            4m10s   2s
tmp-0123456789abcdef  transient   0      0          0            -       -
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	out.Reset()
	writeQueueTable(&out, nil, now)
	if out.Len() != 0 {
		t.Errorf("no queues printed %q", out.String())
	}
}

func TestQueueNames(t *testing.T) {
	var out bytes.Buffer
	writeQueueNames(&out, []lib.QueueInfo{{Name: "a"}, {Name: "b.c"}})
	if out.String() != "a\nb.c\n" {
		t.Errorf("got %q", out.String())
	}
}

func TestLsNotATerminal(t *testing.T) {
	if writerIsTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is a terminal")
	}
}

func TestLsUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"a", "b["}, tool.ExitUsage, "msw-ls: \"b[\": not a name or glob: syntax error in pattern\n"},
		{[]string{"-l", "--json"}, tool.ExitUsage, "msw-ls: -l and --json exclude each other\n"},
		{[]string{"--bogus"}, tool.ExitUsage, "msw-ls: unknown option --bogus\n"},
		{[]string{"-s", "127.0.0.1:1", "--wait", "0"}, tool.ExitUnreachable, "msw-ls: switch at 127.0.0.1:1 not reachable: connection refused\n"},
	} {
		var stdout, stderr bytes.Buffer
		code := Run(tc.args, nil, &stdout, &stderr)
		if code != tc.code || !strings.HasPrefix(stderr.String(), tc.msg) || stdout.Len() != 0 {
			t.Errorf("%q: exit %d, stderr %q; want %d, %q", tc.args, code, stderr.String(), tc.code, tc.msg)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"-h"}, nil, &stdout, &stderr); code != tool.ExitOK || strings.Contains(stdout.String(), "Other:") ||
		!strings.Contains(stdout.String(), "\nWhich queues:\n  -a, --all  ") {
		t.Errorf("-h: exit %d:\n%s", code, stdout.String())
	}
}
