package natsbackend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"msw/broker"
)

// A transfer's pull is a JetStream pull request on an inbox of its own,
// made here on the connection rather than through the client library's
// Fetch, so that the engine decides what happens to it at the end. A
// pull that waits stays in the consumer's list of waiting requests until
// it expires; one whose transfer was cancelled (or that a direct hand-off
// answered, direct.go) would take the next message sent and hold it, out
// of reach of the next reader, until the ack wait. So a pull that is no
// longer wanted is withdrawn: its inbox is unsubscribed, which the
// consumer sees as the request's interest gone (it skips such requests),
// and whatever the pull brought before that is given back (nak) at once.
// Only a message the consumer hands out in the instant the unsubscription
// travels to it (one hop between two cluster nodes) is lost to this
// gateway, and the cluster redelivers it after the ack wait.

// pullRequest is JetStream's request for the next messages of a pull
// consumer.
type pullRequest struct {
	Batch   int           `json:"batch"`
	Expires time.Duration `json:"expires,omitempty"`
	NoWait  bool          `json:"no_wait,omitempty"`
}

// pull is one pull request and the inbox its messages come to.
type pull struct {
	e     *Engine
	queue string
	wait  time.Duration
	left  int // messages still to come at most
	sub   *nats.Subscription
	ch    chan *nats.Msg
}

// startPull asks the queue's consumer for up to batch messages: those
// ready now, or else the first ones to arrive within wait. (A no_wait
// pull with an expiry is JetStream's "what is ready, or else wait for
// the first": it ends as soon as it brought something.)
func (e *Engine) startPull(queue string, batch int, wait time.Duration) (*pull, error) {
	stream, err := streamOf(queue)
	if err != nil {
		return nil, err
	}
	req := pullRequest{Batch: batch, Expires: wait, NoWait: true}
	data, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	inbox := e.nc.NewInbox()
	// Room for the whole batch and the status that ends it: a channel
	// subscription drops what does not fit.
	ch := make(chan *nats.Msg, batch+2)
	sub, err := e.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, failed("receive from", queue, err)
	}
	if err := e.nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT."+stream+"."+consumerName, inbox, data); err != nil {
		sub.Unsubscribe()
		return nil, failed("receive from", queue, err)
	}
	return &pull{e: e, queue: queue, wait: wait, left: batch, sub: sub, ch: ch}, nil
}

// take pulls up to batch messages of queue, waiting up to wait for the
// first, and appends them to out. A message offered directly (direct.go)
// ends the pull too, and comes with what it brought. If ctx ends first
// the pull is withdrawn and everything taken given back.
func (e *Engine) take(ctx context.Context, queue string, batch int, wait time.Duration, offered <-chan broker.Fetched, out []broker.Fetched) ([]broker.Fetched, error) {
	p, err := e.startPull(queue, batch, wait)
	if err != nil {
		return out, err
	}
	return p.collect(ctx, offered, out)
}

// collect gathers the pull's messages until its batch is full, the
// consumer ends it (nothing more ready, or it expired), a direct offer
// comes, or ctx ends.
func (p *pull) collect(ctx context.Context, offered <-chan broker.Fetched, out []broker.Fetched) ([]broker.Fetched, error) {
	// The consumer ends a waiting pull itself when it expires; the timer
	// is for a consumer that cannot answer (its node gone).
	timer := time.NewTimer(p.wait + p.e.o.Timeout)
	defer timer.Stop()
	for p.left > 0 {
		select {
		case m := <-p.ch:
			if err := status(m); err != nil {
				p.sub.Unsubscribe()
				if errors.Is(err, errPullEnded) || len(out) > 0 {
					return out, nil
				}
				return out, p.e.fetchError(p.queue, err)
			} else if len(m.Data) == 0 && m.Header.Get("Status") != "" {
				continue // a heartbeat
			}
			f, err := p.e.fetched(p.queue, m)
			if err != nil {
				handle{m: m, e: p.e, queue: p.queue}.Nak()
				continue
			}
			p.left--
			p.e.own.record(p.e.own.seen, p.queue, f.Delivery.ID)
			out = append(out, f)
		case f := <-offered:
			p.withdraw()
			return append(out, f), nil
		case <-timer.C:
			p.withdraw()
			return out, nil
		case <-ctx.Done():
			p.withdraw()
			for _, f := range out {
				f.Handle.Nak()
			}
			return nil, ctx.Err()
		}
	}
	p.sub.Unsubscribe()
	return out, nil
}

// withdraw takes the pull back from the consumer and gives back what it
// brought meanwhile.
func (p *pull) withdraw() {
	p.sub.Unsubscribe()
	for {
		select {
		case m := <-p.ch:
			if len(m.Data) > 0 || m.Header.Get("Status") == "" {
				handle{m: m, e: p.e, queue: p.queue}.Nak()
			}
		default:
			return
		}
	}
}

// errPullEnded is a pull the consumer ended normally: nothing (more)
// ready, or its wait over.
var errPullEnded = errors.New("pull ended")

// status returns the error a status message of the consumer stands for:
// errPullEnded for the normal end of a pull, nil for a heartbeat or a
// message that is not a status.
func status(m *nats.Msg) error {
	if len(m.Data) > 0 || len(m.Header) == 0 {
		return nil
	}
	switch code := m.Header.Get("Status"); code {
	case "", "100":
		return nil
	case "404", "408":
		return errPullEnded
	case "503":
		return nats.ErrNoResponders
	default:
		return fmt.Errorf("pull: %s %s", code, m.Header.Get("Description"))
	}
}
