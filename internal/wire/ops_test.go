package wire

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

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

// TestProtocolDocListsHotOps keeps the table of docs/protocol.md true to
// HotOps.
func TestProtocolDocListsHotOps(t *testing.T) {
	doc, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range HotOps {
		idem := "no"
		if o.Idempotent {
			idem = "yes"
		}
		row := fmt.Sprintf("| %s | `%s` | %d", o.Name, o.Pattern(), o.Stream)
		i := strings.Index(string(doc), row)
		if i < 0 || !strings.HasPrefix(strings.SplitN(string(doc[i+len(row):]), "\n", 2)[0], " ") ||
			!strings.HasSuffix(strings.SplitN(string(doc[i:]), "\n", 2)[0], "| "+idem+" |") {
			t.Errorf("docs/protocol.md: no row %q… | %s |", row, idem)
		}
	}
}
