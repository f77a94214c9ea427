package tool_test

import (
	"io"
	"slices"
	"strings"
	"testing"

	"msw/internal/tool"
)

// parseCase is a command with the kinds of options the commands have:
// a long one taking a value, short switches, a short one taking a value.
type parseCase struct {
	body           string
	lines, verbose bool
	n              int
}

func newParseCase(stderr io.Writer) (*tool.Command, *parseCase) {
	c := tool.NewCommand("test", "Usage: test\n", io.Discard, stderr)
	p := &parseCase{}
	c.Flags.StringVar(&p.body, "body", "", "")
	c.Flags.BoolVarP(&p.lines, "lines", "l", false, "")
	c.Flags.BoolVarP(&p.verbose, "verbose", "v", false, "")
	c.Flags.IntVarP(&p.n, "count", "n", 0, "")
	return c, p
}

func TestParseInterleaved(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		pos, rest []string
		dashdash  bool
		want      parseCase
	}{
		{args: []string{"foo", "--body", "hello"}, pos: []string{"foo"}, want: parseCase{body: "hello"}},
		{args: []string{"--body", "hello", "foo"}, pos: []string{"foo"}, want: parseCase{body: "hello"}},
		{args: []string{"--body=a=b", "foo"}, pos: []string{"foo"}, want: parseCase{body: "a=b"}},
		{args: []string{"foo", "--body", "--"}, pos: []string{"foo"}, want: parseCase{body: "--"}},
		{args: []string{"foo", "--body", "-l"}, pos: []string{"foo"}, want: parseCase{body: "-l"}},
		{args: []string{"-l", "foo"}, pos: []string{"foo"}, want: parseCase{lines: true}},
		{args: []string{"foo", "-l", "-v"}, pos: []string{"foo"}, want: parseCase{lines: true, verbose: true}},
		{args: []string{"foo", "-lv"}, pos: []string{"foo"}, want: parseCase{lines: true, verbose: true}},
		{args: []string{"foo", "-vn3"}, pos: []string{"foo"}, want: parseCase{verbose: true, n: 3}},
		{args: []string{"-n1", "foo"}, pos: []string{"foo"}, want: parseCase{n: 1}},
		{args: []string{"foo", "-n", "2"}, pos: []string{"foo"}, want: parseCase{n: 2}},
		{args: []string{"foo", "--count=4", "--lines"}, pos: []string{"foo"}, want: parseCase{n: 4, lines: true}},
		{args: []string{"-", "foo"}, pos: []string{"-", "foo"}},
		// Single-dash long names, as the commands took them before.
		{args: []string{"-body", "x", "-lines", "foo"}, pos: []string{"foo"}, want: parseCase{body: "x", lines: true}},
		{args: []string{"-count=5", "foo"}, pos: []string{"foo"}, want: parseCase{n: 5}},
		{args: []string{"--body", "-lines", "foo"}, pos: []string{"foo"}, want: parseCase{body: "-lines"}},
		{args: []string{"-n", "-5", "foo"}, pos: []string{"foo"}, want: parseCase{n: -5}},
		{args: []string{"q", "-l", "--", "prog", "-l", "--body", "x"}, pos: []string{"q"}, want: parseCase{lines: true},
			dashdash: true, rest: []string{"prog", "-l", "--body", "x"}},
		{args: []string{"q", "--", "-lines"}, pos: []string{"q"}, dashdash: true, rest: []string{"-lines"}},
		{args: []string{"q", "--"}, pos: []string{"q"}, dashdash: true, rest: []string{}},
	} {
		c, got := newParseCase(io.Discard)
		pos, rest, dd, ok, code := c.ParseInterleaved(tc.args, nil)
		if !ok {
			t.Errorf("%q: not ok (code %d)", tc.args, code)
			continue
		}
		if !slices.Equal(pos, tc.pos) || !slices.Equal(rest, tc.rest) || dd != tc.dashdash || *got != tc.want {
			t.Errorf("%q: got pos %q rest %q dashdash %v options %+v; want %q %q %v %+v",
				tc.args, pos, rest, dd, *got, tc.pos, tc.rest, tc.dashdash, tc.want)
		}
	}
}

// TestParseErrorsEchoTheOption checks that a usage error names the
// option as it was typed.
func TestParseErrorsEchoTheOption(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"foo", "--body"}, "test: option --body needs a value\n"},
		{[]string{"foo", "-n"}, "test: option -n needs a value\n"},
		{[]string{"foo", "-vn"}, "test: option -n needs a value\n"},
		{[]string{"foo", "--nope"}, "test: unknown option --nope\n"},
		{[]string{"foo", "-x"}, "test: unknown option -x\n"},
		{[]string{"foo", "-vx"}, "test: unknown option -x\n"},
		{[]string{"foo", "--count", "many"}, `test: invalid value "many" for --count: must be an integer` + "\n"},
		{[]string{"foo", "-n", "many"}, `test: invalid value "many" for -n: must be an integer` + "\n"},
		{[]string{"foo", "-nmany"}, `test: invalid value "many" for -n: must be an integer` + "\n"},
	} {
		var stderr strings.Builder
		c, _ := newParseCase(&stderr)
		ok, code := c.Parse(tc.args, nil)
		want := tc.want + "Try 'test -h' for help.\n"
		if ok || code != tool.ExitUsage || stderr.String() != want {
			t.Errorf("%q: ok %v code %d stderr %q; want usage error %q", tc.args, ok, code, stderr.String(), want)
		}
	}
}
