// Package mkq is the body of msw-mkq: create a queue, with its policy,
// or change an existing queue's policy.
package mkq

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"msw/internal/tool"
	"msw/internal/wire"
	"msw/lib"
)

const mkqUsage = `
Usage: msw-mkq [options] QUEUE...

Create persistent queues, or change the policy of existing ones. Only
the options given change; 0 removes a bound.

A queue with --max-depth or --max-bytes refuses a send past the bound
(the sender gets queue_full and exits 1) unless --overflow drop-oldest
drops the oldest ready messages to make room. With --ttl a message
nobody took within D expires. With --max-deliveries a message handed
out N times and given back once more (released, or its receiver died)
moves to the dead-letter queue, QUEUE.dead unless --dead-letter names
another, with its delivery count and its last holder as its origin.
Sizes are written like 65536, 64KiB, 20MiB or 1GiB.
`

var mkqGroups = []tool.OptionGroup{
	tool.Group("Policy", "max-depth", "max-bytes", "overflow", "ttl", "max-deliveries", "dead-letter"),
	tool.Group("Output", "verbose"),
	tool.SwitchGroup,
}

// Run is the body of msw-mkq.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := tool.NewCommand("msw-mkq", mkqUsage, stdout, stderr)
	var (
		maxDepth, maxDeliveries int
		maxBytes, overflow, ttl string
		deadLetter              string
		verbose                 bool
		sf                      tool.SwitchFlags
	)
	fs := c.Flags
	fs.IntVar(&maxDepth, "max-depth", 0, "hold at most `N` ready messages")
	fs.StringVar(&maxBytes, "max-bytes", "", "hold at most `SIZE` bytes of messages, ready and in flight")
	fs.StringVar(&overflow, "overflow", "", "`POLICY` for a send past a bound: reject (the default) or drop-oldest")
	fs.StringVar(&ttl, "ttl", "", "expire a message nobody took within `D` (30s, 5m, 2h)")
	fs.IntVar(&maxDeliveries, "max-deliveries", 0, "dead-letter a message given back after `N` deliveries")
	fs.StringVar(&deadLetter, "dead-letter", "", "the dead-letter `QUEUE` (default QUEUE.dead)")
	fs.BoolVarP(&verbose, "verbose", "v", false, "print each queue's policy once set")
	sf.Register(fs, tool.DefaultWait)
	if ok, code := c.Parse(args, mkqGroups); !ok {
		return code
	}
	if fs.NArg() == 0 {
		return c.UsageError("no queue named")
	}
	// The changes asked for, checked before anything is sent.
	var changes []func(*wire.Policy)
	change := func(flag string, f func(*wire.Policy)) {
		if fs.Changed(flag) {
			changes = append(changes, f)
		}
	}
	if maxDepth < 0 {
		return c.UsageError("--max-depth %d: want a number of messages, 0 for no bound", maxDepth)
	}
	change("max-depth", func(p *wire.Policy) { p.MaxDepth = maxDepth })
	var nbytes int64
	if fs.Changed("max-bytes") && strings.TrimSpace(maxBytes) != "0" {
		n, err := tool.ParseSize(maxBytes)
		if err != nil {
			return c.UsageError("--max-bytes: %v", err)
		}
		nbytes = int64(n)
	}
	change("max-bytes", func(p *wire.Policy) { p.MaxBytes = nbytes })
	if fs.Changed("overflow") && overflow != wire.OverflowReject && overflow != wire.OverflowDropOldest {
		return c.UsageError("--overflow %q: want reject or drop-oldest", overflow)
	}
	change("overflow", func(p *wire.Policy) { p.Overflow = overflow })
	if fs.Changed("ttl") {
		d, err := time.ParseDuration(ttl)
		if ttl == "0" {
			d, err = 0, nil
		}
		if err != nil || d < 0 {
			return c.UsageError("--ttl %q: want a duration such as 30s, 5m or 2h, 0 for none", ttl)
		}
		ttl = ""
		if d > 0 {
			ttl = d.String()
		}
	}
	change("ttl", func(p *wire.Policy) { p.TTL = ttl })
	if maxDeliveries < 0 {
		return c.UsageError("--max-deliveries %d: want a number of deliveries, 0 for no bound", maxDeliveries)
	}
	change("max-deliveries", func(p *wire.Policy) { p.MaxDeliveries = maxDeliveries })
	if fs.Changed("dead-letter") {
		if err := wire.ValidateName(deadLetter); err != nil {
			return c.UsageError("--dead-letter: %v", err)
		}
	}
	change("dead-letter", func(p *wire.Policy) { p.DeadLetter = deadLetter })
	for _, name := range fs.Args() {
		if err := wire.ValidateName(name); err != nil {
			return c.UsageError("%v", err)
		}
		if fs.Changed("dead-letter") && deadLetter == name {
			return c.UsageError("--dead-letter %s: a queue cannot be its own dead-letter queue", name)
		}
	}

	cl, ctx, done, err := sf.Connect(c.Name)
	if err != nil {
		return c.UsageError("%v", err)
	}
	defer done()
	code := tool.ExitOK
	for _, name := range fs.Args() {
		qi, err := setUp(ctx, cl, name, changes)
		switch {
		case err == nil:
			if verbose {
				wqi := (*wire.QueueInfo)(&qi)
				fmt.Fprintf(stdout, "%s: %s\n", name, cmp.Or(wqi.PolicySummary(), "no policy"))
			}
		case errors.Is(err, lib.ErrUnreachable), ctx.Err() != nil:
			return c.Fail(err)
		case lib.IsCode(err, lib.CodeBadRequest), lib.IsCode(err, lib.CodeBadQueueName):
			fmt.Fprintf(stderr, "%s: %s: %v\n", c.Name, name, err)
			code = tool.ExitUsage
		default:
			fmt.Fprintf(stderr, "%s: %s: %v\n", c.Name, name, err)
			code = tool.ExitFailure
		}
	}
	return code
}

// setUp creates the queue, and with changes applies them to its
// current policy.
func setUp(ctx context.Context, cl *lib.Client, name string, changes []func(*wire.Policy)) (lib.QueueInfo, error) {
	if len(changes) == 0 {
		if err := cl.CreateQueue(ctx, name); err != nil {
			return lib.QueueInfo{}, err
		}
		return cl.Info(ctx, name)
	}
	qi, err := cl.Info(ctx, name)
	if err != nil && !lib.IsCode(err, lib.CodeNoSuchQueue) {
		return lib.QueueInfo{}, err
	}
	p := (*wire.QueueInfo)(&qi).Policy()
	for _, f := range changes {
		f(&p)
	}
	return cl.SetPolicy(ctx, name, policyOf(p))
}

// policyOf is a checked wire policy as the library takes it.
func policyOf(p wire.Policy) lib.Policy {
	return lib.Policy{MaxDepth: p.MaxDepth, MaxBytes: p.MaxBytes, Overflow: p.Overflow, TTL: p.TTLDuration(),
		MaxDeliveries: p.MaxDeliveries, DeadLetter: p.DeadLetter}
}
