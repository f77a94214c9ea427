package lib

import (
	"context"
	"errors"
	"testing"
	"time"
)

type ctxKey struct{}

// closed reports whether ctx is done.
func closed(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

func TestHandlerContextEndsWithItsHandler(t *testing.T) {
	deadline := time.Now().Add(time.Hour)
	parent, cancelParent := context.WithDeadline(context.WithValue(context.Background(), ctxKey{}, "v"), deadline)
	defer cancelParent()

	for _, used := range []bool{false, true} {
		c := &handlerContext{parent: parent}
		if used {
			// Used while its handler runs: not done, the parent's value.
			if closed(c) || c.Err() != nil {
				t.Fatalf("used=%v: done before its handler returned (%v)", used, c.Err())
			}
			if c.Value(ctxKey{}) != "v" {
				t.Fatalf("used=%v: value %v, want the parent's", used, c.Value(ctxKey{}))
			}
		}
		if d, ok := c.Deadline(); !ok || !d.Equal(deadline) {
			t.Fatalf("used=%v: deadline %v %v, want the parent's", used, d, ok)
		}
		var child context.Context = c
		if used {
			var cancelChild context.CancelFunc
			child, cancelChild = context.WithCancel(c)
			defer cancelChild()
		}
		c.end()
		if !closed(c) || !errors.Is(c.Err(), context.Canceled) || !errors.Is(context.Cause(c), context.Canceled) {
			t.Fatalf("used=%v: after its handler returned: done %v, err %v, cause %v; want cancelled", used, closed(c), c.Err(), context.Cause(c))
		}
		if !closed(child) {
			t.Fatalf("used=%v: a context derived from it was not cancelled with it", used)
		}
		if late, cancelLate := context.WithCancel(c); !closed(late) {
			t.Fatalf("used=%v: a context derived from it after the end is not done", used)
		} else {
			cancelLate()
		}
		if c.Value(ctxKey{}) != "v" {
			t.Fatalf("used=%v: value after the end %v, want the parent's", used, c.Value(ctxKey{}))
		}
	}
}

func TestHandlerContextFollowsItsParent(t *testing.T) {
	for _, used := range []bool{false, true} {
		parent, cancelParent := context.WithCancel(context.Background())
		c := &handlerContext{parent: parent}
		if used {
			c.Done()
		}
		cancelParent()
		select {
		case <-c.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("used=%v: not done after its parent was cancelled", used)
		}
		if !errors.Is(c.Err(), context.Canceled) {
			t.Fatalf("used=%v: err %v, want Canceled", used, c.Err())
		}
		c.end()
	}
}
