package lib

// The client's session: logging in on first need, logging in again when
// the switch no longer knows the session (it restarted, or the session
// ended), and restoring then what the client had set up in the old one.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"msw/internal/wire"
)

// restoreList is what the client set up in its session and sets up again
// in a new one: the queues it created, its transient queues, their
// bindings and its subscriptions. Guarded by Client.mu.
type restoreList struct {
	created    []string
	transients []string
	bindings   []binding
	subs       []string
}

// restoreStep is one request of a restore, and what it restores (for
// its error).
type restoreStep struct {
	what string
	r    *request
}

// steps are the requests that set the list up again in session sess, in
// order: queues before the bindings and subscriptions that name them.
func (l *restoreList) steps(sess string) []restoreStep {
	var st []restoreStep
	for _, q := range l.created {
		st = append(st, restoreStep{"queue " + q, &request{method: "PUT", path: queuePath(q)}})
	}
	for _, q := range l.transients {
		st = append(st, restoreStep{"transient queue " + q, &request{method: "POST", path: wire.PathTransient,
			contentType: wire.ContentTypeJSON, body: jsonBody(wire.TransientRequest{Name: q})}})
	}
	for _, b := range l.bindings {
		st = append(st, restoreStep{"binding of " + b.queue + " to " + b.pattern, bindingRequest("PUT", b.queue, b.pattern)})
	}
	if len(l.subs) > 0 {
		st = append(st, restoreStep{"subscriptions", &request{method: "POST", path: wire.PathSubscribe,
			contentType: wire.ContentTypeJSON, body: jsonBody(wire.QueuesRequest{Queues: l.subs})}})
	}
	for _, s := range st {
		s.r.sess, s.r.idempotent = sess, true
	}
	return st
}

// forget drops a destroyed queue from every list.
func (l *restoreList) forget(name string) {
	is := func(s string) bool { return s == name }
	l.created = slices.DeleteFunc(l.created, is)
	l.transients = slices.DeleteFunc(l.transients, is)
	l.subs = slices.DeleteFunc(l.subs, is)
	l.bindings = slices.DeleteFunc(l.bindings, func(b binding) bool { return b.queue == name })
}

func remember[T comparable](list []T, name T) []T {
	if slices.Contains(list, name) {
		return list
	}
	return append(list, name)
}

// remember records, once the switch has done it, something the client
// set up, for the next login to restore.
func (c *Client) remember(f func(l *restoreList)) {
	c.mu.Lock()
	f(&c.restore)
	c.mu.Unlock()
}

// ensureRef returns the current session, logging in (and restoring
// queues and subscriptions) if there is none.
func (c *Client) ensureRef(ctx context.Context) (sessionRef, error) {
	c.mu.Lock()
	ref, closed := c.ref(), c.closed
	c.mu.Unlock()
	if closed {
		return sessionRef{}, ErrClosed
	}
	if ref.id != "" {
		return ref, nil
	}
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	c.mu.Lock()
	ref = c.ref()
	c.mu.Unlock()
	if ref.id != "" {
		return ref, nil
	}
	return c.login(ctx)
}

// ref describes the current session; c.mu held.
func (c *Client) ref() sessionRef {
	return sessionRef{id: c.session, epoch: c.epoch, started: c.started}
}

// login starts a session and restores the client's state in it. A
// switch that forgets the new session before the restore is done (it
// restarted again meanwhile) is logged in to afresh. loginMu held.
func (c *Client) login(ctx context.Context) (sessionRef, error) {
	for n := 1; ; n++ {
		ref, err := c.loginOnce(ctx)
		if n == maxFresh || !IsCode(err, CodeUnknownSession) {
			return ref, err
		}
	}
}

// loginOnce is one attempt of login.
func (c *Client) loginOnce(ctx context.Context) (sessionRef, error) {
	var lr wire.LoginResponse
	// A login repeated after its connection broke leaves at most a
	// session with no connection, which the switch ends after its grace.
	err := c.call(ctx, &request{method: "POST", path: wire.PathSession, contentType: wire.ContentTypeJSON,
		body: jsonBody(wire.LoginRequest{ClientID: c.opts.ClientID}), idempotent: true}, &lr)
	if err != nil {
		return sessionRef{}, err
	}
	c.mu.Lock()
	steps := c.restore.steps(lr.Session)
	c.mu.Unlock()
	for _, s := range steps {
		if err := c.call(ctx, s.r, nil); err != nil {
			return sessionRef{}, fmt.Errorf("restoring %s: %w", s.what, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return sessionRef{}, ErrClosed
	}
	c.session = lr.Session
	c.epoch++
	c.started = lr.SwitchStarted
	c.grace = time.Duration(lr.GraceMillis) * time.Millisecond
	c.maxLoad = lr.MaxPayload
	if c.stopKeep == nil {
		c.stopKeep = make(chan struct{})
		go c.keepalive(c.stopKeep)
	}
	return c.ref(), nil
}

// dropSession forgets the session of the given epoch, so that the next
// request logs in again.
func (c *Client) dropSession(epoch uint64) {
	c.mu.Lock()
	if c.epoch == epoch {
		c.session = ""
	}
	c.mu.Unlock()
}

// keepalive tells the switch the client is alive while it has a session,
// so that connections never all sit idle long enough to be closed.
func (c *Client) keepalive(stop chan struct{}) {
	t := time.NewTicker(c.opts.KeepaliveInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		c.mu.Lock()
		has := c.session != ""
		c.mu.Unlock()
		if !has {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c.call(ctx, opRequest(wire.OpKeepalive, "", 0, nil), nil)
		cancel()
	}
}

// Login makes sure the client has a session, waiting for the switch as
// Options.Wait allows. Other methods log in by themselves; Login is for
// a client that wants to know the switch is there before it goes on.
func (c *Client) Login(ctx context.Context) error {
	_, err := c.ensureRef(ctx)
	return err
}
