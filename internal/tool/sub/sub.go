// Package sub is the body of msw-sub: a live subscription to topics.
package sub

import (
	"context"
	"io"

	"msw/internal/tool"
	"msw/internal/tool/recv"
	"msw/internal/wire"
	"msw/lib"
)

const subUsage = `
Usage: msw-sub [options] PATTERN...

Subscribe to the topics the PATTERNs match (news.*.uk: '*' is one token;
news.>: '>' is one or more) and write each message published to them to
standard output, as msw-recv does, acknowledging it once written. The
subscription is a queue of msw-sub's own, bound to the patterns before
anything is read: it sees everything published from then on while it
runs, and it disappears with msw-sub (a few seconds after, if msw-sub is
killed). For a subscription that keeps what is published while its
reader is away, bind a queue with msw-bind and read it with msw-recv.
-v writes each message's topic and a space before it, as mosquitto_sub -v
does; --json has it as "topic".
`

// Run is the body of msw-sub.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return recv.RunFrom(recv.Source{
		Name: "msw-sub", Usage: subUsage, Arg: "PATTERN",
		Check: wire.ValidatePattern, BadArgIsUsage: true, Topics: true,
		Queues: func(ctx context.Context, _ *tool.Command, cl *lib.Client, patterns []string) ([]string, error) {
			q, err := cl.CreateTransient(ctx, "")
			if err == nil {
				err = cl.Bind(ctx, q, patterns...)
			}
			return []string{q}, err
		},
	}, args, stdout, stderr)
}
