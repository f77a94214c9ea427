package compat

import (
	"context"
	"net"
	"net/http"
	"sync"

	"msw/broker"
)

// Logins. The original binds each connection to a session token by
// GET /login/<token>; many connections share a token (a client's request
// and event connections, a service's polling and reply connections), and
// the token owns the transient queues made on any of them. Here each
// token is one broker session, and each connection logged in with it is
// one of the session's connections: when the last one closes, the
// session ends after the switch's grace period (--session-grace), and
// its transient queues go with it.

// logins maps tokens to their sessions.
type logins struct {
	b *broker.Broker

	mu      sync.Mutex
	byToken map[string]*broker.Session
	swept   int // size of byToken after the last sweep of ended sessions

	conns sync.Map // net.Conn -> *conn
}

// conn is what the listener knows of one client connection.
type conn struct {
	mu    sync.Mutex
	token string
	sess  *broker.Session // nil until it logs in
}

type connKey struct{}

// connContext gives each connection its record (http.Server.ConnContext).
func (l *logins) connContext(ctx context.Context, c net.Conn) context.Context {
	cn := &conn{}
	l.conns.Store(c, cn)
	return context.WithValue(ctx, connKey{}, cn)
}

// connState drops a closed connection from its session
// (http.Server.ConnState).
func (l *logins) connState(c net.Conn, st http.ConnState) {
	if st != http.StateClosed && st != http.StateHijacked {
		return
	}
	v, ok := l.conns.LoadAndDelete(c)
	if !ok {
		return
	}
	cn := v.(*conn)
	cn.mu.Lock()
	sess := cn.sess
	cn.sess = nil
	cn.mu.Unlock()
	if sess != nil {
		sess.DropConn()
	}
}

func connOf(r *http.Request) *conn {
	cn, _ := r.Context().Value(connKey{}).(*conn)
	return cn
}

// login binds the request's connection to token's session, starting one
// if the token has none. Logging in again with the same token does
// nothing; with another, the connection moves to that one.
func (l *logins) login(r *http.Request, token string) error {
	cn := connOf(r)
	if cn == nil {
		return nil
	}
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.sess != nil && cn.token == token && !cn.sess.Ended() {
		return nil
	}
	sess, err := l.attach(token)
	if err != nil {
		return err
	}
	if cn.sess != nil {
		cn.sess.DropConn()
	}
	cn.sess, cn.token = sess, token
	return nil
}

// session returns the session of the request's connection, or nil if it
// never logged in. A session ended under a connection still open (by
// msw's own logout) is started again for the same token.
func (l *logins) session(r *http.Request) (*broker.Session, error) {
	cn := connOf(r)
	if cn == nil {
		return nil, nil
	}
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.sess == nil || !cn.sess.Ended() {
		return cn.sess, nil
	}
	sess, err := l.attach(cn.token)
	if err != nil {
		return nil, err
	}
	cn.sess = sess
	return sess, nil
}

// attach adds a connection to token's live session, starting one if
// needed.
func (l *logins) attach(token string) (*broker.Session, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		sess := l.byToken[token]
		if sess == nil || sess.Ended() {
			var err error
			if sess, err = l.b.Login(token); err != nil {
				return nil, err
			}
			l.byToken[token] = sess
			l.sweepLocked()
		}
		sess.AddConn()
		if !sess.Ended() {
			return sess, nil
		}
		// Its grace period ran out just now: start another.
	}
}

// sweepLocked forgets ended sessions once the map has doubled since the
// last sweep, so tokens of clients long gone do not pile up. l.mu held.
func (l *logins) sweepLocked() {
	if len(l.byToken) < 2*l.swept+16 {
		return
	}
	for token, sess := range l.byToken {
		if sess.Ended() {
			delete(l.byToken, token)
		}
	}
	l.swept = len(l.byToken)
}
