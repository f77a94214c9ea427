package msw_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"msw/internal/natstest"
)

// natsScripts are the send, receive and RPC scripts that run a second
// time with their switch a gateway over a JetStream cluster.
var natsScripts = []string{
	"send_binary", "send_json_roundtrip", "recv_n_leaves_rest",
	"rpc_parallel", "call_stdin", "serve_noreply",
	"recv_peek", "rm_purge", "call_lines",
}

// TestScriptsNATS runs natsScripts with every 'exec msw-switch' given
// --backend: a three-node JetStream cluster in this process, an account
// of its own for each script, so that their queue names do not meet.
func TestScriptsNATS(t *testing.T) {
	dir := t.TempDir()
	account := map[string]int{}
	for i, name := range natsScripts {
		b, err := os.ReadFile(filepath.Join("testdata/script", name+".txtar"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "exec msw-switch ") {
			t.Fatalf("%s starts no switch", name)
		}
		b = []byte(strings.ReplaceAll(string(b), "exec msw-switch ", "exec msw-switch --backend $NATS_BACKEND --replicas 3 "))
		if err := os.WriteFile(filepath.Join(dir, name+".txtar"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		account[name] = i + 1
	}
	c := natstest.StartAccounts(t, 3, len(natsScripts))
	testscript.Run(t, scriptParams(dir, func(env *testscript.Env) error {
		name := strings.TrimPrefix(filepath.Base(env.WorkDir), "script-")
		env.Setenv("NATS_BACKEND", c.AccountURL(account[name]))
		return nil
	}))
}
