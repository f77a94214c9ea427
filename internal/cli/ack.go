package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"msw/lib"
)

const ackUsage = `
Usage: msw-ack [options] QUEUE ID...

Acknowledge messages by hand: each message, whether waiting in the queue
or in flight (held by a receiver), is deleted as if its receiver had
processed it. Message ids are those msw-diag and msw-recv show. Use it to
clear a request that makes its server crash every time it is delivered.
`

var ackGroups = []optionGroup{
	{"Switch", []string{"s switch", "wait", "client-id"}},
}

// Ack is the body of msw-ack.
func Ack(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("msw-ack", ackUsage, stdout, stderr)
	var sf switchFlags
	sf.register(c.flags, DefaultWait)
	if ok, code := c.parseGrouped(args, ackGroups); !ok {
		return code
	}
	if c.flags.NArg() < 2 {
		return c.usageError("want a queue and at least one message id")
	}
	queue := c.flags.Arg(0)
	var ids []uint64
	for _, a := range c.flags.Args()[1:] {
		id, err := strconv.ParseUint(strings.TrimPrefix(a, "#"), 10, 64)
		if err != nil || id == 0 {
			return c.usageError("message id %q: want a positive whole number", a)
		}
		ids = append(ids, id)
	}
	cl, ctx, done, err := sf.connect(c.name)
	if err != nil {
		return c.usageError("%v", err)
	}
	defer done()

	// One request per id, so that each id that is gone is named: the
	// switch reports only the first of a batch.
	code := ExitOK
	for _, id := range ids {
		err := cl.Ack(ctx, lib.Acks{queue: {id}})
		if err == nil {
			continue
		}
		if !lib.IsCode(err, lib.CodeNoSuchMessage) {
			return c.fail(err)
		}
		fmt.Fprintf(stderr, "%s: %s\n", c.name, err)
		code = ExitFailure
	}
	return code
}
