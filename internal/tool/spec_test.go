package tool_test

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"testing"

	"msw/internal/tool"
)

// TestSpec checks what --msw-spec tells the completion scripts: the
// operands' kinds from the usage text, and each option from the flag
// set, hidden ones left out.
func TestSpec(t *testing.T) {
	for _, tc := range []struct {
		usage    string
		operands []string
		repeat   bool
		afterEnd string
	}{
		{"\nUsage: t [options] QUEUE...\n\nText.\n", []string{tool.CompleteQueue}, true, ""},
		{"Usage: t [options] QUEUE ID...\n", []string{tool.CompleteQueue, ""}, true, ""},
		{"Usage: t [options] [PREFIX]\n", []string{tool.CompleteQueue}, false, ""},
		{"Usage: t [options] QUEUE -- PROG [ARGS...]\n       t [options] QUEUE\n", []string{tool.CompleteQueue}, false, tool.CompleteCommand},
		{"Usage: t [options]\n       t --shutdown [-s ADDR]\n", []string{}, false, ""},
	} {
		var out bytes.Buffer
		c := tool.NewCommand("t", tc.usage, &out, io.Discard)
		var sf tool.SwitchFlags
		c.Flags.StringP("file", "f", "", "read from `path`")
		c.Flags.BoolP("lines", "l", false, "lines")
		sf.Register(c.Flags, tool.DefaultWait)
		if ok, code := c.Parse([]string{"--" + tool.SpecFlag}, nil); ok || code != tool.ExitOK {
			t.Fatalf("--%s: ok %v, code %d", tool.SpecFlag, ok, code)
		}
		var s tool.Spec
		if err := json.Unmarshal(out.Bytes(), &s); err != nil {
			t.Fatalf("%q: %v", out.String(), err)
		}
		if !slices.Equal(s.Operands, tc.operands) || s.Repeat != tc.repeat || s.AfterEnd != tc.afterEnd {
			t.Errorf("%q: operands %q repeat %v after -- %q; want %q %v %q", tc.usage, s.Operands, s.Repeat, s.AfterEnd, tc.operands, tc.repeat, tc.afterEnd)
		}
		opts := map[string]tool.SpecOption{}
		for _, o := range s.Options {
			opts[o.Long] = o
		}
		if o := opts["file"]; o.Short != "f" || o.Arg != "PATH" || o.Complete != tool.CompleteFile {
			t.Errorf("--file: %+v", o)
		}
		if o := opts["lines"]; o.Short != "l" || o.Arg != "" {
			t.Errorf("--lines: %+v", o)
		}
		if o := opts["wait"]; !slices.Equal(o.Words, []string{"forever"}) {
			t.Errorf("--wait: %+v", o)
		}
		if _, ok := opts["help"]; !ok {
			t.Error("no --help")
		}
		if _, ok := opts[tool.SpecFlag]; ok {
			t.Errorf("the hidden --%s is listed", tool.SpecFlag)
		}
	}
}
