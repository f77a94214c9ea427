package natstest

import (
	"testing"
	"time"

	"msw/broker/natsbackend"
)

// OpenGateway opens the engine of a test's gateway on url: queues with
// three replicas, an ack wait of 5s. When tb ends it destroys every queue
// left, so that the next test on the same cluster account starts with
// none, and closes.
func OpenGateway(tb testing.TB, url string) *natsbackend.Engine {
	tb.Helper()
	e, err := natsbackend.Open(natsbackend.Options{URL: url, Replicas: 3, AckWait: 5 * time.Second, Name: tb.Name()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		defer e.Close()
		qs, err := e.Queues("")
		if err != nil {
			tb.Errorf("queues left by the test: %v", err)
			return
		}
		for _, q := range qs {
			if err := e.DestroyQueue(q); err != nil {
				tb.Errorf("destroying queue %s left by the test: %v", q, err)
			}
		}
	})
	return e
}
