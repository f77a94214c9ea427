package server

import (
	"net/http"
	"strings"
	"testing"

	"msw/broker"
)

// TestPublishAndBindOverHTTP: the routes of docs/protocol.md's
// Publishing section, by hand, as curl would send them.
func TestPublishAndBindOverHTTP(t *testing.T) {
	skipOnEngine(t, "topics and bindings need the switch's own queues")
	_, url := startSwitch(t, broker.Options{})
	c := &http.Client{}
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"PUT", "/v1/queues/news", "", 200, ""},
		{"PUT", "/v1/queues/news/bindings/news.%3E", "", 204, ""},
		{"PUT", "/v1/queues/news/bindings/news.*.uk", "", 204, ""},
		{"PUT", "/v1/queues/nosuch/bindings/a", "", 404, `"code":"no_such_queue"`},
		{"PUT", "/v1/queues/news/bindings/a..b", "", 400, `"code":"bad_topic"`},
		{"GET", "/v1/bindings", "", 200, `{"bindings":[{"queue":"news","pattern":"news.*.uk"},{"queue":"news","pattern":"news.>"}]}`},
		{"POST", "/v1/topics/news.sports.uk/messages", "goal", 200, `{"queues":1}`},
		{"POST", "/v1/topics/weather/messages", "rain", 200, `{"queues":0}`},
		{"POST", "/v1/topics/news.*/messages", "x", 400, `"code":"bad_topic"`},
		{"GET", "/v1/queues/news", "", 200, `"bindings":["news.*.uk","news.>"]`},
		{"DELETE", "/v1/queues/news/bindings/news.%3E", "", 204, ""},
		{"POST", "/v1/topics/news.weather/messages", "x", 200, `{"queues":0}`},
		{"GET", "/v1/queues/news/messages", "", 200, `"payload":"goal"`},
	} {
		r := do(t, c, tc.method, url+tc.path, nil, tc.body)
		if r.status != tc.status || !strings.Contains(r.body, tc.want) {
			t.Errorf("%s %s: %d %s; want %d with %s", tc.method, tc.path, r.status, r.body, tc.status, tc.want)
		}
	}
}
