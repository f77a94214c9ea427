// Package pub is the body of msw-pub: publish messages to a topic.
package pub

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"msw/internal/tool/send"
	"msw/internal/wire"
	"msw/lib"
)

const pubUsage = `
Usage: msw-pub [options] TOPIC

Publish standard input to TOPIC (dot-separated tokens: news.sports.uk) as
one message, byte for byte, or, with -l, -0 or --json, as many, read as
msw-send reads them. Every queue bound to a pattern that matches TOPIC
(msw-bind, msw-sub) gets its own copy of each message, all of them at
once. A message no queue is bound for is not an error, unless --require
is given.
`

// Run is the body of msw-pub.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var require bool
	return send.RunTo(send.Target{
		Name: "msw-pub", Usage: pubUsage, Arg: "TOPIC",
		Check: wire.ValidateTopic, BadArgIsUsage: true,
		Flags: func(fs *pflag.FlagSet) []string {
			fs.BoolVar(&require, "require", false, "fail (status 1) if no queue is bound to a pattern matching TOPIC")
			return []string{"require"}
		},
		Send: func(ctx context.Context, cl *lib.Client, topic string, ms []lib.Message) (uint64, error) {
			n, err := cl.Publish(ctx, topic, ms...)
			if err == nil && n == 0 && require {
				err = fmt.Errorf("%s: no queue is bound to a pattern matching it; nothing was published", topic)
			}
			return 0, err
		},
	}, args, stdin, stdout, stderr)
}
