package natsbackend

import (
	"fmt"

	"github.com/nats-io/nats.go"
)

// Watch calls wake with the queue for every message published to one of queues, through
// any gateway, until the returned function is called: it subscribes to
// the queues' subjects, which JetStream's publishes travel on too. A
// message given back (nak) is not published again and wakes nobody: the
// broker looks again now and then for those.
func (e *Engine) Watch(queues []string, wake func(queue string)) (func(), error) {
	subs := make([]*nats.Subscription, 0, len(queues))
	stop := func() {
		for _, sub := range subs {
			sub.Unsubscribe()
		}
	}
	for _, q := range queues {
		if _, err := streamOf(q); err != nil {
			stop()
			return nil, err
		}
		qs, err := e.subscribeStored(q, func(*nats.Msg) { wake(q) })
		if err != nil {
			stop()
			return nil, failed("watch", q, err)
		}
		subs = append(subs, qs...)
	}
	// The subscriptions are in force once the server has them: a send
	// after Watch returns wakes.
	if err := e.nc.FlushTimeout(e.o.Timeout); err != nil {
		stop()
		return nil, failed("watch", fmt.Sprint(queues), err)
	}
	return stop, nil
}
