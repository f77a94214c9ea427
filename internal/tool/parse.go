package tool

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"msw/internal/version"
)

// Parse parses args GNU-style: short options cluster (-fv) and take
// their value attached (-n1, -t1s) or as the next argument, long ones
// take it after '=' or as the next argument, options may follow the
// operands, and "--" ends the options. It returns ok=false, with the
// exit code to return, when the command should stop: after -h (the
// usage text, then the options in groups), --version, --msw-spec, or a
// usage error.
func (c *Command) Parse(args []string, groups []OptionGroup) (ok bool, code int) {
	args = singleDashLong(c.Flags, args)
	err := c.Flags.Parse(args)
	switch {
	case err == nil && c.wantSpec:
		c.writeSpec()
		return false, ExitOK
	case err == nil && c.version:
		fmt.Fprintf(c.Stdout, "%s %s\n", c.Name, version.String())
		return false, ExitOK
	case err == nil:
		return true, ExitOK
	case errors.Is(err, pflag.ErrHelp):
		c.writeUsage(groups)
		return false, ExitOK
	}
	return false, c.UsageError("%s", optionError(err, args))
}

// ParseInterleaved is Parse for commands that take arguments after
// "--" (msw-serve QUEUE -- PROG ARGS): it returns the operands before
// "--" and, if there was one, what follows it.
func (c *Command) ParseInterleaved(args []string, groups []OptionGroup) (pos, rest []string, dashdash, ok bool, code int) {
	if ok, code := c.Parse(args, groups); !ok {
		return nil, nil, false, false, code
	}
	pos = c.Flags.Args()
	if at := c.Flags.ArgsLenAtDash(); at >= 0 {
		return pos[:at:at], pos[at:], true, true, ExitOK
	}
	return pos, nil, false, true, ExitOK
}

// singleDashLong returns args with each long option written with one
// dash (-listen, -json=true), as the commands took them before they
// became GNU-style, written with two. A word that names no long option
// is left alone, and so are option values and everything after "--".
func singleDashLong(fs *pflag.FlagSet, args []string) []string {
	out := args
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			if a == "--" {
				break
			}
			continue
		}
		if a[1] == '-' { // --name: skip its value if it takes one
			name, _, hasValue := strings.Cut(a[2:], "=")
			if f := fs.Lookup(name); f != nil && !hasValue && f.NoOptDefVal == "" {
				i++
			}
			continue
		}
		name, _, hasValue := strings.Cut(a[1:], "=")
		if f := fs.Lookup(name); f != nil && len(name) > 1 {
			if &out[0] == &args[0] {
				out = append([]string(nil), args...)
			}
			out[i] = "-" + a
			if !hasValue && f.NoOptDefVal == "" {
				i++
			}
			continue
		}
		// A cluster of short options: the first that takes a value
		// takes the rest of the word, or the next word.
		for j := 1; j < len(a); j++ {
			f := fs.ShorthandLookup(a[j : j+1])
			if f == nil || f.NoOptDefVal != "" {
				continue
			}
			if j == len(a)-1 {
				i++
			}
			break
		}
	}
	return out
}

// optionError words a parse error in the terms the user typed.
func optionError(err error, args []string) string {
	var notExist *pflag.NotExistError
	var noValue *pflag.ValueRequiredError
	var badValue *pflag.InvalidValueError
	var badSyntax *pflag.InvalidSyntaxError
	switch {
	case errors.As(err, &notExist):
		return "unknown option " + asTyped(notExist.GetSpecifiedName(), notExist.GetSpecifiedShortnames())
	case errors.As(err, &noValue):
		return "option " + asTyped(noValue.GetSpecifiedName(), noValue.GetSpecifiedShortnames()) + " needs a value"
	case errors.As(err, &badValue):
		f := badValue.GetFlag()
		return fmt.Sprintf("invalid value %q for %s: %v", badValue.GetValue(), typedName(f, args), errors.Unwrap(badValue))
	case errors.As(err, &badSyntax):
		return "bad option syntax " + badSyntax.GetSpecifiedFlag()
	}
	return err.Error()
}

// asTyped names an option as it appeared: --name, or -x alone or
// within a cluster of short options.
func asTyped(name, shorts string) string {
	if shorts == "" {
		return "--" + name
	}
	return "-" + name
}

// typedName finds how the option f was written on the command line: its
// long name if the user wrote that, else its short one.
func typedName(f *pflag.Flag, args []string) string {
	long := "--" + f.Name
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == long || strings.HasPrefix(a, long+"=") {
			return long
		}
	}
	if f.Shorthand != "" {
		return "-" + f.Shorthand
	}
	return long
}
