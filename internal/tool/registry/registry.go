// Package registry lists every msw command with its body, in one place:
// the test binary acts as each of them through it (script_test.go), and
// a test holds it to the directories in cmd/. It links every body, the
// switch's too, so no command's main imports it.
package registry

import (
	"io"

	"msw/internal/tool/ack"
	"msw/internal/tool/bind"
	"msw/internal/tool/call"
	"msw/internal/tool/diag"
	"msw/internal/tool/front"
	"msw/internal/tool/ls"
	"msw/internal/tool/mkq"
	"msw/internal/tool/pub"
	"msw/internal/tool/recv"
	"msw/internal/tool/rm"
	"msw/internal/tool/send"
	"msw/internal/tool/serve"
	"msw/internal/tool/sub"
	"msw/internal/tool/switchd"
	"msw/internal/tool/tail"
	"msw/internal/tool/unbind"
)

// Body is a command's body: it takes the arguments after the program
// name and the three streams, and returns the exit status.
type Body func(args []string, stdin io.Reader, stdout, stderr io.Writer) int

// Tool is one command: the name of its binary (and of its directory in
// cmd/ and its man page) and its body.
type Tool struct {
	Name string
	Run  Body
}

// Tools lists every command: the front door msw, then those of
// catalog.Commands in its order.
var Tools = []Tool{
	{"msw", front.Run},
	{"msw-switch", switchd.Run},
	{"msw-send", send.Run},
	{"msw-recv", recv.Run},
	{"msw-call", call.Run},
	{"msw-serve", serve.Run},
	{"msw-ls", ls.Run},
	{"msw-diag", diag.Run},
	{"msw-tail", tail.Run},
	{"msw-rm", rm.Run},
	{"msw-ack", ack.Run},
	{"msw-pub", pub.Run},
	{"msw-sub", sub.Run},
	{"msw-bind", bind.Run},
	{"msw-unbind", unbind.Run},
	{"msw-mkq", mkq.Run},
}
