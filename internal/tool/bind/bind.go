// Package bind is the body of msw-bind and msw-unbind: bind a queue to
// topic patterns, and remove such bindings.
package bind

import (
	"io"

	"msw/internal/tool"
	"msw/internal/wire"
)

const bindUsage = `
Usage: msw-bind [options] QUEUE PATTERN...

Bind QUEUE to the PATTERNs: from then on it gets a copy of every message
published (msw-pub) to a topic one of them matches. A pattern is a topic
whose tokens may be '*' (any one token) and whose last token may be '>'
(one or more): news.*.uk, news.>. QUEUE is created if it does not exist;
binding it again to a pattern is not an error. The queue keeps what is
published while nobody reads it, for msw-recv or msw-serve to take; a
switch started with --data keeps its bindings across a restart.
`

const unbindUsage = `
Usage: msw-unbind [options] QUEUE PATTERN...

Remove the bindings of QUEUE to the PATTERNs (made by msw-bind): it gets
no more copies of what is published to topics they match. What it holds
stays. A pattern QUEUE is not bound to is not an error.
`

var groups = []tool.OptionGroup{tool.SwitchGroup}

// Run is the body of msw-bind.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run("msw-bind", bindUsage, true, args, stdout, stderr)
}

// RunUnbind is the body of msw-unbind.
func RunUnbind(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run("msw-unbind", unbindUsage, false, args, stdout, stderr)
}

func run(name, usage string, on bool, args []string, stdout, stderr io.Writer) int {
	c := tool.NewCommand(name, usage, stdout, stderr)
	var sf tool.SwitchFlags
	sf.Register(c.Flags, tool.DefaultWait)
	if ok, code := c.Parse(args, groups); !ok {
		return code
	}
	switch c.Flags.NArg() {
	case 0:
		return c.UsageError("missing QUEUE")
	case 1:
		return c.UsageError("missing PATTERN")
	}
	queue, patterns := c.Flags.Arg(0), c.Flags.Args()[1:]
	if err := wire.ValidateName(queue); err != nil {
		return c.UsageError("%v", err)
	}
	for _, p := range patterns {
		if err := wire.ValidatePattern(p); err != nil {
			return c.UsageError("%v", err)
		}
	}
	cl, ctx, done, err := sf.Connect(c.Name)
	if err != nil {
		return c.UsageError("%v", err)
	}
	defer done()
	if on {
		err = tool.CreateQueue(ctx, c, cl, queue)
		if err == nil {
			err = cl.Bind(ctx, queue, patterns...)
		}
	} else {
		err = cl.Unbind(ctx, queue, patterns...)
	}
	if err != nil {
		return c.Fail(err)
	}
	return tool.ExitOK
}
