package lib

// Pub/sub: publishing to topics, and binding queues to the patterns of
// the topics they want copies of.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"

	"msw/internal/wire"
)

// Publish sends messages to a topic: every queue bound to a pattern that
// matches it gets a copy of each, in one step per call. It returns how
// many queues received them; 0, when nobody is bound, is not an error.
// A bad topic fails with an Error of CodeBadTopic before it is sent.
func (c *Client) Publish(ctx context.Context, topic string, ms ...Message) (int, error) {
	if err := wire.ValidateTopic(topic); err != nil {
		return 0, &Error{Status: http.StatusBadRequest, Code: CodeBadTopic, Message: err.Error()}
	}
	if len(ms) == 0 {
		return 0, nil
	}
	var body []byte
	for i := range ms {
		body = wire.AppendSendFrame(body, ms[i].wireMessage())
	}
	r := opRequest(wire.OpPublish, topic, 0, body)
	a, _, err := c.do(ctx, r)
	if err != nil {
		return 0, err
	}
	var pr wire.PublishResponse
	if err := json.Unmarshal(a.body, &pr); err != nil {
		return 0, c.badAnswer(r, err)
	}
	return pr.Queues, nil
}

// Bind binds a queue to patterns (news.*.uk, news.>): from then on it
// gets a copy of every message published to a matching topic. A
// persistent queue's bindings are the switch's to keep; the client binds
// again after a re-login, as it creates its queues again, so a transient
// queue's bindings survive a restart of the switch too.
func (c *Client) Bind(ctx context.Context, queue string, patterns ...string) error {
	for _, p := range patterns {
		if err := c.call(ctx, bindingRequest("PUT", queue, p), nil); err != nil {
			return err
		}
		c.remember(func(l *restoreList) { l.bindings = remember(l.bindings, binding{queue, p}) })
	}
	return nil
}

// Unbind removes bindings of a queue; a pattern it is not bound to is
// not an error.
func (c *Client) Unbind(ctx context.Context, queue string, patterns ...string) error {
	c.remember(func(l *restoreList) {
		l.bindings = slices.DeleteFunc(l.bindings, func(b binding) bool {
			return b.queue == queue && slices.Contains(patterns, b.pattern)
		})
	})
	for _, p := range patterns {
		if err := c.call(ctx, bindingRequest("DELETE", queue, p), nil); err != nil {
			return err
		}
	}
	return nil
}

// Bindings lists every binding of the switch, sorted by queue and
// pattern.
func (c *Client) Bindings(ctx context.Context) ([]Binding, error) {
	var br wire.BindingsResponse
	if err := c.call(ctx, &request{method: "GET", path: wire.PathBindings, idempotent: true}, &br); err != nil {
		return nil, err
	}
	out := make([]Binding, len(br.Bindings))
	for i, b := range br.Bindings {
		out[i] = Binding(b)
	}
	return out, nil
}

// Binding is a queue bound to a pattern.
type Binding struct {
	Queue   string `json:"queue"`
	Pattern string `json:"pattern"`
}

// binding is a binding the client made, to restore after a re-login.
type binding struct{ queue, pattern string }

// bindingRequest is a request to make (PUT) or remove (DELETE) the
// binding of queue to pattern.
func bindingRequest(method, queue, pattern string) *request {
	return &request{method: method, path: queuePath(queue) + "/bindings/" + url.PathEscape(pattern),
		session: true, idempotent: true}
}
