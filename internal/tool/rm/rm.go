package rm

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"msw/internal/tool"
	"msw/internal/wire"
	"msw/lib"
)

const rmUsage = `
Usage: msw-rm [options] QUEUE...

Destroy queues, or with --purge empty them and keep them. A queue that
holds messages, ready or in flight, is left alone with a message unless
-f is given: then it is destroyed with its messages, and a queue that
does not exist is not an error, as with rm -f. A transient queue
(another session's, a waiting msw-call's reply queue say) is left alone
too unless -f is given. Subscribers of a destroyed queue see it vanish;
a transient queue's owner loses it. --purge removes the ready messages
and keeps the queue, its subscribers and the messages in flight.
`

var rmGroups = []tool.OptionGroup{
	tool.Group("Removal", "force", "purge", "verbose"),
	tool.SwitchGroup,
}

// Run is the body of msw-rm.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := tool.NewCommand("msw-rm", rmUsage, stdout, stderr)
	var (
		force, verbose bool
		purge          bool
		sf             tool.SwitchFlags
	)
	c.Flags.BoolVarP(&force, "force", "f", false, "destroy queues that hold messages, and ignore queues that do not exist")
	c.Flags.BoolVar(&purge, "purge", false, "remove the ready messages and keep the queue")
	c.Flags.BoolVarP(&verbose, "verbose", "v", false, "print the name of each queue destroyed (with --purge: how many messages went)")
	sf.Register(c.Flags, tool.DefaultWait)
	if ok, code := c.Parse(args, rmGroups); !ok {
		return code
	}
	if c.Flags.NArg() == 0 {
		return c.UsageError("no queue named")
	}
	cl, ctx, done, err := sf.Connect(c.Name)
	if err != nil {
		return c.UsageError("%v", err)
	}
	defer done()

	code := tool.ExitOK
	for _, name := range c.Flags.Args() {
		if !force {
			// A transient queue is another session's (msw-rm owns
			// none): its owner, a waiting msw-call say, would lose it.
			if qi, err := cl.Info(ctx, name); err == nil && qi.Kind == wire.KindTransient {
				what := "removed"
				if purge {
					what = "purged"
				}
				fmt.Fprintf(stderr, "%s: %s: a transient queue of %s: not %s (-f %s it)\n", c.Name, name, qi.Owner, what, strings.TrimSuffix(what, "d")+"s")
				code = tool.ExitFailure
				continue
			}
		}
		var err error
		if purge {
			var n int
			if n, err = cl.Purge(ctx, name); err == nil && verbose {
				fmt.Fprintf(stdout, "purged %s: %s\n", name, wire.CountOf(int64(n), "message", "messages"))
			}
		} else if err = cl.DestroyQueue(ctx, name, lib.DestroyOptions{IfEmpty: !force}); err == nil && verbose {
			fmt.Fprintf(stdout, "removed %s\n", name)
		}
		switch {
		case err == nil:
		case force && lib.IsCode(err, lib.CodeNoSuchQueue):
		case lib.IsCode(err, lib.CodeQueueNotEmpty):
			fmt.Fprintf(stderr, "%s: %s: not removed (-f removes it with its messages)\n", c.Name, err)
			code = tool.ExitFailure
		case errors.Is(err, lib.ErrUnreachable), ctx.Err() != nil:
			return c.Fail(err)
		default:
			c.Fail(err)
			code = tool.ExitFailure
		}
	}
	return code
}
