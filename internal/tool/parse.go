package tool

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"msw/internal/version"
)

// Parse parses args. It returns ok=false, with the exit code to return,
// when the command should stop: after -h (the usage text, then the
// options in groups), --version, or a usage error.
func (c *Command) Parse(args []string, groups []OptionGroup) (ok bool, code int) {
	err := c.Flags.Parse(args)
	switch {
	case err == nil && c.version:
		fmt.Fprintf(c.Stdout, "%s %s\n", c.Name, version.String())
		return false, ExitOK
	case err == nil:
		return true, ExitOK
	case errors.Is(err, flag.ErrHelp):
		c.writeUsage(groups)
		return false, ExitOK
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		msg = "unknown option " + rest
	}
	return false, c.UsageError("%s", msg)
}

// ParseInterleaved is Parse for arguments whose options may come
// before, between or after the positional arguments (msw-call foo --body
// hello). It stops at "--" and returns the positional arguments and, if
// there was a "--", what follows it.
func (c *Command) ParseInterleaved(args []string, groups []OptionGroup) (pos, rest []string, dashdash, ok bool, code int) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return pos, args[i+1:], true, true, ExitOK
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		n := 1
		if f := c.Flags.Lookup(name); f != nil && !hasValue && !isBoolFlag(f) && i+1 < len(args) {
			n = 2
		}
		if ok, code := c.Parse(args[i:i+n], groups); !ok {
			return nil, nil, false, false, code
		}
		i += n - 1
	}
	return pos, nil, false, true, ExitOK
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
