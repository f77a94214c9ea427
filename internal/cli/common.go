// Package cli holds the body of every msw command. Each command is a
// function taking its arguments and streams and returning an exit code;
// its main package only calls it, and the end-to-end tests run it through
// testscript.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"msw/internal/wire"
	"msw/lib"
)

// Exit codes shared by every msw command.
const (
	ExitOK          = 0   // success
	ExitFailure     = 1   // the operation failed (the message says why)
	ExitUsage       = 2   // bad flags or arguments
	ExitUnreachable = 69  // the switch could not be reached (EX_UNAVAILABLE)
	ExitTimeout     = 124 // a --timeout passed, as timeout(1) does
)

// DefaultWait is how long one-shot commands wait for an unreachable switch.
const DefaultWait = 5 * time.Second

// command is what every command body shares: its name and streams.
type command struct {
	name   string
	stdout io.Writer
	stderr io.Writer
	flags  *flag.FlagSet

	usageText string
}

// newCommand builds a command with a flag set whose -h prints the given
// usage text (synopsis, description, then the options).
func newCommand(name, usage string, stdout, stderr io.Writer) *command {
	c := &command{name: name, stdout: stdout, stderr: stderr}
	c.flags = flag.NewFlagSet(name, flag.ContinueOnError)
	c.flags.SetOutput(io.Discard)
	c.flags.Usage = func() {}
	c.usageText = usage
	return c
}

// parse parses args; it returns ok=false with the exit code to return when
// the command should stop (after -h, or a usage error).
func (c *command) parse(args []string) (ok bool, code int) {
	err := c.flags.Parse(args)
	if err == nil {
		return true, 0
	}
	if errors.Is(err, flag.ErrHelp) {
		c.printUsage(c.stdout)
		return false, ExitOK
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		msg = "unknown option " + rest
	}
	return false, c.usageError("%s", msg)
}

func (c *command) printUsage(w io.Writer) {
	fmt.Fprint(w, strings.TrimLeft(c.usageText, "\n"))
	fmt.Fprintln(w, "\nOptions:")
	c.flags.SetOutput(w)
	c.flags.PrintDefaults()
	c.flags.SetOutput(io.Discard)
	fmt.Fprintf(w, "\nExit status: 0 success, 1 failure, 2 usage error, 69 switch unreachable, 124 timeout.\nSee %s(1).\n", c.name)
}

// usageError reports a usage mistake in one line, with a pointer to -h.
func (c *command) usageError(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "%s: %s\n", c.name, fmt.Sprintf(format, args...))
	fmt.Fprintf(c.stderr, "Try '%s -h' for help.\n", c.name)
	return ExitUsage
}

// fail reports err in one line and returns the exit code it maps to.
func (c *command) fail(err error) int {
	fmt.Fprintf(c.stderr, "%s: %s\n", c.name, err)
	return exitCode(err)
}

// failf reports a failure in one line and returns ExitFailure.
func (c *command) failf(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "%s: %s\n", c.name, fmt.Sprintf(format, args...))
	return ExitFailure
}

// exitCode maps an error to the documented exit code.
func exitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, lib.ErrUnreachable):
		return ExitUnreachable
	case errors.Is(err, context.DeadlineExceeded):
		return ExitTimeout
	}
	return ExitFailure
}

// switchFlags are the flags that say how to reach the switch.
type switchFlags struct {
	addr     string
	wait     waitValue
	clientID string
}

// register adds -s/--switch, --wait and --client-id. defaultWait is the
// command's own: short for one-shot commands, forever for services.
func (sf *switchFlags) register(fs *flag.FlagSet, defaultWait time.Duration) {
	def := os.Getenv(lib.EnvSwitch)
	if def == "" {
		def = lib.DefaultAddr
	}
	fs.StringVar(&sf.addr, "s", def, "switch `address`: host:port, http://host:port or unix:/path (env "+lib.EnvSwitch+")")
	fs.StringVar(&sf.addr, "switch", def, "same as -s")
	sf.wait = waitValue(defaultWait)
	fs.Var(&sf.wait, "wait", "how long to wait for an unreachable switch: a `duration` or 'forever'")
	fs.StringVar(&sf.clientID, "client-id", "", "name shown for this client in diagnostics (default program[pid]@host)")
}

// client returns a library client for the flags.
func (sf *switchFlags) client(name string) (*lib.Client, error) {
	id := sf.clientID
	if id == "" {
		host, _ := os.Hostname()
		id = wire.ClientID(name, os.Getpid(), host)
	}
	return lib.New(lib.Options{Addr: sf.addr, ClientID: id, Wait: time.Duration(sf.wait)})
}

