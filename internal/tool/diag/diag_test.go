package diag

import (
	"net"
	"strings"
	"testing"
	"time"

	"msw/broker"
	"msw/internal/tool"
	"msw/internal/tool/tooltest"
	"msw/lib"
)

func TestDiagNoServices(t *testing.T) {
	addr := tooltest.Switch(t, broker.Options{})
	code, out, errs := tooltest.Run(Run, "-s", addr)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if !strings.Contains(out, "There are no known services (yet).") || !strings.Contains(out, "started ") {
		t.Errorf("output:\n%s", out)
	}
}

// TestDiagLive drives an RPC-shaped exchange through a switch and checks
// what msw-diag says at each step.
func TestDiagLive(t *testing.T) {
	addr, caller, ctx := tooltest.Start(t, "caller-1")
	replyTo, err := caller.CreateTransient(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := caller.Subscribe(ctx, replyTo); err != nil {
		t.Fatal(err)
	}
	if err := caller.CreateQueue(ctx, "svc"); err != nil {
		t.Fatal(err)
	}
	payload := `{"jsonrpc":"2.0","method":"VM.start","params":["vm1"],"id":1}`
	if _, err := caller.Send(ctx, "svc", lib.Message{Payload: []byte(payload), CorrelationID: "c1", ReplyTo: replyTo}); err != nil {
		t.Fatal(err)
	}

	code, out, _ := tooltest.Run(Run, "-s", addr)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"Called but never started",
		"  svc: 1 queued",
		"#1 from caller-1, less than a second ago, queued",
		`payload: VM.start(["vm1"])`,
		"caller: caller-1 waiting (reply queue " + replyTo + ")",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}

	// A server takes the request and holds it.
	srv := tooltest.Client(t, addr, "server-1")
	if err := srv.Subscribe(ctx, "svc"); err != nil {
		t.Fatal(err)
	}
	reqs, err := srv.Transfer(ctx, lib.TransferOptions{Max: 1, Timeout: 5 * time.Second})
	if err != nil || len(reqs) != 1 {
		t.Fatalf("transfer: %v, %d", err, len(reqs))
	}
	_, out, _ = tooltest.Run(Run, "-s", addr)
	for _, want := range []string{"Running services:", "svc: 1 server (server-1); 1 in flight", "in flight at server-1"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	// It replies and acks; the caller does not collect the reply.
	if _, err := srv.Send(ctx, replyTo, lib.Message{Payload: []byte(`{"jsonrpc":"2.0","result":"ok","id":1}`), CorrelationID: "c1"}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Ack(ctx, lib.Acks{"svc": {reqs[0].ID}}); err != nil {
		t.Fatal(err)
	}
	_, out, _ = tooltest.Run(Run, "-s", addr, "-v")
	for _, want := range []string{"svc: 1 server (server-1); waiting for requests", "Replies nobody collected:", replyTo + " (reply queue of caller-1): 1 reply", `payload: result "ok"`, "Client sessions:"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "VM.start") {
		t.Errorf("the answered request is still listed:\n%s", out)
	}

	code, out, _ = tooltest.Run(Run, "-s", addr, "--json")
	if code != 0 || !strings.Contains(out, `"ever_subscribed": true`) {
		t.Errorf("--json: exit %d:\n%s", code, out)
	}
}

func TestDiagVerboseFullPayload(t *testing.T) {
	addr, c, ctx := tooltest.Start(t, "sender")
	if err := c.CreateQueue(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("abcdefghij", 20) + "END"
	if _, err := c.Send(ctx, "q", lib.Message{Payload: []byte(long), ReplyTo: "q"}); err != nil {
		t.Fatal(err)
	}
	_, out, _ := tooltest.Run(Run, "-s", addr)
	if strings.Contains(out, "END") || !strings.Contains(out, "… (203 bytes)") {
		t.Errorf("without -v the payload should be cut:\n%s", out)
	}
	_, out, _ = tooltest.Run(Run, "-s", addr, "-v")
	if !strings.Contains(out, "payload: "+long+"\n") {
		t.Errorf("with -v the payload should be whole:\n%s", out)
	}
}

func TestDiagUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	code, out, errs := tooltest.Run(Run, "-s", addr, "--wait", "0")
	if code != tool.ExitUnreachable || out != "" || !strings.Contains(errs, "msw-diag: switch at "+addr+" not reachable") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestDiagUsage(t *testing.T) {
	for _, args := range [][]string{{"extra"}, {"--stale", "soon"}, {"--stale", "0"}, {"--max-messages", "-1"}} {
		if code, _, errs := tooltest.Run(Run, args...); code != tool.ExitUsage || !strings.Contains(errs, "Try 'msw-diag -h'") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
	}
}
