package rm

import (
	"errors"
	"fmt"
	"io"

	"msw/internal/tool"
	"msw/internal/wire"
	"msw/lib"
)

const rmUsage = `
Usage: msw-rm [options] QUEUE...

Destroy queues. A queue that holds messages, ready or in flight, is left
alone with a message unless -f is given: then it is destroyed with its
messages, and a queue that does not exist is not an error, as with rm -f.
A transient queue (another session's, a waiting msw-call's reply queue
say) is left alone too unless -f is given. Subscribers of a destroyed
queue see it vanish; a transient queue's owner loses it.
`

var rmGroups = []tool.OptionGroup{
	tool.Group("Removal", "force", "verbose"),
	tool.SwitchGroup,
}

// Run is the body of msw-rm.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := tool.NewCommand("msw-rm", rmUsage, stdout, stderr)
	var (
		force, verbose bool
		sf             tool.SwitchFlags
	)
	c.Flags.BoolVarP(&force, "force", "f", false, "destroy queues that hold messages, and ignore queues that do not exist")
	c.Flags.BoolVarP(&verbose, "verbose", "v", false, "print the name of each queue destroyed")
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
				fmt.Fprintf(stderr, "%s: %s: a transient queue of %s: not removed (-f removes it)\n", c.Name, name, qi.Owner)
				code = tool.ExitFailure
				continue
			}
		}
		err := cl.DestroyQueue(ctx, name, lib.DestroyOptions{IfEmpty: !force})
		switch {
		case err == nil:
			if verbose {
				fmt.Fprintf(stdout, "removed %s\n", name)
			}
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
