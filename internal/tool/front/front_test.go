package front

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"msw/internal/tool"
)

// plugin writes an msw-NAME shell script into a directory that becomes
// PATH for the test, and returns the directory.
func plugin(t *testing.T, name, script string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "msw-"+name), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+"/usr/bin:/bin")
	return dir
}

// TestRunPassesStreamsAndStatus runs msw's body with streams that are
// not the process's own, where msw runs the command as a child: what the
// command reads, writes and exits with is what msw does.
func TestRunPassesStreamsAndStatus(t *testing.T) {
	plugin(t, "echo", `cat; echo "args: $*"; echo oops >&2; exit 7`)
	var stdout, stderr bytes.Buffer
	code := Run([]string{"echo", "a", "b c"}, strings.NewReader("in\n"), &stdout, &stderr)
	if code != 7 || stdout.String() != "in\nargs: a b c\n" || stderr.String() != "oops\n" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 7, %q, %q", code, stdout.String(), stderr.String(), "in\nargs: a b c\n", "oops\n")
	}
}

// TestRunReportsDeathBySignal checks that a command killed by a signal
// makes msw exit as a shell reports it: 128 + the signal.
func TestRunReportsDeathBySignal(t *testing.T) {
	plugin(t, "die", `kill -TERM $$`)
	code := Run([]string{"die"}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	if code != 128+15 {
		t.Errorf("exit %d; want %d", code, 128+15)
	}
}

func TestNearest(t *testing.T) {
	names := []string{"send", "recv", "serve", "ls", "rm", "help", "completion", "hello"}
	for typed, want := range map[string]string{
		"sned":    "send",
		"recieve": "",
		"recive":  "recv",
		"sl":      "ls",
		"lss":     "ls",
		"comp":    "completion",
		"hallo":   "hello",
		"x":       "",
		"zzzzz":   "",
	} {
		if got := nearest(typed, names); got != want {
			t.Errorf("nearest(%q) = %q; want %q", typed, got, want)
		}
	}
}

func TestCompletionUsage(t *testing.T) {
	for _, args := range [][]string{{"completion"}, {"completion", "tcsh"}, {"completion", "bash", "zsh"}} {
		var stderr bytes.Buffer
		if code := Run(args, nil, &bytes.Buffer{}, &stderr); code != tool.ExitUsage || !strings.HasPrefix(stderr.String(), "msw: completion: ") {
			t.Errorf("%q: exit %d, stderr %q; want a usage error", args, code, stderr.String())
		}
	}
}
