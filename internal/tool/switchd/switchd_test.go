package switchd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"msw/internal/testutil"
	"msw/internal/tool"
	"msw/internal/tool/tooltest"
)

// TestSwitchServesUntilAskedToStop starts msw-switch's body on a free
// port, as the testscripts do, and stops it with --shutdown.
func TestSwitchServesUntilAskedToStop(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "addr")
	stderr := &testutil.Buffer{}
	exited := make(chan int, 1)
	go func() {
		// The single-dash spelling scripts may use is accepted too.
		exited <- Run([]string{"-listen", "127.0.0.1:0", "--ready-file", ready, "--trace-size", "0"}, nil, &bytes.Buffer{}, stderr)
	}()
	var addr string
	testutil.Eventually(t, "the switch writes its --ready-file", func() bool {
		b, err := os.ReadFile(ready)
		addr = strings.TrimSpace(string(b))
		return err == nil && strings.HasSuffix(string(b), "\n")
	})
	code, out, errs := tooltest.Run(Run, "--shutdown", "-s", addr)
	if code != tool.ExitOK || out != "" || !strings.Contains(errs, "asked the switch at") {
		t.Errorf("--shutdown: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if code := <-exited; code != tool.ExitOK {
		t.Errorf("the switch exited %d; stderr:\n%s", code, stderr.String())
	}
	log := stderr.String()
	for _, want := range []string{"msw-switch: listening on " + addr + "\n", "msw-switch: stopping\n", "msw-switch: stopped\n"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestSwitchUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"extra"}, "msw-switch: unexpected argument \"extra\"\n"},
		{[]string{"--max-payload", "lots"}, "msw-switch: --max-payload: size \"lots\": want a positive number of bytes, optionally with K, M or G\n"},
		{[]string{"--socket-mode", "999"}, "msw-switch: --socket-mode \"999\": want an octal mode such as 0600\n"},
		{[]string{"--session-grace", "soon"}, "msw-switch: invalid value \"soon\" for --session-grace: want a duration such as 5s, 1m30s or 0.5\n"},
		{[]string{"--nope"}, "msw-switch: unknown option --nope\n"},
	} {
		code, out, errs := tooltest.Run(Run, tc.args...)
		if code != tool.ExitUsage || out != "" || !strings.HasPrefix(errs, tc.msg) {
			t.Errorf("%q: exit %d, stderr %q; want %d, %q", tc.args, code, errs, tool.ExitUsage, tc.msg)
		}
	}
}

// TestSwitchHelpGroupsEveryOption checks that -h lists each option in a
// group, with the double-dash names the other commands use.
func TestSwitchHelpGroupsEveryOption(t *testing.T) {
	code, out, errs := tooltest.Run(Run, "-h")
	if code != tool.ExitOK || errs != "" {
		t.Fatalf("-h: exit %d, stderr %q", code, errs)
	}
	if strings.Contains(out, "\nOther:\n") {
		t.Errorf("-h has options outside the groups:\n%s", out)
	}
	for _, group := range []string{"\nServing:\n", "\nLimits:\n", "\nStopping a running switch:\n", "\nHelp:\n"} {
		if !strings.Contains(out, group) {
			t.Errorf("-h lacks the group %q:\n%s", group, out)
		}
	}
	for _, name := range []string{"listen", "socket-mode", "allow-host", "ready-file", "max-payload", "max-wait", "session-grace", "trace-size", "shutdown", "switch", "wait", "client-id", "version"} {
		if !strings.Contains(out, "  --"+name+" ") && !strings.Contains(out, ", --"+name+" ") {
			t.Errorf("-h does not list --%s:\n%s", name, out)
		}
	}
	if !strings.Contains(out, "\n  -v, --verbose  ") {
		t.Errorf("-h does not list -v, --verbose:\n%s", out)
	}
}
