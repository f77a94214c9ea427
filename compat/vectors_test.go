package compat_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"msw/broker"
	"msw/internal/compattest"
)

// The vectors of the original protocol's specification (sections 6.1 to
// 6.6 of the spec msw was built from), replayed against the compat
// listener. Message ids are msw's (the queue's epoch plus its own id, see
// broker/cursor.go) where the original's started at 0, so the expected
// bodies are built with the ids the switch gave; everything else is
// compared byte for byte.

// cursor is the id the compat listener gives the n'th message of a queue.
func (e *env) cursor(t *testing.T, queue string, n int64) int64 {
	t.Helper()
	epoch, err := e.b.Epoch(queue)
	if err != nil {
		t.Fatal(err)
	}
	return epoch + n
}

func TestLinkTestVectors(t *testing.T) {
	e := start(t, broker.Options{})
	c := e.dial(t)
	exact(t, c, live("GET /login/hello HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), 200, "")
	exact(t, c, live("GET /persistent/service HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), 200, "service")
	exact(t, c, live("GET /transient/client HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), 200, "client")
	// The request decodes its reply queue to "reply to", a name msw's
	// queues cannot have (and so no reply could reach): refused.
	resp, body, err := c.Raw([]byte(live("POST /request/service/reply%20to HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")))
	if err != nil || resp.StatusCode != 400 || !strings.Contains(string(body), `reply queue: bad queue name: "reply to"`) {
		t.Errorf("request with reply queue %q: %v %s %v", "reply to", resp.Status, body, err)
	}
	exact(t, c, live("POST /request/service/reply%3Ato HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"), 200,
		fmt.Sprintf(`[["service",%d]]`, e.cursor(t, "service", 1)))
	exact(t, c, live("POST /response/service/q/1 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"), 200,
		fmt.Sprintf(`[["service",%d]]`, e.cursor(t, "service", 2)))
	// The reply the client parses, as a server returning those two
	// messages says it: "next" is the largest id returned.
	r, s := e.cursor(t, "service", 1), e.cursor(t, "service", 2)
	exact(t, c, string(compattest.Request("POST", "/transfer", []byte(`{"timeout":5.0,"queues":["service"]}`))), 200,
		fmt.Sprintf(`{"messages":[[["service",%d],{"payload":"hello","kind":["Request","reply:to"]}],[["service",%d],{"payload":"hello","kind":["Response",["q",1]]}]],"next":"%d"}`, r, s, s))
	// A cursor ("3") below the queue's ids sees all of it; "two" is
	// missing and contributes nothing.
	ok(t, c, "GET", "/persistent/one", "")
	ok(t, c, "POST", "/request/one/client", "x")
	one := e.cursor(t, "one", 1)
	exact(t, c, live("POST /transfer HTTP/1.1\r\nContent-Length: 49\r\n\r\n{\"from\":\"3\",\"timeout\":5.0,\"queues\":[\"one\",\"two\"]}"), 200,
		fmt.Sprintf(`{"messages":[[["one",%d],{"payload":"x","kind":["Request","client"]}]],"next":"%d"}`, one, one))
	exact(t, c, live("GET /ack/q/3 HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), 200, "")
}

func TestClientRequestEncodings(t *testing.T) {
	e := start(t, broker.Options{})
	c := e.login(t, "message-cli:1234")
	req := compattest.Request
	exact(t, c, string(req("GET", "/persistent/org.xen.xapi.xenops.classic", nil)), 200, "org.xen.xapi.xenops.classic")
	ok(t, c, "GET", "/persistent/foo", "")
	ok(t, c, "GET", "/transient/message-cli:1234", "")
	foo := e.cursor(t, "foo", 1)
	exact(t, c, string(req("POST", "/request/foo/message-cli:1234", []byte(`{"method":"x"}`))), 200, fmt.Sprintf(`[["foo",%d]]`, foo))
	mine := e.cursor(t, "message-cli:1234", 1)
	exact(t, c, string(req("POST", "/response/message-cli:1234/foo/7", []byte("ok"))), 200, fmt.Sprintf(`[["message-cli:1234",%d]]`, mine))
	exact(t, c, string(req("POST", "/transfer", []byte(`{"timeout":30.0,"queues":["message-cli:1234"]}`))), 200,
		fmt.Sprintf(`{"messages":[[["message-cli:1234",%d],{"payload":"ok","kind":["Response",["foo",7]]}]],"next":"%d"}`, mine, mine))
	ok(t, c, "GET", "/persistent/a", "")
	exact(t, c, string(req("POST", "/transfer", []byte(`{"from":"-1","timeout":0.5,"queues":["a","b"]}`))), 200, `{"messages":[],"next":"-1"}`)
	// Trace (0,5.0) returns at once: there are events.
	status, body, err := c.Do("GET", "/trace/0/5", nil)
	if err != nil || status != 200 || !strings.HasPrefix(string(body), `{"events":[[`) {
		t.Errorf("GET /trace/0/5: %d %s %v", status, body, err)
	}
	// From the id after the last, with no wait: nothing.
	ids := regexp.MustCompile(`\[([0-9]+),\{"time"`).FindAllStringSubmatch(string(body), -1)
	var last int
	fmt.Sscan(ids[len(ids)-1][1], &last)
	exact(t, c, string(req("GET", fmt.Sprintf("/trace/%d/0", last+1), nil)), 200, `{"events":[]}`)
	exact(t, c, string(req("GET", "/list/", nil)), 200, `["org.xen.xapi.xenops.classic","message-cli:1234","foo","a"]`)
	exact(t, c, string(req("GET", "/list/alive/org.xen", nil)), 200, `[]`)
	exact(t, c, string(req("GET", "/admin/index.html", nil)), 404, "Not found: /admin/index.html")
}

func TestResponseBodies(t *testing.T) {
	e := start(t, broker.Options{})
	anon := e.dial(t)
	req := compattest.Request
	// Not logged in: 404 at once, a Transfer included.
	exact(t, anon, string(req("GET", "/persistent/z", nil)), 404, "Please log in.")
	exact(t, anon, string(req("POST", "/transfer", []byte(`{"timeout":30.0,"queues":["z"]}`))), 404, "Please log in.")
	status, body, err := anon.Do("GET", "/", nil)
	if err != nil || status != 200 || !regexp.MustCompile(`^\{"start_time":0,"current_time":[0-9]+,"permanent_queues":\{\},"transient_queues":\{\}\}$`).Match(body) {
		t.Errorf("empty diagnostics: %d %s %v", status, body, err)
	}
	// The switch's own events (a session started) have no form here.
	exact(t, anon, string(req("GET", "/trace/0/0", nil)), 200, `{"events":[]}`)

	c := e.login(t, "t")
	exact(t, c, string(req("GET", "/list/", nil)), 200, `[]`)
	exact(t, c, string(req("POST", "/request/foo/t", []byte("x"))), 200, `[]`)
	exact(t, c, string(req("POST", "/response/foo/q/1", []byte("x"))), 200, `[]`)
	exact(t, c, string(req("POST", "/transfer", []byte(`{"timeout":0,"queues":["foo"]}`))), 200, `{"messages":[],"next":"-1"}`)
	for _, name := range []string{"a", "c", "b"} {
		ok(t, c, "GET", "/persistent/"+name, "")
	}
	exact(t, c, string(req("GET", "/list/", nil)), 200, `["c","b","a"]`)
	exact(t, c, string(req("GET", "/destroy/b", nil)), 200, "")
	exact(t, c, string(req("GET", "/destroy/nosuch", nil)), 200, "")
	exact(t, c, string(req("GET", "/ack/nosuch/99", nil)), 200, "")
	exact(t, c, string(req("GET", "/list/", nil)), 200, `["c","a"]`)
}

func TestPayloadBytesWrittenRaw(t *testing.T) {
	e := start(t, broker.Options{})
	c := e.login(t, "t")
	ok(t, c, "GET", "/persistent/q", "")
	for i, payload := range []string{"a\"b\\c\n\x01\x7fé/<>&", "\xff\xfe raw", ""} {
		ok(t, c, "POST", "/request/q/r", payload)
		id := e.cursor(t, "q", int64(i+1))
		from := id - 1
		var esc string
		switch i {
		case 0:
			esc = `a\"b\\c\n\u0001\u007fé/<>&`
		case 1:
			esc = "\xff\xfe raw"
		}
		exact(t, c, string(compattest.Request("POST", "/transfer", fmt.Appendf(nil, `{"from":"%d","timeout":0,"queues":["q"]}`, from))), 200,
			fmt.Sprintf(`{"messages":[[["q",%d],{"payload":"%s","kind":["Request","r"]}]],"next":"%d"}`, id, esc, id))
	}
	// msw's own clients get the very bytes.
	ds, err := e.b.Peek("q", 10)
	if err != nil || len(ds) != 3 || string(ds[1].Payload) != "\xff\xfe raw" || len(ds[2].Payload) != 0 {
		t.Fatalf("peek = %v, %v", ds, err)
	}
}

func TestRequestParsing(t *testing.T) {
	e := start(t, broker.Options{})
	c := e.login(t, "t")
	ok(t, c, "GET", "/persistent/foo", "")
	ok(t, c, "GET", "/persistent/q", "")
	ok(t, c, "POST", "/request/q/r", "m")
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/login/a", "x", 404}, // a GET with a body
		{"GET", "/persistent/foo/", "", 404},
		{"GET", "//persistent/foo", "", 404},
		{"GET", "/persistent/foo", "", 200},
		{"GET", "/ack/foo/7", "", 200},
		{"GET", "/ack/foo/x", "", 400},
		{"GET", "/trace/x/5", "", 400},
		{"GET", "/trace/3/soon", "", 400},
		{"GET", "/trace/0/5", "", 200},
		{"GET", "/trace", "", 200}, // (-1, 5): there are events, so at once
		{"POST", "/transfer", `{"timeout":30,"queues":["q"]}`, 200},
		{"POST", "/transfer", `{"from":"0","timeout":"1.5","queues":["q"]}`, 200},
		{"POST", "/transfer", `{"FROM":"0","Timeout":1,"QUEUES":["q"],"extra":1}`, 200},
		{"POST", "/transfer", `{"timeout":1}`, 400},
		{"POST", "/transfer", `{"from":0,"timeout":1,"queues":["q"]}`, 200}, // msw also takes a number
		{"POST", "/transfer", `{"from":null,"timeout":1,"queues":["q"]}`, 200},
		{"POST", "/transfer", `{"from":["7"],"timeout":1,"queues":["q"]}`, 400},
		{"POST", "/transfer", `{"timeout":1,"queues":["q"]} junk`, 400},
		{"GET", "/transfer", "", 404},
		{"PUT", "/login/x", "", 404},
		{"DELETE", "/persistent/foo", "", 404},
		{"POST", "/request/foo/r%3Aq", "payload", 200},
		{"POST", "/request/foo/r", "", 200},
		{"POST", "/request/foo/", "x", 400}, // no reply queue
		{"POST", "/request/foo", "x", 404},
		{"POST", "/response/foo/foo%20x/3", "p", 200},
		{"POST", "/response/foo/q/x", "p", 400},
		{"POST", "/shutdown", "x", 404},
		{"GET", "/admin/index.html", "", 404},
		{"GET", "/js/jquery.js", "", 404},
		{"GET", "/persistent/a%2Fb", "", 400}, // decoded once: a name with a '/', which msw refuses
	} {
		status, body, err := c.Do(tc.method, tc.path, []byte(tc.body))
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		if status != tc.status {
			t.Errorf("%s %s %q: %d %q; want %d", tc.method, tc.path, tc.body, status, body, tc.status)
		}
	}
	// A malformed escape: Go's HTTP server refuses the request line
	// before routing (and closes the connection, as it cannot know
	// where the request ends). Clients never send one.
	if status, _, err := e.dial(t).Do("GET", "/persistent/a%zzb", nil); err != nil || status != 400 {
		t.Errorf("malformed escape: %d %v; want 400", status, err)
	}
	// What the requests above stored in foo: reply queues and request
	// queues decoded once, payloads as sent.
	ds, _ := e.b.Peek("foo", 10)
	var got []string
	for _, d := range ds {
		got = append(got, fmt.Sprintf("%s|%s|%s", d.ReplyTo, d.CorrelationID, d.Payload))
	}
	foo := e.cursor(t, "foo", 0)
	want := []string{
		fmt.Sprintf("r:q|foo/%d|payload", foo+1),
		fmt.Sprintf("r|foo/%d|", foo+2),
		"|foo x/3|p",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("foo holds\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Each segment is decoded exactly once, and '+' stays '+'.
	for path, token := range map[string]string{"/login/a%20b": "a b", "/login/a%2541": "a%41", "/login/a+b": "a+b"} {
		ok(t, e.dial(t), "GET", path, "")
		if !hasClient(e, token) {
			t.Errorf("GET %s: no session for %q", path, token)
		}
	}
	// /list/alive (three segments) is List("alive", all); /list/alive/
	// is the alive list, prefix "".
	ok(t, c, "GET", "/persistent/alive.x", "")
	if got := ok(t, c, "GET", "/list/alive", ""); got != `["alive.x"]` {
		t.Errorf("/list/alive = %s", got)
	}
	if got := ok(t, c, "GET", "/list/alive/", ""); got != `["q"]` {
		t.Errorf("/list/alive/ = %s; want the one queue polled", got)
	}
}

func hasClient(e *env, id string) bool {
	for _, s := range e.b.Snapshot(0).Sessions {
		if s.ClientID == id {
			return true
		}
	}
	return false
}

// The behaviour scenario: X logged in, Y never did.
func TestScenario(t *testing.T) {
	e := start(t, broker.Options{})
	x := e.login(t, "t")
	y := e.dial(t)
	exact(t, x, string(compattest.Request("GET", "/persistent/q", nil)), 200, "q")
	var ids [3]int64
	for i, p := range []string{"a", "b", "c"} {
		ids[i] = e.cursor(t, "q", int64(i+1))
		exact(t, x, string(compattest.Request("POST", "/request/q/r", []byte(p))), 200, fmt.Sprintf(`[["q",%d]]`, ids[i]))
	}
	msg := func(i int, p string) string {
		return fmt.Sprintf(`[["q",%d],{"payload":"%s","kind":["Request","r"]}]`, ids[i], p)
	}
	transfer := func(body string) string {
		return string(compattest.Request("POST", "/transfer", []byte(body)))
	}
	// Oldest first (the original listed them newest first; clients do
	// not rely on either).
	exact(t, x, transfer(`{"timeout":0,"queues":["q"]}`), 200,
		fmt.Sprintf(`{"messages":[%s,%s,%s],"next":"%d"}`, msg(0, "a"), msg(1, "b"), msg(2, "c"), ids[2]))
	exact(t, x, transfer(fmt.Sprintf(`{"from":"%d","timeout":0.1,"queues":["q"]}`, ids[2])), 200,
		fmt.Sprintf(`{"messages":[],"next":"%d"}`, ids[2]))
	exact(t, x, string(compattest.Request("GET", fmt.Sprintf("/ack/q/%d", ids[1]), nil)), 200, "")
	exact(t, x, transfer(`{"timeout":0,"queues":["q"]}`), 200,
		fmt.Sprintf(`{"messages":[%s,%s],"next":"%d"}`, msg(0, "a"), msg(2, "c"), ids[2]))
	exact(t, x, string(compattest.Request("POST", "/request/nosuch/r", []byte("x"))), 200, "[]")
	exact(t, x, string(compattest.Request("GET", "/ack/nosuch/99", nil)), 200, "")
	exact(t, x, string(compattest.Request("GET", "/list/", nil)), 200, `["q"]`)
	exact(t, x, string(compattest.Request("GET", "/list/alive/", nil)), 200, `["q"]`)
	exact(t, y, string(compattest.Request("GET", "/persistent/z", nil)), 404, "Please log in.")
	if status, _, _ := y.Do("GET", "/", nil); status != 200 {
		t.Errorf("diagnostics without a login: %d", status)
	}
	exact(t, y, transfer(`{"timeout":30,"queues":["q"]}`), 404, "Please log in.")
	exact(t, x, string(compattest.Request("GET", "/transient/t2", nil)), 200, "t2")
}

// times matches the times in a diagnostics or trace body, which no
// test can know (replaced by T).
var times = regexp.MustCompile(`"(current_time|time|next_transfer_expected|processing_time)":[0-9.]+`)

func TestDiagnosticsShape(t *testing.T) {
	e := start(t, broker.Options{})
	c := e.login(t, "message-cli:1234")
	ok(t, c, "GET", "/persistent/foo", "")
	ok(t, c, "GET", "/persistent/idle", "")
	ok(t, c, "GET", "/transient/message-cli:1234", "")
	ok(t, c, "POST", "/request/foo/message-cli:1234", "hello")
	ok(t, c, "POST", "/request/foo/message-cli:1234", "hello")
	foo := e.cursor(t, "foo", 0)
	ok(t, c, "POST", "/response/message-cli:1234/foo/"+fmt.Sprint(foo+1), "resp")
	ok(t, c, "POST", "/transfer", `{"timeout":0,"queues":["foo"]}`)
	ok(t, c, "POST", "/transfer", `{"timeout":0,"queues":["message-cli:1234"]}`)
	mine := e.cursor(t, "message-cli:1234", 0)
	body := times.ReplaceAllString(ok(t, c, "GET", "/", ""), `"$1":T`)
	entry := func(q string, id int64, payload, kind string) string {
		return fmt.Sprintf(`[["%s",%d],{"origin":["Name","message-cli:1234"],"time":T,"message":{"payload":"%s","kind":%s}}]`, q, id, payload, kind)
	}
	want := `{"start_time":0,"current_time":T,"permanent_queues":{` +
		`"foo":{"next_transfer_expected":T,"queue_contents":[` +
		entry("foo", foo+2, "hello", `["Request","message-cli:1234"]`) + "," +
		entry("foo", foo+1, "hello", `["Request","message-cli:1234"]`) + `]},` +
		`"idle":{"queue_contents":[]}},` +
		`"transient_queues":{"message-cli:1234":{"next_transfer_expected":T,"queue_contents":[` +
		entry("message-cli:1234", mine+1, "resp", fmt.Sprintf(`["Response",["foo",%d]]`, foo+1)) + `]}}}`
	if body != want {
		t.Errorf("diagnostics\n%s\nwant\n%s", body, want)
	}
}

func TestTraceShape(t *testing.T) {
	e := start(t, broker.Options{})
	caller := e.login(t, "message-cli:1234")
	srv := e.login(t, "server:99")
	ok(t, caller, "GET", "/persistent/foo", "")
	ok(t, caller, "GET", "/transient/message-cli:1234", "")
	ok(t, caller, "POST", "/request/foo/message-cli:1234", "hello")
	foo := e.cursor(t, "foo", 1)
	ok(t, srv, "POST", "/transfer", `{"timeout":0,"queues":["foo"]}`)
	ok(t, srv, "POST", fmt.Sprintf("/response/message-cli:1234/foo/%d", foo), "ok")
	ok(t, srv, "GET", fmt.Sprintf("/ack/foo/%d", foo), "")
	mine := e.cursor(t, "message-cli:1234", 1)
	ok(t, caller, "POST", "/transfer", `{"timeout":0,"queues":["message-cli:1234"]}`)
	body := ok(t, caller, "GET", "/trace/0/0", "")
	ids := regexp.MustCompile(`\[([0-9]+),\{`).FindAllStringSubmatch(body, -1)
	body = times.ReplaceAllString(regexp.MustCompile(`\[[0-9]+,\{`).ReplaceAllString(body, "[N,{"), `"$1":T`)
	req := fmt.Sprintf(`["Message",["foo",%d],{"payload":"hello","kind":["Request","message-cli:1234"]}]`, foo)
	resp := fmt.Sprintf(`["Message",["message-cli:1234",%d],{"payload":"ok","kind":["Response",["foo",%d]]}]`, mine, foo)
	want := `{"events":[` +
		`[N,{"time":T,"input":"message-cli:1234","queue":"foo","message":` + req + `}],` +
		`[N,{"time":T,"queue":"foo","output":"server:99","message":` + req + `}],` +
		`[N,{"time":T,"input":"server:99","queue":"message-cli:1234","message":` + resp + `,"processing_time":T}],` +
		fmt.Sprintf(`[N,{"time":T,"input":"server:99","queue":"foo","message":["Ack",["foo",%d]]}],`, foo) +
		`[N,{"time":T,"queue":"message-cli:1234","output":"message-cli:1234","message":` + resp + `}]]}`
	if body != want {
		t.Errorf("trace\n%s\nwant\n%s", body, want)
	}
	// Ids increase, and a trace from the last id returns just that one.
	var last string
	for _, m := range ids {
		if last != "" && len(m[1]) == len(last) && m[1] <= last {
			t.Errorf("trace ids not increasing: %v", ids)
		}
		last = m[1]
	}
	if got := ok(t, caller, "GET", "/trace/"+last+"/0", ""); !strings.HasPrefix(got, `{"events":[[`+last+`,`) || strings.Count(got, `"time"`) != 1 {
		t.Errorf("trace from %s = %s", last, got)
	}
}