// connect returns a client for the flags and a context that ends on
// SIGINT or SIGTERM; done closes the client and stops watching signals.
// The only error is a bad switch address, a usage error.
func (sf *switchFlags) connect(name string) (cl *lib.Client, ctx context.Context, done func(), err error) {
	cl, err = sf.client(name)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, stop := signalContext()
	return cl, ctx, func() { stop(); cl.Close() }, nil
}

// waitValue is a duration flag that also accepts "forever".
type waitValue time.Duration

func (w *waitValue) String() string {
	if time.Duration(*w) == lib.WaitForever {
		return "forever"
	}
	return time.Duration(*w).String()
}

func (w *waitValue) Set(s string) error {
	if s == "forever" {
		*w = waitValue(lib.WaitForever)
		return nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	*w = waitValue(d)
	return nil
}

// durationValue is a duration flag that also accepts a bare number of
// seconds.
type durationValue time.Duration

func (d *durationValue) String() string { return time.Duration(*d).String() }

func (d *durationValue) Set(s string) error {
	v, err := parseDuration(s)
	*d = durationValue(v)
	return err
}

func parseDuration(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 {
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("want a duration such as 5s, 1m30s or 0.5")
	}
	return d, nil
}

// parseSize reads a byte count with an optional K, M or G suffix (powers
// of 1024; "KiB", "MB" and the like are accepted too).
func parseSize(s string) (int, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := 1
	for _, suf := range []struct {
		s string
		m int
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(t, suf.s) {
			t, mult = strings.TrimSuffix(t, suf.s), suf.m
			break
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(t))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q: want a positive number of bytes, optionally with K, M or G", s)
	}
	return n * mult, nil
}

// signalContext is cancelled on SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// optionGroup is a titled group of options in a command's -h text. Each
// entry of flags names one option, its aliases separated by spaces ("s
// switch").
type optionGroup struct {
	title string
	flags []string
}

// parseGrouped is parse for a command whose -h text lists its options in
// groups rather than in one alphabetical list.
func (c *command) parseGrouped(args []string, groups []optionGroup) (ok bool, code int) {
	err := c.flags.Parse(args)
	if err == nil {
		return true, ExitOK
	}
	if !errors.Is(err, flag.ErrHelp) {
		msg := err.Error()
		if rest, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
			msg = "unknown option " + rest
		}
		return false, c.usageError("%s", msg)
	}
	fmt.Fprint(c.stdout, strings.TrimLeft(c.usageText, "\n"))
	writeOptionGroups(c.stdout, c.flags, groups)
	fmt.Fprintf(c.stdout, "\nExit status: 0 success, 1 failure, 2 usage error, 69 switch unreachable, 124 timeout.\nSee %s(1).\n", c.name)
	return false, ExitOK
}

// writeOptionGroups prints the options of fs group by group, as
// "  -s, --switch ADDRESS   usage (default ...)".
// Options left out of every group are listed last, under "Other".
func writeOptionGroups(w io.Writer, fs *flag.FlagSet, groups []optionGroup) {
	listed := map[string]bool{}
	for _, g := range groups {
		for _, entry := range g.flags {
			for _, n := range strings.Fields(entry) {
				listed[n] = true
			}
		}
	}
	var other []string
	fs.VisitAll(func(f *flag.Flag) {
		if !listed[f.Name] {
			other = append(other, f.Name)
		}
	})
	if len(other) > 0 {
		groups = append(groups[:len(groups):len(groups)], optionGroup{"Other", other})
	}
	for _, g := range groups {
		fmt.Fprintf(w, "\n%s:\n", g.title)
		for _, entry := range g.flags {
			names := strings.Fields(entry)
			f := fs.Lookup(names[0])
			if f == nil {
				continue
			}
			arg, usage := flag.UnquoteUsage(f)
			var left strings.Builder
			for i, n := range names {
				if i > 0 {
					left.WriteString(", ")
				}
				if len(n) == 1 {
					left.WriteString("-" + n)
				} else {
					left.WriteString("--" + n)
				}
			}
			if arg != "" {
				left.WriteString(" " + strings.ToUpper(arg))
			}
			if def := f.DefValue; def != "" && def != "false" && def != "0" && def != "0s" {
				usage += " (default " + def + ")"
			}
			// Option names in a column of 22, usage wrapped to 79 columns.
			const indent = "                          "
			lines := wrapWords(usage, 79-len(indent))
			if left.Len() <= 22 {
				fmt.Fprintf(w, "  %-22s  %s\n", left.String(), lines[0])
			} else {
				fmt.Fprintf(w, "  %s\n%s%s\n", left.String(), indent, lines[0])
			}
			for _, l := range lines[1:] {
				fmt.Fprintf(w, "%s%s\n", indent, l)
			}
		}
	}
}

// wrapWords splits text into lines of at most width bytes where it can,
// breaking at spaces.
func wrapWords(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return append(lines, line)
}
