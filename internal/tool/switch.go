package tool

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"msw/internal/wire"
	"msw/lib"
)

// DefaultWait is how long one-shot commands wait for an unreachable switch.
const DefaultWait = 5 * time.Second

// SwitchFlags are the flags that say how to reach the switch.
type SwitchFlags struct {
	Addr      string
	Wait      WaitValue
	ClientID  string
	TokenFile string // --token-file; MSW_TOKEN without it
	TLSCA     string // --tls-ca or MSW_TLS_CA
	// Stderr is where "waiting for switch" is said; os.Stderr if nil.
	Stderr io.Writer
	// OwnWaitNote is set by a command that says by itself that it waits
	// for the switch (msw-serve).
	OwnWaitNote bool

	fs *pflag.FlagSet // where -s was registered, to tell it from MSW_SWITCH
}

// Register adds -s/--switch, --token-file, --tls-ca, --wait and
// --client-id. defaultWait is the
// command's own: short for one-shot commands, forever for services.
func (sf *SwitchFlags) Register(fs *pflag.FlagSet, defaultWait time.Duration) {
	sf.fs = fs
	def := os.Getenv(lib.EnvSwitch)
	if def == "" {
		def = lib.DefaultAddr
	}
	fs.StringVarP(&sf.Addr, "switch", "s", def, "switch `address`: host:port, http(s)://host:port or unix:/path (env "+lib.EnvSwitch+")")
	fs.StringVar(&sf.TokenFile, "token-file", "", "the switch's token is the first line of this `file` (default: env "+lib.EnvToken+"); msw-switch demands it of every request but /v1/health")
	fs.StringVar(&sf.TLSCA, "tls-ca", os.Getenv(lib.EnvTLSCA), "trust the certificate authority in this PEM `file` for https:// addresses (env "+lib.EnvTLSCA+")")
	sf.Wait = WaitValue(defaultWait)
	fs.Var(&sf.Wait, "wait", "how long to wait for an unreachable switch: a `duration` or 'forever'")
	fs.StringVar(&sf.ClientID, "client-id", "", "`name` shown for this client in diagnostics (default program[pid]@host)")
}

// Client returns a library client for the flags, with the switch's
// token (--token-file, else MSW_TOKEN) and TLS certificate authority
// (--tls-ca, else MSW_TLS_CA) if given. Its errors are usage errors.
func (sf *SwitchFlags) Client(name string) (*lib.Client, error) {
	id := sf.ClientID
	if id == "" {
		host, _ := os.Hostname()
		id = wire.ClientID(name, os.Getpid(), host)
	}
	opts := lib.Options{Addr: sf.Addr, ClientID: id, Wait: time.Duration(sf.Wait), Token: os.Getenv(lib.EnvToken)}
	if sf.TokenFile != "" {
		b, err := os.ReadFile(sf.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %v", err)
		}
		tok, _, _ := strings.Cut(string(b), "\n")
		if opts.Token = strings.TrimSpace(tok); opts.Token == "" {
			return nil, fmt.Errorf("--token-file %s: empty", sf.TokenFile)
		}
	}
	if sf.TLSCA != "" {
		conf, err := lib.LoadCA(sf.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %v", err)
		}
		opts.TLS = conf
	}
	if !sf.OwnWaitNote {
		opts.Waiting = sf.waiting(name)
	}
	cl, err := lib.New(opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sf.AddrSource(), err)
	}
	return cl, nil
}

// AddrSource says where the switch address came from, for messages
// about it: "-s", "MSW_SWITCH" or "the default address".
func (sf *SwitchFlags) AddrSource() string {
	switch {
	case sf.fs != nil && sf.fs.Changed("switch"):
		return "-s/--switch"
	case os.Getenv(lib.EnvSwitch) != "":
		return lib.EnvSwitch
	}
	return "the default address"
}

// waiting returns the lib.Options.Waiting of command name: it says,
// once, which switch the command waits for, why, and how long it will.
func (sf *SwitchFlags) waiting(name string) func(addr, why string) {
	var once sync.Once
	return func(addr, why string) {
		once.Do(func() {
			w := sf.Stderr
			if w == nil {
				w = os.Stderr
			}
			until := ""
			if d := time.Duration(sf.Wait); d != lib.WaitForever {
				until = fmt.Sprintf(", up to %s", d)
			}
			fmt.Fprintf(w, "%s: waiting for switch at %s (%s)%s\n", name, addr, why, until)
		})
	}
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

// CreateQueue makes sure queue exists. A transient queue of that name
// (someone's reply queue, say) is as good as a persistent one. When the
// queue is new and c's stderr is a terminal, it says so: a typo in a
// queue name then does not pass unnoticed.
func CreateQueue(ctx context.Context, c *Command, cl *lib.Client, queue string) error {
	missing := false
	if IsTerminal(c.Stderr) {
		_, err := cl.Info(ctx, queue)
		missing = lib.IsCode(err, lib.CodeNoSuchQueue)
	}
	err := cl.CreateQueue(ctx, queue)
	switch {
	case lib.IsCode(err, lib.CodeQueueExists):
		return nil
	case err == nil && missing:
		fmt.Fprintf(c.Stderr, "%s: created queue %s\n", c.Name, queue)
	}
	return err
}
