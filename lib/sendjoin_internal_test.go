package lib

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"

	"msw/internal/wire"
)

// TestQuietSendsJoin: quiet sends of one message to the queue of the
// quiet send last put in the write buffer join its request; a refusal of
// that request reaches each of them as a joinedRefusal (so SendAsync
// sends each again alone), and a broken stream fails those left.
func TestQuietSendsJoin(t *testing.T) {
	conn, peer := net.Pipe()
	defer peer.Close()
	sc := &streamConn{conn: conn, pending: map[uint64]*streamCall{}, done: make(chan struct{}), kick: make(chan struct{}, 1)}
	sc.wcond.L = &sc.wmu
	sc.writing = true // a writer at work: what is written now waits in wbuf
	const n = 5
	var outcome [n]error
	var heard [n]bool
	send := func(i int, queue string, join bool) {
		body := wire.AppendSendFrame(nil, &wire.Message{Payload: []byte(fmt.Sprint(i))})
		done := func(err error) { heard[i], outcome[i] = true, err }
		if err := sc.sendQuiet(&wire.StreamRequest{Op: wire.OpSend.Stream, Queue: queue}, body, 0, join, done); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	send(0, "q", true)
	send(1, "q", true)
	send(2, "q", true)
	send(3, "other", true) // another queue: a request of its own
	send(4, "other", false)

	// The buffer holds three requests: 0, 1 and 2 in one, then 3, then 4.
	type sent struct {
		queue    string
		id       uint64
		payloads []string
	}
	var reqs []sent
	for b := sc.wbuf; len(b) > 0; {
		if len(b) < 4 {
			t.Fatalf("%d bytes left over", len(b))
		}
		size := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		var r wire.StreamRequest
		if err := wire.ParseStreamRequest(b[4:4+size], &r); err != nil {
			t.Fatal(err)
		}
		if !r.Quiet || r.Op != wire.OpSend.Stream {
			t.Fatalf("request %+v is not a quiet send", r)
		}
		s := sent{queue: r.Queue, id: r.ID}
		for body := r.Body; len(body) > 0; {
			var d wire.Delivery
			var err error
			if body, err = wire.ParseFrame(body, 1<<20, &d); err != nil {
				t.Fatal(err)
			}
			s.payloads = append(s.payloads, string(d.Payload))
		}
		reqs = append(reqs, s)
		b = b[4+size:]
	}
	want := []sent{{"q", 1, []string{"0", "1", "2"}}, {"other", 4, []string{"3"}}, {"other", 5, []string{"4"}}}
	if fmt.Sprint(reqs) != fmt.Sprint(want) {
		t.Fatalf("requests written:\n%v\nwant\n%v", reqs, want)
	}

	// The switch refuses the joined request, as the reader hands it on.
	sc.mu.Lock()
	head := sc.pending[1]
	delete(sc.pending, 1)
	sc.mu.Unlock()
	refusal := &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: "one of them is too large"}
	sc.answerQuiet(head, refusal)
	for i := range 3 {
		if !heard[i] || !isJoinedRefusal(outcome[i]) || !errors.Is(outcome[i], refusal) || !resendAsync(outcome[i]) {
			t.Errorf("send %d: heard %v, %v; want a joined refusal, to be sent again", i, heard[i], outcome[i])
		}
	}
	if heard[3] || heard[4] {
		t.Fatalf("sends 3 and 4 heard %v, %v before any answer of theirs", outcome[3], outcome[4])
	}

	// The stream breaks: the sends of the other requests fail, once.
	sc.fail(io.EOF)
	for i := 3; i < n; i++ {
		if !heard[i] || outcome[i] == nil || isJoinedRefusal(outcome[i]) {
			t.Errorf("send %d after the stream broke: heard %v, %v", i, heard[i], outcome[i])
		}
	}
}
