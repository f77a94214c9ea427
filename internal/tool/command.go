// Package tool holds what the bodies of the msw commands share: exit
// codes, flag parsing and -h text, how to reach the switch, and output
// helpers. Each command's body is a package of its own below this one
// (tool/send, tool/recv, ...), a function taking its arguments and
// streams and returning an exit code; its main package only calls it,
// and the end-to-end tests run it through testscript. This package
// imports only lib, internal/wire and internal/version, so that no
// client links the switch.
package tool

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"msw/lib"
)

// Exit codes shared by every msw command.
const (
	ExitOK          = 0   // success
	ExitFailure     = 1   // the operation failed (the message says why)
	ExitUsage       = 2   // bad flags or arguments
	ExitUnreachable = 69  // the switch could not be reached (EX_UNAVAILABLE)
	ExitTimeout     = 124 // a --timeout passed, as timeout(1) does
	ExitInterrupted = 130 // interrupted by Ctrl-C (SIGINT); 143 for SIGTERM
)

// Command is what every command body shares: its name and streams.
type Command struct {
	Name   string
	Stdout io.Writer
	Stderr io.Writer
	Flags  *pflag.FlagSet

	usageText string
	version   bool // --version was given
	wantSpec  bool // --msw-spec was given
}

// NewCommand builds a Command with a flag set whose -h prints the given
// usage text (synopsis, description, then the options) and which takes
// --version.
func NewCommand(name, usage string, stdout, stderr io.Writer) *Command {
	c := &Command{Name: name, Stdout: stdout, Stderr: stderr}
	c.Flags = pflag.NewFlagSet(name, pflag.ContinueOnError)
	c.Flags.SetOutput(io.Discard)
	c.Flags.Usage = func() {}
	c.Flags.SortFlags = false
	c.Flags.BoolVar(&c.version, "version", false, "print the version and exit")
	c.Flags.BoolVar(&c.wantSpec, SpecFlag, false, "print the command line's description for completion, as JSON")
	c.Flags.MarkHidden(SpecFlag)
	c.usageText = usage
	return c
}

// UsageError reports a usage mistake in one line, with a pointer to -h.
func (c *Command) UsageError(format string, args ...any) int {
	fmt.Fprintf(c.Stderr, "%s: %s\n", c.Name, fmt.Sprintf(format, args...))
	fmt.Fprintf(c.Stderr, "Try '%s -h' for help.\n", c.Name)
	return ExitUsage
}

// Fail reports err in one line and returns the exit code it maps to. An
// operation a signal cut short is reported as "interrupted".
func (c *Command) Fail(err error) int {
	code := ExitCode(err)
	if code >= 128 {
		err = ErrInterrupted
	}
	fmt.Fprintf(c.Stderr, "%s: %s\n", c.Name, err)
	return code
}

// Failf reports a failure in one line and returns ExitFailure.
func (c *Command) Failf(format string, args ...any) int {
	fmt.Fprintf(c.Stderr, "%s: %s\n", c.Name, fmt.Sprintf(format, args...))
	return ExitFailure
}

// ExitCode maps an error to the documented exit code.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case Interrupted() && (errors.Is(err, context.Canceled) || errors.Is(err, ErrInterrupted)):
		return InterruptStatus()
	case errors.Is(err, lib.ErrUnreachable):
		return ExitUnreachable
	case errors.Is(err, context.DeadlineExceeded):
		return ExitTimeout
	}
	return ExitFailure
}
