package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"msw/broker"
	"msw/internal/switchtest"
	"msw/internal/wire"
	"msw/server"
)

// TestNotFoundCode: every 404 that is not about a queue or a message
// carries the same code, from the API's routes and the page's assets
// alike; GET / is the page.
func TestNotFoundCode(t *testing.T) {
	base := "http://" + switchtest.Start(t, "", broker.Options{}, server.Options{}).Addr
	if resp, body := get(t, "GET", base+"/", nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, "<html") {
		t.Errorf("GET / = %d; want 200 and the page", resp.StatusCode)
	}
	for _, path := range []string{"/nosuch", "/v1/nosuch", "/v1/queues/q/messages/1/x", "/ui/nosuch.js", "/ui/index.html"} {
		resp, body := get(t, "GET", base+path, nil)
		var we wire.Error
		json.Unmarshal([]byte(body), &we)
		if resp.StatusCode != http.StatusNotFound || we.Code != wire.CodeNoSuchEndpoint || we.Message != "no such endpoint: GET "+path {
			t.Errorf("GET %s = %d %q %q; want 404 %s", path, resp.StatusCode, we.Code, we.Message, wire.CodeNoSuchEndpoint)
		}
	}
}
