package tool_test

import (
	"strings"
	"testing"

	"msw/internal/tool"
)

func TestSummarize(t *testing.T) {
	long := strings.Repeat("x", 80)
	for _, c := range []struct {
		text  string
		size  int
		cut   bool
		width int
		want  string
	}{
		{"hello", 5, false, 60, "hello"},
		{"", 0, false, 60, "(empty)"},
		{long[:64], 200, true, 60, long[:60] + "… (200 bytes)"},
		{long[:64], 200, true, -1, long[:64] + "… (200 bytes)"},
		{`{"jsonrpc":"2.0","method":"VM.start","params":["vm1"],"id":1}`, 61, false, 60, `VM.start(["vm1"])`},
		{`{"jsonrpc": "2.0", "method": "VM.start", "params": {"vm": "a"}}`, 63, false, 60, `VM.start({"vm":"a"})`},
		{`{"jsonrpc":"2.0","result":{"ok":true},"id":1}`, 45, false, 60, `result {"ok":true}`},
		{`{"jsonrpc":"2.0","error":{"code":-32601},"id":1}`, 48, false, 60, `error {"code":-32601}`},
		{`{"jsonrpc":"2.0","method":"VM.migrate","params":{"vm":"a","dest`, 300, true, 60, `VM.migrate({"vm":"a","dest… (300 bytes)`},
		{`{"not":"rpc"}`, 13, false, 60, `{"not":"rpc"}`},
	} {
		if got := tool.SummarizePayload(c.text, c.size, c.cut, c.width); got != c.want {
			t.Errorf("tool.SummarizePayload(%q, %d, %v, %d) = %q; want %q", c.text, c.size, c.cut, c.width, got, c.want)
		}
	}
}
