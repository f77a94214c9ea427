package tool

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Sleep waits for d, or until ctx ends: then it returns ctx's error.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ErrInterrupted is the cause of a SignalContext's end.
var ErrInterrupted = errors.New("interrupted")

// interruptedBy is the signal that interrupted the process, 0 before one
// did: signals are the process's, not a command body's.
var interruptedBy atomic.Int32

// SignalContext is cancelled, with the cause ErrInterrupted, on SIGINT
// or SIGTERM; from then on InterruptStatus is the status to exit with.
// Its stop function stops watching the signals.
func SignalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	stopped := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			if n, ok := s.(syscall.Signal); ok {
				interruptedBy.Store(int32(n))
			}
			cancel(ErrInterrupted)
		case <-stopped:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(stopped)
			cancel(context.Canceled)
		})
	}
}

// Interrupted reports whether a SIGINT or SIGTERM has interrupted the
// process.
func Interrupted() bool { return interruptedBy.Load() != 0 }

// InterruptStatus is the exit status of a command that a signal
// interrupted, as a shell reports a process the signal killed: 130 for
// SIGINT (Ctrl-C), 143 for SIGTERM.
func InterruptStatus() int {
	if n := interruptedBy.Load(); n != 0 {
		return 128 + int(n)
	}
	return ExitInterrupted
}
