package server

import (
	"net/http"
	"strings"
	"testing"

	"msw/broker"
)

// A policy in the body of PUT /v1/queues/{name}: set, shown in the
// queue's info, refused with 400 naming the field when bad; a send past
// it is 429 queue_full.
func TestPolicyOverHTTP(t *testing.T) {
	skipOnEngine(t, "queue policies are not applied to cluster queues yet")
	_, base := startSwitch(t, broker.Options{})
	c := &http.Client{}
	for _, tc := range []struct {
		body   string
		status int
		want   string
	}{
		{`{"max_depth":1,"ttl":"1h"}`, 200, `"max_depth":1,"overflow":"reject","ttl":"1h"`},
		{`{"max_depth":-1}`, 400, `"code":"bad_request","error":"bad policy: max_depth -1`},
		{`{"overflow":"maybe"}`, 400, `bad policy: overflow \"maybe\"`},
		{`{"ttl":"soon"}`, 400, `bad policy: ttl \"soon\"`},
		{`{"max_depth":"x"}`, 400, `bad JSON body`},
	} {
		r := do(t, c, "PUT", base+"/v1/queues/q", nil, tc.body)
		t.Logf("PUT %s: %d %s", tc.body, r.status, strings.TrimSpace(r.body))
		if r.status != tc.status || !strings.Contains(r.body, tc.want) {
			t.Errorf("PUT %s: %d %s; want %d with %s", tc.body, r.status, r.body, tc.status, tc.want)
		}
	}
	// No body leaves the policy as it is.
	if r := do(t, c, "PUT", base+"/v1/queues/q", nil, ""); !strings.Contains(r.body, `"max_depth":1`) {
		t.Errorf("PUT without a body: %s", r.body)
	}
	if r := do(t, c, "POST", base+"/v1/queues/q/messages", nil, "one"); r.status != 200 {
		t.Fatalf("first send: %d %s", r.status, r.body)
	}
	r := do(t, c, "POST", base+"/v1/queues/q/messages", nil, "two")
	t.Logf("second send: %d %s", r.status, strings.TrimSpace(r.body))
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, `"code":"queue_full"`) {
		t.Fatalf("a send past max-depth: %d %s; want 429 queue_full", r.status, r.body)
	}
	// /metrics shows the policy and the refusal.
	m := do(t, c, "GET", base+"/metrics", nil, "")
	for _, want := range []string{
		`msw_queue_max_depth{queue="q"} 1`,
		`msw_queue_expired_total{queue="q"} 0`,
		`msw_messages_rejected_total 1`,
		`msw_messages_expired_total 0`,
		`msw_messages_dead_lettered_total 0`,
		`msw_messages_dropped_total 0`,
	} {
		if !strings.Contains(m.body, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
