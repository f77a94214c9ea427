package tool_test

import (
	"io"
	"slices"
	"strings"
	"testing"

	"msw/internal/tool"
)

func TestParseInterleaved(t *testing.T) {
	for _, tc := range []struct {
		args           []string
		pos, rest      []string
		dashdash       bool
		body           string
		lines, verbose bool
	}{
		{args: []string{"foo", "--body", "hello"}, pos: []string{"foo"}, body: "hello"},
		{args: []string{"--body", "hello", "foo"}, pos: []string{"foo"}, body: "hello"},
		{args: []string{"--body=a=b", "foo"}, pos: []string{"foo"}, body: "a=b"},
		{args: []string{"foo", "--body", "--"}, pos: []string{"foo"}, body: "--"},
		{args: []string{"foo", "--body", "-l"}, pos: []string{"foo"}, body: "-l"},
		{args: []string{"-l", "foo"}, pos: []string{"foo"}, lines: true},
		{args: []string{"foo", "-l", "-v"}, pos: []string{"foo"}, lines: true, verbose: true},
		{args: []string{"-", "foo"}, pos: []string{"-", "foo"}},
		{args: []string{"q", "-l", "--", "prog", "-l", "--body", "x"}, pos: []string{"q"}, lines: true,
			dashdash: true, rest: []string{"prog", "-l", "--body", "x"}},
		{args: []string{"q", "--"}, pos: []string{"q"}, dashdash: true, rest: []string{}},
	} {
		c := tool.NewCommand("test", "Usage: test\n", io.Discard, io.Discard)
		var body string
		var lines, verbose bool
		c.Flags.StringVar(&body, "body", "", "")
		c.Flags.BoolVar(&lines, "l", false, "")
		c.Flags.BoolVar(&verbose, "v", false, "")
		pos, rest, dd, ok, code := c.ParseInterleaved(tc.args, nil)
		if !ok {
			t.Errorf("%q: not ok (code %d)", tc.args, code)
			continue
		}
		if !slices.Equal(pos, tc.pos) || !slices.Equal(rest, tc.rest) || dd != tc.dashdash ||
			body != tc.body || lines != tc.lines || verbose != tc.verbose {
			t.Errorf("%q: got pos %q rest %q dashdash %v body %q -l %v -v %v", tc.args, pos, rest, dd, body, lines, verbose)
		}
	}
}

func TestParseInterleavedErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"foo", "--body"}, "flag needs an argument: -body"},
		{[]string{"foo", "--nope"}, "unknown option -nope"},
	} {
		var stderr strings.Builder
		c := tool.NewCommand("test", "Usage: test\n", io.Discard, &stderr)
		c.Flags.String("body", "", "")
		_, _, _, ok, code := c.ParseInterleaved(tc.args, nil)
		if ok || code != tool.ExitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: ok %v code %d stderr %q; want usage error %q", tc.args, ok, code, stderr.String(), tc.want)
		}
	}
}
