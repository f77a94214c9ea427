package lib

// Queues, subscriptions and the switch's views: the requests only HTTP
// carries.

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"time"

	"msw/internal/wire"
)

// Ping checks that the switch answers, waiting as Options.Wait allows.
func (c *Client) Ping(ctx context.Context) error {
	return c.call(ctx, &request{method: "GET", path: wire.PathHealth, idempotent: true}, nil)
}

// CreateQueue creates a persistent queue if it does not exist. The client
// creates it again if the switch restarts.
func (c *Client) CreateQueue(ctx context.Context, name string) error {
	if err := c.call(ctx, &request{method: "PUT", path: queuePath(name), session: true, idempotent: true}, nil); err != nil {
		return err
	}
	c.remember(func(l *restoreList) { l.created = remember(l.created, name) })
	return nil
}

// CreateTransient creates a queue owned by the client's session, deleted
// with its messages when the session ends. With an empty name the switch
// picks a fresh one; the name is returned. The client creates it again
// if the switch restarts.
func (c *Client) CreateTransient(ctx context.Context, name string) (string, error) {
	var tr wire.TransientResponse
	err := c.call(ctx, &request{method: "POST", path: wire.PathTransient, contentType: wire.ContentTypeJSON,
		body: jsonBody(wire.TransientRequest{Name: name}), session: true, idempotent: name != ""}, &tr)
	if err != nil {
		return "", err
	}
	c.remember(func(l *restoreList) { l.transients = remember(l.transients, tr.Name) })
	return tr.Name, nil
}

// DestroyOptions shape one DestroyQueue.
type DestroyOptions struct {
	// IfEmpty destroys the queue only if it holds no message, ready or in
	// flight; else DestroyQueue fails with an Error of CodeQueueNotEmpty.
	IfEmpty bool
}

// DestroyQueue deletes a queue and its messages.
func (c *Client) DestroyQueue(ctx context.Context, name string, o DestroyOptions) error {
	q := url.Values{}
	if o.IfEmpty {
		q.Set(wire.ParamIfEmpty, "1")
	}
	err := c.call(ctx, &request{method: "DELETE", path: queuePath(name), query: q}, nil)
	if err == nil {
		c.remember(func(l *restoreList) { l.forget(name) })
	}
	return err
}

// Purge removes the ready messages of a queue and keeps the queue; it
// returns how many it removed. Messages in flight stay with their
// receivers.
func (c *Client) Purge(ctx context.Context, name string) (int, error) {
	var pr wire.PurgeResponse
	err := c.call(ctx, &request{method: "DELETE", path: queuePath(name) + wire.SuffixMessages}, &pr)
	return pr.Purged, err
}

// Subscribe adds queues to those the client's transfers take from. The
// client subscribes again if the session is re-established.
func (c *Client) Subscribe(ctx context.Context, queues ...string) error {
	err := c.call(ctx, &request{method: "POST", path: wire.PathSubscribe, contentType: wire.ContentTypeJSON,
		body: jsonBody(wire.QueuesRequest{Queues: queues}), session: true, idempotent: true}, nil)
	if err != nil {
		return err
	}
	c.remember(func(l *restoreList) {
		for _, q := range queues {
			l.subs = remember(l.subs, q)
		}
	})
	return nil
}

// Unsubscribe stops taking from queues.
func (c *Client) Unsubscribe(ctx context.Context, queues ...string) error {
	c.remember(func(l *restoreList) {
		l.subs = slices.DeleteFunc(l.subs, func(s string) bool { return slices.Contains(queues, s) })
	})
	return c.call(ctx, &request{method: "POST", path: wire.PathUnsubscribe, contentType: wire.ContentTypeJSON,
		body: jsonBody(wire.QueuesRequest{Queues: queues}), session: true, idempotent: true}, nil)
}

// ListOptions shape one List.
type ListOptions struct {
	// Prefix, if set, lists only the queues whose names start with it.
	Prefix string
	// All lists every queue; without it, only those someone subscribes
	// to or polled recently.
	All bool
}

// List describes the queues o asks for.
func (c *Client) List(ctx context.Context, o ListOptions) ([]QueueInfo, error) {
	q := url.Values{}
	if o.Prefix != "" {
		q.Set(wire.ParamPrefix, o.Prefix)
	}
	if o.All {
		q.Set(wire.ParamAll, "1")
	}
	var qr wire.QueuesResponse
	err := c.call(ctx, &request{method: "GET", path: wire.PathQueues, query: q, idempotent: true}, &qr)
	if qr.Queues == nil {
		return nil, err
	}
	qs := make([]QueueInfo, len(qr.Queues))
	for i := range qr.Queues {
		qs[i] = QueueInfo(qr.Queues[i])
	}
	return qs, err
}

// Info describes one queue.
func (c *Client) Info(ctx context.Context, queue string) (QueueInfo, error) {
	var qi wire.QueueInfo
	err := c.call(ctx, &request{method: "GET", path: queuePath(queue), idempotent: true}, &qi)
	return QueueInfo(qi), err
}

// Peek returns up to max ready messages of a queue without taking them.
func (c *Client) Peek(ctx context.Context, queue string, max int) ([]Delivery, error) {
	r := &request{method: "GET", path: queuePath(queue) + wire.SuffixMessages,
		query: url.Values{wire.ParamMax: {strconv.Itoa(max)}}, accept: wire.ContentTypeFrames, idempotent: true}
	a, _, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	return c.deliveries(r, a.body)
}

// Diagnostics returns the switch's snapshot, with up to maxMessages
// messages per queue.
func (c *Client) Diagnostics(ctx context.Context, maxMessages int) (*Snapshot, error) {
	var s wire.Snapshot
	err := c.call(ctx, &request{method: "GET", path: wire.PathDiagnostics,
		query: url.Values{wire.ParamMaxMessages: {strconv.Itoa(maxMessages)}}, idempotent: true}, &s)
	return snapshotOf(&s), err
}

// Trace returns trace events after sequence number after, at most max
// (0: the switch's default), waiting up to timeout for one.
func (c *Client) Trace(ctx context.Context, after uint64, max int, timeout time.Duration) (*TraceResponse, error) {
	var tr wire.TraceResponse
	q := url.Values{wire.ParamAfter: {strconv.FormatUint(after, 10)}, wire.ParamTimeout: {strconv.FormatInt(timeout.Milliseconds(), 10)}}
	if max > 0 {
		q.Set(wire.ParamMax, strconv.Itoa(max))
	}
	err := c.call(ctx, &request{method: "GET", path: wire.PathTrace, query: q, idempotent: true}, &tr)
	return traceOf(&tr), err
}

// Shutdown asks the switch to stop.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.call(ctx, &request{method: "POST", path: wire.PathShutdown}, nil)
}
