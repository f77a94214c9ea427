// Package tool holds what the bodies of the msw commands share: exit
// codes, flag parsing and -h text, how to reach the switch, and output
// helpers. Each command's body is a package of its own below this one
// (tool/send, tool/recv, ...), a function taking its arguments and
// streams and returning an exit code; its main package only calls it,
// and the end-to-end tests run it through testscript. This package
// imports only lib and internal/wire, so that no client links the switch.
package tool

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

// Command is what every command body shares: its name and streams.
type Command struct {
	Name   string
	Stdout io.Writer
	Stderr io.Writer
	Flags  *flag.FlagSet

	usageText string
	version   bool // --version was given
}

// NewCommand builds a Command with a flag set whose -h prints the given
// usage text (synopsis, description, then the options) and which takes
// --version.
func NewCommand(name, usage string, stdout, stderr io.Writer) *Command {
	c := &Command{Name: name, Stdout: stdout, Stderr: stderr}
	c.Flags = flag.NewFlagSet(name, flag.ContinueOnError)
	c.Flags.SetOutput(io.Discard)
	c.Flags.Usage = func() {}
	c.Flags.BoolVar(&c.version, "version", false, "print the version and exit")
	c.usageText = usage
	return c
}

// UsageError reports a usage mistake in one line, with a pointer to -h.
func (c *Command) UsageError(format string, args ...any) int {
	fmt.Fprintf(c.Stderr, "%s: %s\n", c.Name, fmt.Sprintf(format, args...))
	fmt.Fprintf(c.Stderr, "Try '%s -h' for help.\n", c.Name)
	return ExitUsage
}

// Fail reports err in one line and returns the exit code it maps to.
func (c *Command) Fail(err error) int {
	fmt.Fprintf(c.Stderr, "%s: %s\n", c.Name, err)
	return ExitCode(err)
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
	case errors.Is(err, lib.ErrUnreachable):
		return ExitUnreachable
	case errors.Is(err, context.DeadlineExceeded):
		return ExitTimeout
	}
	return ExitFailure
}

// SwitchFlags are the flags that say how to reach the switch.
type SwitchFlags struct {
	Addr     string
	Wait     WaitValue
	ClientID string
}

// Register adds -s/--switch, --wait and --client-id. defaultWait is the
// command's own: short for one-shot commands, forever for services.
func (sf *SwitchFlags) Register(fs *flag.FlagSet, defaultWait time.Duration) {
	def := os.Getenv(lib.EnvSwitch)
	if def == "" {
		def = lib.DefaultAddr
	}
	fs.StringVar(&sf.Addr, "s", def, "switch `address`: host:port, http://host:port or unix:/path (env "+lib.EnvSwitch+")")
	fs.StringVar(&sf.Addr, "switch", def, "same as -s")
	sf.Wait = WaitValue(defaultWait)
	fs.Var(&sf.Wait, "wait", "how long to wait for an unreachable switch: a `duration` or 'forever'")
	fs.StringVar(&sf.ClientID, "client-id", "", "`name` shown for this client in diagnostics (default program[pid]@host)")
}

// Client returns a library client for the flags.
func (sf *SwitchFlags) Client(name string) (*lib.Client, error) {
	id := sf.ClientID
	if id == "" {
		host, _ := os.Hostname()
		id = fmt.Sprintf("%s[%d]@%s", name, os.Getpid(), host)
	}
	return lib.New(lib.Options{Addr: sf.Addr, ClientID: id, Wait: time.Duration(sf.Wait)})
}

// Connect returns a client for the flags and a context that ends on
// SIGINT or SIGTERM; done closes the client and stops watching signals.
// The only error is a bad switch address, a usage error.
func (sf *SwitchFlags) Connect(name string) (cl *lib.Client, ctx context.Context, done func(), err error) {
	cl, err = sf.Client(name)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, stop := SignalContext()
	return cl, ctx, func() { stop(); cl.Close() }, nil
}

// WaitValue is a duration flag that also accepts "forever".
type WaitValue time.Duration

func (w *WaitValue) String() string {
	if time.Duration(*w) == lib.WaitForever {
		return "forever"
	}
	return time.Duration(*w).String()
}

func (w *WaitValue) Set(s string) error {
	if s == "forever" {
		*w = WaitValue(lib.WaitForever)
		return nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	*w = WaitValue(d)
	return nil
}

// DurationValue is a duration flag that also accepts a bare number of
// seconds.
type DurationValue time.Duration

func (d *DurationValue) String() string { return time.Duration(*d).String() }

func (d *DurationValue) Set(s string) error {
	v, err := parseDuration(s)
	*d = DurationValue(v)
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

// ParseSize reads a byte count with an optional K, M or G suffix (powers
// of 1024; "KiB", "MB" and the like are accepted too).
func ParseSize(s string) (int, error) {
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

// SignalContext is cancelled on SIGINT or SIGTERM.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// CreateQueue makes sure queue exists. A transient queue of that name
// (someone's reply queue, say) is as good as a persistent one.
func CreateQueue(ctx context.Context, cl *lib.Client, queue string) error {
	err := cl.CreateQueue(ctx, queue)
	if lib.IsCode(err, lib.CodeQueueExists) {
		return nil
	}
	return err
}
