package wire

import "testing"

func TestOpPath(t *testing.T) {
	for _, tc := range []struct {
		op    Op
		queue string
		id    uint64
		want  string
	}{
		{OpSend, "jobs", 0, "/v1/queues/jobs/messages"},
		{OpSend, "a:b@c", 0, "/v1/queues/a:b@c/messages"},
		{OpWithdraw, "jobs", 42, "/v1/queues/jobs/messages/42"},
		{OpTransfer, "", 0, PathTransfer},
		{OpAck, "", 0, PathAck},
	} {
		if got := tc.op.Path(tc.queue, tc.id); got != tc.want {
			t.Errorf("%s.Path(%q, %d) = %q; want %q", tc.op.Name, tc.queue, tc.id, got, tc.want)
		}
	}
}

func TestOpByStream(t *testing.T) {
	for _, o := range HotOps {
		got, ok := OpByStream(o.Stream)
		if !ok || got.Name != o.Name {
			t.Errorf("OpByStream(%v) = %v, %v; want %s", o.Stream, got.Name, ok, o.Name)
		}
	}
	for _, s := range []StreamOp{StreamCancel, StreamConsume, StreamReply, 0, 200} {
		if o, ok := OpByStream(s); ok {
			t.Errorf("OpByStream(%v) = %s; want none", s, o.Name)
		}
	}
}
