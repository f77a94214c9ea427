package natsbackend

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestReplicatedTriesAgainOnTimeout checks that a queue's creation,
// which the cluster may carry out after the request timed out, is tried
// again with a fresh timeout, and only on a timeout.
func TestReplicatedTriesAgainOnTimeout(t *testing.T) {
	e := &Engine{o: Options{Timeout: time.Minute}}
	refused := errors.New("refused")
	for _, tc := range []struct {
		name  string
		errs  []error // what each attempt returns; the last repeats
		calls int
		want  error
	}{
		{"answered", []error{nil}, 1, nil},
		{"late twice", []error{context.DeadlineExceeded, nats.ErrTimeout, nil}, 3, nil},
		{"never", []error{context.DeadlineExceeded}, createAttempts, context.DeadlineExceeded},
		{"refused", []error{refused}, 1, refused},
	} {
		calls := 0
		err := e.replicated(func(ctx context.Context) error {
			if ctx.Err() != nil {
				t.Errorf("%s: attempt %d got a spent context", tc.name, calls+1)
			}
			err := tc.errs[min(calls, len(tc.errs)-1)]
			calls++
			return err
		})
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
		if calls != tc.calls {
			t.Errorf("%s: %d attempts, want %d", tc.name, calls, tc.calls)
		}
	}
}
