package ack

import (
	"strings"
	"testing"

	"msw/internal/tool"
	"msw/internal/tool/tooltest"
	"msw/lib"
)

// TestAckDeletesAndNamesWhatIsGone acks one message that is there and one
// that is not: the first is deleted, the second named, and the exit
// status says one failed.
func TestAckDeletesAndNamesWhatIsGone(t *testing.T) {
	addr, cl, ctx := tooltest.Start(t, "sender")
	if err := cl.CreateQueue(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	if id, err := cl.Send(ctx, "q", lib.Message{Payload: []byte("stuck")}); err != nil || id != 1 {
		t.Fatalf("send: id %d, %v; want id 1", id, err)
	}
	code, out, errs := tooltest.Run(Run, "-s", addr, "q", "#1", "999")
	if code != tool.ExitFailure || out != "" || !strings.Contains(errs, "msw-ack: ") || !strings.Contains(errs, "999") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 1 and one line naming 999", code, out, errs)
	}
	qi, err := cl.Info(ctx, "q")
	if err != nil || qi.Depth != 0 {
		t.Fatalf("after msw-ack: %+v, %v; want an empty queue", qi, err)
	}
}
