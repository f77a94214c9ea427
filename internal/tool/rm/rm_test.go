package rm

import (
	"strings"
	"testing"

	"msw/internal/tool"
	"msw/internal/tool/tooltest"
	"msw/lib"
)

// TestRmLeavesQueueWithMessagesUnlessForced checks that a queue holding a
// message survives msw-rm, goes with -f, and that -f ignores a missing
// queue.
func TestRmLeavesQueueWithMessagesUnlessForced(t *testing.T) {
	addr, cl, ctx := tooltest.Start(t, "sender")
	if err := cl.CreateQueue(ctx, "full"); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Send(ctx, "full", lib.Message{Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	code, _, errs := tooltest.Run(Run, "-s", addr, "full")
	if code != tool.ExitFailure || !strings.Contains(errs, "not removed (-f removes it with its messages)") {
		t.Fatalf("without -f: exit %d, stderr %q", code, errs)
	}
	code, out, errs := tooltest.Run(Run, "-s", addr, "-f", "-v", "full", "missing")
	if code != tool.ExitOK || out != "removed full\n" || errs != "" {
		t.Fatalf("-f -v: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if _, err := cl.Info(ctx, "full"); !lib.IsCode(err, lib.CodeNoSuchQueue) {
		t.Fatalf("queue still there after msw-rm -f: %v", err)
	}
}
