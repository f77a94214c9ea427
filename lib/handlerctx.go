package lib

import (
	"context"
	"sync"
	"time"
)

// handlerContext is the context a handler runs under when Serve has no
// Timeout: its parent's (the Serve's handlers' context), and cancelled
// once the handler has returned, as context.WithCancel would make it.
// But the cancellable context is made only when the handler first looks
// at it (Done, Err, Value): a handler that never does — an echo, a
// lookup — costs no context at all. With 64 workers, a WithCancel per
// request and its cancel were 5% of a call's CPU in BenchmarkCall, most
// of it registering with and leaving the one parent all workers share,
// under its lock.
//
// Deadline needs no cancellable context: it is the parent's.
type handlerContext struct {
	parent context.Context

	mu     sync.Mutex
	inner  context.Context // made by the first use; nil until then
	cancel context.CancelFunc
	ended  bool // the handler has returned
}

var _ context.Context = (*handlerContext)(nil)

// use returns the cancellable context, made on first use (already
// cancelled if the handler has returned).
func (c *handlerContext) use() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inner == nil {
		c.inner, c.cancel = context.WithCancel(c.parent)
		if c.ended {
			c.cancel()
		}
	}
	return c.inner
}

// end cancels the context: its handler has returned.
func (c *handlerContext) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = true
	if c.cancel != nil {
		c.cancel()
	}
}

func (c *handlerContext) Deadline() (time.Time, bool) { return c.parent.Deadline() }
func (c *handlerContext) Done() <-chan struct{}       { return c.use().Done() }
func (c *handlerContext) Err() error                  { return c.use().Err() }

// Value is the cancellable context's, so that context.Cause and the
// contexts derived from this one see it as a WithCancel context.
func (c *handlerContext) Value(key any) any { return c.use().Value(key) }
