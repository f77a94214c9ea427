//go:build !linux

package serve

import (
	"context"
	"io"
)

func (p *serveProgram) run(ctx context.Context, env []string, payload []byte, stderr io.Writer) runResult {
	return p.runCmd(ctx, env, payload, stderr)
}
