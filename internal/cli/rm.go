package cli

import (
	"errors"
	"fmt"
	"io"

	"msw/lib"
)

const rmUsage = `
Usage: msw-rm [options] QUEUE...

Destroy queues. A queue that holds messages, ready or in flight, is left
alone with a message unless -f is given: then it is destroyed with its
messages, and a queue that does not exist is not an error, as with rm -f.
Subscribers of a destroyed queue see it vanish; a transient queue's
owner loses it.
`

var rmGroups = []optionGroup{
	{"Removal", []string{"f force", "v"}},
	{"Switch", []string{"s switch", "wait", "client-id"}},
}

// Rm is the body of msw-rm.
func Rm(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("msw-rm", rmUsage, stdout, stderr)
	var (
		force, verbose bool
		sf             switchFlags
	)
	c.flags.BoolVar(&force, "f", false, "destroy queues that hold messages, and ignore queues that do not exist")
	c.flags.BoolVar(&force, "force", false, "same as -f")
	c.flags.BoolVar(&verbose, "v", false, "print the name of each queue destroyed")
	sf.register(c.flags, DefaultWait)
	if ok, code := c.parseGrouped(args, rmGroups); !ok {
		return code
	}
	if c.flags.NArg() == 0 {
		return c.usageError("no queue named")
	}
	cl, ctx, done, err := sf.connect(c.name)
	if err != nil {
		return c.usageError("%v", err)
	}
	defer done()

	code := ExitOK
	for _, name := range c.flags.Args() {
		err := cl.DestroyQueue(ctx, name, lib.DestroyOptions{IfEmpty: !force})
		switch {
		case err == nil:
			if verbose {
				fmt.Fprintf(stdout, "removed %s\n", name)
			}
		case force && lib.IsCode(err, lib.CodeNoSuchQueue):
		case lib.IsCode(err, lib.CodeQueueNotEmpty):
			fmt.Fprintf(stderr, "%s: %s: not removed (-f removes it with its messages)\n", c.name, err)
			code = ExitFailure
		case errors.Is(err, lib.ErrUnreachable), ctx.Err() != nil:
			return c.fail(err)
		default:
			c.fail(err)
			code = ExitFailure
		}
	}
	return code
}
