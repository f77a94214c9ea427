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

// TestAckRuns: an ack's run [first,last] acks each id in it; a run
// backwards, or acks naming more than wire.MaxAckIDs ids, are refused
// with a one-line 400 that says what is wrong, and ack nothing.
func TestAckRuns(t *testing.T) {
	sw := switchtest.Start(t, "", broker.Options{}, server.Options{})
	b := sw.Broker
	sess, err := b.Login("acker")
	if err != nil {
		t.Fatal(err)
	}
	b.CreateQueue(nil, "q")
	if _, err := b.Send(nil, "q", make([]wire.Message, 10)); err != nil {
		t.Fatal(err)
	}
	post := func(body string) (int, wire.Error) {
		req, _ := http.NewRequest("POST", "http://"+sw.Addr+wire.PathAck, strings.NewReader(body))
		req.Header.Set(wire.HeaderSession, sess.ID())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var we wire.Error
		json.NewDecoder(resp.Body).Decode(&we)
		return resp.StatusCode, we
	}
	for _, tc := range []struct{ body, message string }{
		{`{"acks":{"q":[[5,3]]}}`, "ack run [5,3]: first after last"},
		{`{"acks":{"q":[[1,1048577]]}}`, "acks name more than 1048576 ids"},
	} {
		status, we := post(tc.body)
		if status != http.StatusBadRequest || we.Code != wire.CodeBadRequest || !strings.Contains(we.Message, tc.message) || strings.Contains(we.Message, "\n") {
			t.Errorf("%s: %d %s %q; want 400 %s saying %q", tc.body, status, we.Code, we.Message, wire.CodeBadRequest, tc.message)
		}
	}
	if status, we := post(`{"acks":{"q":[[2,4],7,[9,10]]}}`); status != http.StatusNoContent {
		t.Fatalf("ack of runs: %d %s", status, we.Message)
	}
	ds, err := b.Peek("q", 100)
	if err != nil {
		t.Fatal(err)
	}
	var left []uint64
	for _, d := range ds {
		left = append(left, d.ID)
	}
	if got, _ := json.Marshal(left); string(got) != "[1,5,6,8]" {
		t.Errorf("left after acking runs: %s; want [1,5,6,8]", got)
	}
}
