package server_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"msw/broker"
	"msw/internal/switchtest"
	"msw/internal/wire"
	"msw/server"
)

// hostileName is the i-th generated queue name: dots and slashes,
// escapes, NUL and control characters, invalid UTF-8, very long names,
// and plain ones.
func hostileName(r *rand.Rand, i int) string {
	pick := func(alphabet string, n int) string {
		b := make([]byte, n)
		for j := range b {
			b[j] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	switch i % 10 {
	case 0:
		return []string{".", "..", "../x", "x/..", "/", "a/b", "%2F", "%2e%2e", "a%00b", "\x00", " ", "-x", ".x", "x.", "@", ":"}[r.IntN(16)]
	case 1:
		return pick("a./%", 1+r.IntN(12))
	case 2:
		return pick("ab\x00\x01\x1f\x7f\t\n\r", 1+r.IntN(8))
	case 3:
		return pick("a\xff\xfe\xc0\xe2\x82", 1+r.IntN(8)) // invalid UTF-8
	case 4:
		return strings.Repeat("a", wire.MaxNameLen-2+r.IntN(5)) // around the limit
	case 5:
		return strings.Repeat("x", 1000+r.IntN(7000)) // very long
	case 6:
		return "é" + pick("abc", 3) // valid UTF-8, not ASCII
	case 7:
		return pick("abcXYZ019._-:@", 1+r.IntN(20))
	case 8:
		b := make([]byte, 1+r.IntN(30))
		for j := range b {
			b[j] = byte(r.IntN(256))
		}
		return string(b)
	default:
		return fmt.Sprintf("ok-%d", i)
	}
}

// escapeAll percent-encodes every byte, as a client that escapes all may.
func escapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

// TestHostileNames: each generated queue name either makes the queue of
// exactly that name or gets 400; nothing else is created.
func TestHostileNames(t *testing.T) {
	n := scale(100000, 2000)
	sw := switchtest.Start(t, "", broker.Options{TraceSize: -1}, server.Options{})
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	r := rand.New(rand.NewPCG(11, uint64(n)))
	created := map[string]bool{}
	counts := map[int]int{}
	for i := 0; i < n; i++ {
		name := hostileName(r, i)
		path := wire.PathQueuePrefix + escapeAll(name)
		req, err := http.NewRequest("PUT", "http://"+sw.Addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Path, req.URL.RawPath = wire.PathQueuePrefix+name, path
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("PUT %q: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		counts[resp.StatusCode]++
		switch resp.StatusCode {
		case http.StatusOK:
			if wire.ValidateName(name) != nil {
				t.Errorf("PUT %q made a queue of a name the switch refuses", path)
			}
			created[name] = true
		case http.StatusBadRequest:
			if wire.ValidateName(name) == nil {
				t.Errorf("PUT %q: 400 for a good name", path)
			}
		default:
			t.Errorf("PUT %q: %d; want 200 or 400", path, resp.StatusCode)
		}
	}
	qs := sw.Broker.List("", true)
	for _, q := range qs {
		if !created[q.Name] {
			t.Errorf("queue %q exists, made by no request", q.Name)
		}
	}
	if len(qs) != len(created) {
		t.Errorf("%d queues for %d names created", len(qs), len(created))
	}
	t.Logf("%d generated names: %v by status; %d queues made, each of its exact name", n, counts, len(created))
}
