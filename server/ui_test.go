package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"msw/broker"
	"msw/internal/switchtest"
	"msw/internal/testutil"
	"msw/internal/wire"
	"msw/lib"
	"msw/server"
)

// get fetches a path of a switch and returns the answer and its body.
func get(t *testing.T, method, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestPageServed(t *testing.T) {
	base := "http://" + switchtest.Start(t, "", broker.Options{}, server.Options{}).Addr
	resp, body := get(t, "GET", base+"/", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, `data-writes="false"`) {
		t.Errorf("GET / = %d %s, body has data-writes=false: %v", resp.StatusCode, resp.Header.Get("Content-Type"), strings.Contains(body, `data-writes="false"`))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("GET / Content-Security-Policy = %q; want the page limited to the switch", csp)
	}
	for _, asset := range []string{"app.js", "sequence.js", "summary.js", "history.js", "style.css"} {
		resp, body := get(t, "GET", base+"/ui/"+asset, nil)
		if resp.StatusCode != 200 || len(body) == 0 || !strings.Contains(body, asset) {
			t.Errorf("GET /ui/%s = %d, %d bytes; want the file (which names itself)", asset, resp.StatusCode, len(body))
		}
	}
	if resp, _ := get(t, "GET", base+"/ui/app.js", nil); !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("app.js served as %q; browsers run modules only with a JavaScript type", resp.Header.Get("Content-Type"))
	}
	// Everything else still answers as the API does.
	for _, c := range []struct{ method, path string }{
		{"GET", "/nope"}, {"GET", "/ui/"}, {"GET", "/ui/missing.js"}, {"GET", "/ui/index.html"}, {"POST", "/"},
	} {
		resp, body := get(t, c.method, base+c.path, nil)
		var e wire.Error
		if resp.StatusCode < 400 || json.Unmarshal([]byte(body), &e) != nil || e.Message == "" {
			t.Errorf("%s %s = %d %q; want a JSON error", c.method, c.path, resp.StatusCode, body)
		}
	}
}

// TestPageWrites: without UIWrites a browser (a request with an Origin)
// may read but not change anything; with it, it may. Tools are never
// affected.
func TestPageWrites(t *testing.T) {
	for _, writes := range []bool{false, true} {
		sw := switchtest.Start(t, "", broker.Options{}, server.Options{UIWrites: writes})
		base := "http://" + sw.Addr
		browser := map[string]string{"Origin": base, "Sec-Fetch-Site": "same-origin"}
		_, page := get(t, "GET", base+"/", nil)
		if want := map[bool]string{false: `data-writes="false"`, true: `data-writes="true"`}[writes]; !strings.Contains(page, want) {
			t.Errorf("UIWrites %v: page lacks %s", writes, want)
		}
		if err := sw.Broker.CreateQueue(nil, "q"); err != nil {
			t.Fatal(err)
		}
		if resp, _ := get(t, "GET", base+"/v1/queues/q", browser); resp.StatusCode != 200 {
			t.Errorf("UIWrites %v: browser read = %d; want 200", writes, resp.StatusCode)
		}
		want := map[bool]int{false: 403, true: 204}[writes]
		resp, body := get(t, "DELETE", base+"/v1/queues/q", browser)
		if resp.StatusCode != want {
			t.Errorf("UIWrites %v: browser destroy = %d %s; want %d", writes, resp.StatusCode, body, want)
		}
		if !writes && !strings.Contains(body, "--ui-writes") {
			t.Errorf("refusal %q does not say how to allow it", body)
		}
		if resp, _ := get(t, "DELETE", base+"/v1/queues/q", nil); writes && resp.StatusCode != 404 || !writes && resp.StatusCode != 204 {
			t.Errorf("UIWrites %v: tool destroy = %d", writes, resp.StatusCode)
		}
	}
}

// TestHistoryEndpoint reads GET /v1/history from a switch sampling every
// few milliseconds while a queue fills.
func TestHistoryEndpoint(t *testing.T) {
	sw := switchtest.Start(t, "", broker.Options{}, server.Options{HistoryInterval: 5 * time.Millisecond})
	c := switchtest.Client(t, sw.Addr, lib.Options{ClientID: "sender"})
	ctx := context.Background()
	if err := c.CreateQueue(ctx, "work"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := c.Send(ctx, "work", lib.Message{Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	var hist wire.HistoryResponse
	testutil.Eventually(t, "history shows work at depth 3", func() bool {
		_, body := get(t, "GET", "http://"+sw.Addr+wire.PathHistory, nil)
		if err := json.Unmarshal([]byte(body), &hist); err != nil {
			t.Fatalf("history body %q: %v", body, err)
		}
		for _, q := range hist.Queues {
			if q.Queue == "work" && len(q.Samples) > 0 && q.Samples[len(q.Samples)-1].Depth == 3 {
				return true
			}
		}
		return false
	})
	if hist.IntervalMillis != 5 || hist.Queues[0].Kind != "persistent" {
		t.Errorf("history = %+v", hist)
	}
}

// TestDiagnosticsServices: with stale_ms the diagnostics answer carries
// the diagnosis msw-diag prints; without it, the snapshot alone.
func TestDiagnosticsServices(t *testing.T) {
	sw := switchtest.Start(t, "", broker.Options{}, server.Options{})
	base := "http://" + sw.Addr
	if err := sw.Broker.CreateQueue(nil, "nobody"); err != nil {
		t.Fatal(err)
	}
	sw.Broker.Send(nil, "nobody", []wire.Message{{Payload: []byte("hello"), ReplyTo: "nobody"}})
	var snap wire.Snapshot
	_, body := get(t, "GET", base+wire.PathDiagnostics+"?stale_ms=30000", nil)
	if err := json.Unmarshal([]byte(body), &snap); err != nil || snap.Services == nil {
		t.Fatalf("diagnostics with stale_ms = %q (%v); want services", body, err)
	}
	d := snap.Services
	if d.StaleMillis != 30000 || len(d.Services) != 1 || d.Services[0].Queue != "nobody" || d.Services[0].State != wire.ServiceNeverStarted || len(d.Services[0].Callers) != 1 {
		t.Errorf("services = %+v; want nobody never started, with one caller line", d)
	}
	_, body = get(t, "GET", base+wire.PathDiagnostics, nil)
	if strings.Contains(body, `"services"`) {
		t.Errorf("diagnostics without stale_ms carries services: %s", body)
	}
	if resp, body := get(t, "GET", base+wire.PathDiagnostics+"?stale_ms=soon", nil); resp.StatusCode != 400 || !strings.Contains(body, "stale_ms") {
		t.Errorf("stale_ms=soon = %d %s; want 400 naming stale_ms", resp.StatusCode, body)
	}
}
