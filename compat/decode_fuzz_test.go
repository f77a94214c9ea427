package compat

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzSegments: any request target either is refused or splits into
// segments that, escaped again and joined, split back to the same ones
// (each segment is decoded exactly once).
func FuzzSegments(f *testing.F) {
	for _, s := range []string{"/", "/login/xapi:1234", "/request/q/%2F..%2F", "/ack/q/%zz", "/list/?x=1", "//", "x", "/a%00b/c", "/%C3%28"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		segs, ok := segments(target)
		if !ok {
			return
		}
		if len(segs) == 0 {
			t.Fatalf("%q: no segments", target)
		}
		esc := make([]string, len(segs))
		for i, s := range segs {
			esc[i] = url.PathEscape(s)
		}
		again, ok := segments("/" + strings.Join(esc, "/"))
		if !ok || len(again) != len(segs) {
			t.Fatalf("%q: %q escaped again split into %q (%v)", target, segs, again, ok)
		}
		for i := range segs {
			if again[i] != segs[i] {
				t.Fatalf("%q: segment %d %q came back as %q", target, i, segs[i], again[i])
			}
		}
	})
}

// FuzzParseTransfer: any Transfer body is either refused with 400 or
// read into a cursor, a timeout and a list of queues; never a panic,
// never another status.
func FuzzParseTransfer(f *testing.F) {
	for _, s := range []string{
		`{"queues":["org.xen.xapi.example"],"timeout":5,"from":"12"}`,
		`{"queues":[],"timeout":"1.5","from":null}`,
		`{"queues":null}`, `{}`, ``, `[`, `{"queues":["a"],"timeout":1e400}`,
		`{"queues":["a"],"timeout":-1,"from":-99999999999999999999}`,
		`{"queues":["a"],"timeout":"NaN"}`, `{"queues":["a"],"from":"0x10"}`,
		`{"queues":["a"],"timeout":{"x":1}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/transfer", strings.NewReader(body))
		w := httptest.NewRecorder()
		_, _, queues, err := parseTransfer(w, r)
		if err != nil {
			var se *statusError
			if !errors.As(err, &se) || se.status != http.StatusBadRequest {
				t.Fatalf("%q: %v, want a 400", body, err)
			}
			return
		}
		if queues == nil {
			t.Fatalf("%q: accepted without queues", body)
		}
	})
}
