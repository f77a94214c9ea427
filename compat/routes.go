package compat

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"msw/broker"
)

// route answers one request. Like the original it matches on the method,
// the path split on '/' (each route has exactly its number of segments)
// and whether there is a body; unlike it, each segment is percent-decoded
// exactly once.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	segs, ok := segments(r.RequestURI)
	if !ok {
		notFound(w, r)
		return
	}
	body := r.ContentLength != 0
	switch {
	case r.Method == http.MethodGet && !body:
		s.routeGet(w, r, segs)
	case r.Method == http.MethodPost:
		s.routePost(w, r, segs, body)
	default:
		notFound(w, r)
	}
}

func (s *Server) routeGet(w http.ResponseWriter, r *http.Request, segs []string) {
	switch len(segs) {
	case 1:
		switch segs[0] {
		case "":
			s.diagnostics(w)
			return
		case "trace":
			s.trace(w, r, -1, 5)
			return
		}
	case 2:
		arg := segs[1]
		switch segs[0] {
		case "login":
			if err := s.logins.login(r, arg); err != nil {
				fail(w, err)
				return
			}
			reply(w, nil)
			return
		case "persistent":
			s.withLogin(w, r, func(sess *broker.Session) { s.create(w, arg, s.b.CreateQueue(sess, arg)) })
			return
		case "transient":
			s.withLogin(w, r, func(sess *broker.Session) {
				_, err := s.b.CreateTransient(sess, arg)
				s.create(w, arg, err)
			})
			return
		case "destroy":
			s.withLogin(w, r, func(sess *broker.Session) {
				s.b.DestroyQueue(sess, arg, false) // an unknown name is no error
				reply(w, nil)
			})
			return
		case "list":
			s.withLogin(w, r, func(*broker.Session) { s.list(w, arg, true) })
			return
		}
	case 3:
		switch {
		case segs[0] == "ack":
			s.withLogin(w, r, func(sess *broker.Session) {
				id, err := parseID("message id", segs[2])
				if err != nil {
					fail(w, err)
					return
				}
				s.b.AckCursor(sess, segs[1], id)
				reply(w, nil)
			})
			return
		case segs[0] == "list" && segs[1] == "alive":
			s.withLogin(w, r, func(*broker.Session) { s.list(w, segs[2], false) })
			return
		case segs[0] == "trace":
			from, err := parseID("trace start", segs[1])
			if err != nil {
				fail(w, err)
				return
			}
			timeout, err := strconv.ParseFloat(segs[2], 64)
			if err != nil {
				fail(w, badRequest("trace timeout %q: want a number of seconds", segs[2]))
				return
			}
			s.trace(w, r, from, timeout)
			return
		}
	}
	notFound(w, r)
}

func (s *Server) routePost(w http.ResponseWriter, r *http.Request, segs []string, body bool) {
	switch {
	case len(segs) == 1 && segs[0] == "transfer":
		s.withLogin(w, r, func(sess *broker.Session) { s.transfer(w, r, sess) })
	case len(segs) == 3 && segs[0] == "request":
		s.withLogin(w, r, func(sess *broker.Session) { s.sendRequest(w, r, sess, segs[1], segs[2]) })
	case len(segs) == 4 && segs[0] == "response":
		s.withLogin(w, r, func(sess *broker.Session) { s.sendResponse(w, r, sess, segs[1], segs[2], segs[3]) })
	case len(segs) == 1 && segs[0] == "shutdown" && !body:
		s.withLogin(w, r, func(*broker.Session) {
			reply(w, nil)
			s.stop.Do(func() {
				if s.opts.OnShutdown != nil {
					go s.opts.OnShutdown()
				}
			})
		})
	default:
		notFound(w, r)
	}
}

// segments splits a request target's path on '/' and percent-decodes each
// segment once; "/" is one empty segment. It reports false for a target
// that is not a path or holds a malformed escape.
func segments(target string) ([]string, bool) {
	path, _, _ := strings.Cut(target, "?")
	if !strings.HasPrefix(path, "/") {
		return nil, false
	}
	segs := strings.Split(path[1:], "/")
	for i, seg := range segs {
		d, err := url.PathUnescape(seg)
		if err != nil {
			return nil, false
		}
		segs[i] = d
	}
	return segs, true
}

// withLogin runs h with the connection's session, or answers 404 "Please
// log in." at once, as the original does, if it never logged in.
func (s *Server) withLogin(w http.ResponseWriter, r *http.Request, h func(*broker.Session)) {
	sess, err := s.logins.session(r)
	if err != nil {
		fail(w, err)
		return
	}
	if sess == nil {
		replyStatus(w, http.StatusNotFound, []byte("Please log in."))
		return
	}
	h(sess)
}

// create answers a create: the name as raw text, whether the queue was
// made now or existed already (of either kind).
func (s *Server) create(w http.ResponseWriter, name string, err error) {
	if err != nil && !errors.Is(err, broker.ErrQueueExists) {
		fail(w, err)
		return
	}
	reply(w, []byte(name))
}

// readPayload reads a Send's body, within the switch's payload limit.
func (s *Server) readPayload(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := s.b.Options().MaxPayload
	p, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(limit)))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, fmt.Errorf("payload: %w: over the limit of %d bytes", broker.ErrTooLarge, limit)
	}
	return p, err
}

func parseID(what, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, badRequest("%s %q: want a whole number", what, s)
	}
	return id, nil
}
