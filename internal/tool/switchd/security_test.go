package switchd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"msw/internal/tool"
	"msw/internal/tool/tooltest"
)

// TestRefusesToListenBeyondLoopback: a non-loopback --listen without a
// token or TLS does not start, with one line saying why.
func TestRefusesToListenBeyondLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", "192.0.2.1:0", "example.org:0"} {
		code, out, errs := tooltest.Run(Run, "--listen", addr)
		if code != tool.ExitFailure || out != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "reaches beyond this machine: give --token-file and/or --tls-cert/--tls-key") {
			t.Errorf("--listen %s: exit %d, stdout %q, stderr %q; want exit 1 and one line", addr, code, out, errs)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0", "127.8.9.10:0"} {
		if exposed(addr) {
			t.Errorf("%s counted as beyond loopback", addr)
		}
	}
}

// TestTokenFile: a token file others may read, or too short a token, is
// refused; a good one is read without its newline.
func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	good := write("good", "0123456789abcdef0123\n", 0o600)
	if tok, err := readToken(good); err != nil || tok != "0123456789abcdef0123" {
		t.Errorf("readToken: %q %v", tok, err)
	}
	for _, tc := range []struct{ path, want string }{
		{write("open", "0123456789abcdef0123\n", 0o644), "readable by others"},
		{write("short", "abc\n", 0o600), "use at least 16"},
		{filepath.Join(dir, "none"), "no such file"},
	} {
		code, _, errs := tooltest.Run(Run, "--token-file", tc.path)
		if code != tool.ExitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("--token-file %s: exit %d, %q; want exit 2 naming %q", tc.path, code, errs, tc.want)
		}
	}
	code, _, errs := tooltest.Run(Run, "--tls-cert", good)
	if code != tool.ExitUsage || !strings.Contains(errs, "--tls-cert and --tls-key go together") {
		t.Errorf("--tls-cert alone: exit %d, %q", code, errs)
	}
	code, _, errs = tooltest.Run(Run, "--max-memory", "lots")
	if code != tool.ExitUsage || !strings.Contains(errs, "--max-memory") {
		t.Errorf("--max-memory lots: exit %d, %q", code, errs)
	}
}
