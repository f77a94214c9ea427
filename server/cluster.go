package server

import (
	"context"
	"time"

	"msw/internal/wire"
)

// Cluster gathers diagnostics and trace from every gateway of a scale-out
// cluster (msw-switch --backend, docs/scale-out.md), so that msw-diag and
// msw-tail asking any one gateway see them all. With Options.Cluster set,
// GET /v1/diagnostics and GET /v1/trace answer from it instead of this
// switch's broker alone.
type Cluster interface {
	// Snapshot gathers every gateway's snapshot, each with up to
	// maxMessages messages per queue, and merges them; Cluster says
	// which gateways answered.
	Snapshot(ctx context.Context, maxMessages int) wire.Snapshot
	// Trace returns the cluster's trace events after sequence number
	// after (a numbering of this gateway's own), waiting up to timeout
	// for the first; each event names its gateway.
	Trace(ctx context.Context, after uint64, max int, timeout time.Duration) wire.TraceResponse
}

// snapshot is the diagnostics snapshot this server answers: the cluster's
// when it is a gateway of one, else its broker's.
func (s *Server) snapshot(ctx context.Context, maxMessages int) wire.Snapshot {
	if s.opts.Cluster != nil {
		return s.opts.Cluster.Snapshot(ctx, maxMessages)
	}
	return s.b.Snapshot(maxMessages)
}

// traceRead is the trace this server answers: the cluster's when it is a
// gateway of one, else its broker's.
func (s *Server) traceRead(ctx context.Context, after uint64, max int, timeout time.Duration) wire.TraceResponse {
	if s.opts.Cluster != nil {
		return s.opts.Cluster.Trace(ctx, after, max, min(timeout, s.b.Options().MaxWait))
	}
	return s.b.Trace(ctx, after, max, timeout)
}
