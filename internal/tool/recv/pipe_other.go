//go:build !linux

package recv

import (
	"context"
	"io"
)

// pipeGauge would watch the pipe msw-recv writes to; only Linux lets a
// pipe's writer see how much of it is unread, so elsewhere msw-recv
// counts a message as taken once it is written.
type pipeGauge struct{}

// newPipeGauge returns nil: there is nothing to watch.
func newPipeGauge(io.Writer) *pipeGauge { return nil }

func (g *pipeGauge) unread() (int64, error) { return 0, nil }

func (g *pipeGauge) waitUnread(context.Context, int64) (bool, error) { return false, nil }
