package broker_test

import (
	"fmt"
	"os"
	"testing"

	"msw/broker"
	"msw/internal/natstest"
)

// The core tests run over the NATS engine too, on one in-process cluster
// of three nodes for the whole run, each queue with three replicas. Each
// test's engine uses the next of the cluster's accounts, so that the
// queue names of one test never meet another's (a stream deleted at the
// end of one test may linger on a node while the next creates its
// namesake); past the last account they are used again, and a test's
// engine deletes the queues it leaves when the test ends.
func init() {
	broker.RegisterTestEngine("nats", func() (func(tb testing.TB) broker.Engine, func()) {
		const accounts = 100
		c, stop, err := natstest.StartShared(3, accounts)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return func(tb testing.TB) broker.Engine { return natstest.OpenGateway(tb, c.NextAccountURL()) }, stop
	})
}
