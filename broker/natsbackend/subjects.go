package natsbackend

import (
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A queue's stream takes two subjects: msw.q.<q> and msw.q.<q>.>. A
// message from a sender (its origin, the sending session's client id)
// travels on msw.q.<q>.<origin>, the origin escaped as queue names are,
// and a delivery reads it back from the subject: no header per message
// for the cluster to parse, store and replicate (a fast batch's messages
// then carry none at all, as a plain JetStream publish). A message
// without an origin, or with one too long for a token, travels on
// msw.q.<q> with the origin in its Msw-Origin header, as every message
// did before.
//
// Streams made before take msw.q.<q> alone: a gateway publishes a
// message on the origin's subject only to a stream it knows takes it
// (its config, looked up once per queue before the first batch, or made
// here), so that nothing goes where no stream listens; else it uses the
// header. Every reader takes the header first, then the subject: both
// forms of message, in both forms of stream, read the same.

// maxOriginToken is the longest escaped origin put in a subject; a
// longer one (client ids may have up to 1 KiB) goes in the header.
const maxOriginToken = 128

// streamForm is what a queue's stream takes, as its config says.
type streamForm struct {
	batches bool // fast batches (AllowBatchPublish)
	origins bool // the origin as a subject token (msw.q.<q>.>)
}

// formOf reads a queue's stream's form from its config.
func formOf(queue string, cfg jetstream.StreamConfig) streamForm {
	f := streamForm{batches: cfg.AllowBatchPublish}
	wild := queueSubject + escape(queue) + ".>"
	for _, s := range cfg.Subjects {
		if s == wild {
			f.origins = true
		}
	}
	return f
}

// subjects returns the subjects a new queue's stream takes.
func subjects(queue string) []string {
	s := queueSubject + escape(queue)
	return []string{s, s + ".>"}
}

// address returns the subject a queue's message from origin is published
// on in a stream of form f, and the origin left for its header ("" when
// the subject carries it).
func (f streamForm) address(queue, origin string) (subject, header string) {
	subject = queueSubject + escape(queue)
	if !f.origins || origin == "" {
		return subject, origin
	}
	token := escape(origin)
	if len(token) > maxOriginToken {
		return subject, origin
	}
	return subject + "." + token, ""
}

// originOf returns the origin a message's subject carries, or "".
func originOf(subject string) string {
	rest, ok := strings.CutPrefix(subject, queueSubject)
	if !ok {
		return ""
	}
	i := strings.IndexByte(rest, '.')
	if i < 0 {
		return ""
	}
	origin, ok := unescape(rest[i+1:])
	if !ok {
		return ""
	}
	return origin
}

// forms is what this gateway knows of its queues' streams.
type forms struct {
	mu sync.Mutex // leaf
	m  map[string]streamForm
}

// known returns a queue's stream's form if known; the zero form (no
// batches, the origin in the header: what every stream takes) if not.
func (fs *forms) known(queue string) (streamForm, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f, ok := fs.m[queue]
	return f, ok
}

// know records a queue's stream's form.
func (fs *forms) know(queue string, f streamForm) {
	fs.mu.Lock()
	fs.m[queue] = f
	fs.mu.Unlock()
}

// forget drops what is known of a queue's stream (the queue is gone, or
// a publish found no stream).
func (fs *forms) forget(queue string) {
	fs.mu.Lock()
	delete(fs.m, queue)
	fs.mu.Unlock()
}

// form returns the queue's stream's form, as its config says, looked up
// once; a failed look-up gives the zero form (and is tried again next
// time).
func (e *Engine) form(queue string) streamForm {
	if f, ok := e.forms.known(queue); ok {
		return f
	}
	name, err := streamOf(queue)
	if err != nil {
		return streamForm{}
	}
	ctx, cancel := e.ctx()
	defer cancel()
	s, err := e.js.Stream(ctx, name)
	if err != nil {
		return streamForm{}
	}
	f := formOf(queue, s.CachedInfo().Config)
	e.forms.know(queue, f)
	return f
}

// subscribeStored subscribes handle to the messages published to a
// queue's stream, on either of its subjects.
func (e *Engine) subscribeStored(queue string, handle nats.MsgHandler) ([]*nats.Subscription, error) {
	var subs []*nats.Subscription
	for _, s := range subjects(queue) {
		sub, err := e.nc.Subscribe(s, handle)
		if err != nil {
			for _, sub := range subs {
				sub.Unsubscribe()
			}
			return nil, err
		}
		subs = append(subs, sub)
	}
	return subs, nil
}
