//go:build !linux

package execrun

import (
	"context"
	"io"
)

// Run runs argv[0] (a path) with env, payload on its standard input and
// its standard error copied to stderr, until it exits or ctx ends.
func Run(ctx context.Context, argv, env []string, payload []byte, stderr io.Writer) Result {
	return RunExec(ctx, argv, env, payload, stderr)
}
