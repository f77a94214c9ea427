package tool

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"msw/internal/wire"
	"msw/lib"
)

// DefaultWait is how long one-shot commands wait for an unreachable switch.
const DefaultWait = 5 * time.Second

// SwitchFlags are the flags that say how to reach the switch.
type SwitchFlags struct {
	Addr     string
	Wait     WaitValue
	ClientID string
}

// Register adds -s/--switch, --wait and --client-id. defaultWait is the
// command's own: short for one-shot commands, forever for services.
func (sf *SwitchFlags) Register(fs *pflag.FlagSet, defaultWait time.Duration) {
	def := os.Getenv(lib.EnvSwitch)
	if def == "" {
		def = lib.DefaultAddr
	}
	fs.StringVarP(&sf.Addr, "switch", "s", def, "switch `address`: host:port, http://host:port or unix:/path (env "+lib.EnvSwitch+")")
	sf.Wait = WaitValue(defaultWait)
	fs.Var(&sf.Wait, "wait", "how long to wait for an unreachable switch: a `duration` or 'forever'")
	fs.StringVar(&sf.ClientID, "client-id", "", "`name` shown for this client in diagnostics (default program[pid]@host)")
}

// Client returns a library client for the flags.
func (sf *SwitchFlags) Client(name string) (*lib.Client, error) {
	id := sf.ClientID
	if id == "" {
		host, _ := os.Hostname()
		id = wire.ClientID(name, os.Getpid(), host)
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
