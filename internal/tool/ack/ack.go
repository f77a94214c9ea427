package ack

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"msw/internal/tool"
	"msw/lib"
)

const ackUsage = `
Usage: msw-ack [options] QUEUE ID...

Acknowledge messages by hand: each message, whether waiting in the queue
or in flight (held by a receiver), is deleted as if its receiver had
processed it. Message ids are those msw-diag and msw-recv show. Use it to
clear a request that makes its server crash every time it is delivered.
`

var ackGroups = []tool.OptionGroup{
	tool.SwitchGroup,
}

// Run is the body of msw-ack.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := tool.NewCommand("msw-ack", ackUsage, stdout, stderr)
	var sf tool.SwitchFlags
	sf.Register(c.Flags, tool.DefaultWait)
	if ok, code := c.Parse(args, ackGroups); !ok {
		return code
	}
	if c.Flags.NArg() < 2 {
		return c.UsageError("want a queue and at least one message id")
	}
	queue := c.Flags.Arg(0)
	var ids []uint64
	for _, a := range c.Flags.Args()[1:] {
		id, err := strconv.ParseUint(strings.TrimPrefix(a, "#"), 10, 64)
		if err != nil || id == 0 {
			return c.UsageError("message id %q: want a positive whole number", a)
		}
		ids = append(ids, id)
	}
	cl, ctx, done, err := sf.Connect(c.Name)
	if err != nil {
		return c.UsageError("%v", err)
	}
	defer done()

	// One request per id, so that each id that is gone is named: the
	// switch reports only the first of a batch.
	code := tool.ExitOK
	for _, id := range ids {
		err := cl.Ack(ctx, lib.Acks{queue: {id}})
		if err == nil {
			continue
		}
		if !lib.IsCode(err, lib.CodeNoSuchMessage) {
			return c.Fail(err)
		}
		fmt.Fprintf(stderr, "%s: %s\n", c.Name, err)
		code = tool.ExitFailure
	}
	return code
}
