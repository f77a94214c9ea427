package switchd

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"msw/internal/testutil"
	"msw/internal/tool"
	"msw/internal/tool/tooltest"
)

// TestSwitchUIWrites: msw-switch serves its page on /, and --ui-writes
// is what lets a browser change state.
func TestSwitchUIWrites(t *testing.T) {
	for _, writes := range []bool{false, true} {
		ready := filepath.Join(t.TempDir(), "addr")
		args := []string{"--listen", "127.0.0.1:0", "--ready-file", ready}
		if writes {
			args = append(args, "--ui-writes")
		}
		done := make(chan int)
		go func() { done <- Run(args, strings.NewReader(""), io.Discard, testutil.LogWriter(t, "msw-switch: ")) }()
		var addr string
		testutil.Eventually(t, "switch ready", func() bool {
			b, err := os.ReadFile(ready)
			addr = strings.TrimSpace(string(b))
			return err == nil && addr != ""
		})
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := `data-writes="` + map[bool]string{false: "false", true: "true"}[writes] + `"`; !strings.Contains(string(page), want) {
			t.Errorf("--ui-writes %v: GET / lacks %s", writes, want)
		}
		req, _ := http.NewRequest("PUT", "http://"+addr+"/v1/queues/q", nil)
		req.Header.Set("Origin", "http://"+addr)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{false: 403, true: 200}[writes]; resp.StatusCode != want {
			t.Errorf("--ui-writes %v: a browser's PUT = %d; want %d", writes, resp.StatusCode, want)
		}
		if code, _, errs := tooltest.Run(Run, "--shutdown", "-s", addr); code != tool.ExitOK {
			t.Fatalf("--shutdown: exit %d: %s", code, errs)
		}
		if code := <-done; code != tool.ExitOK {
			t.Errorf("switch exit %d", code)
		}
	}
}
