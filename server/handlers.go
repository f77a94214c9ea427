package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"msw/broker"
	"msw/internal/wire"
	"msw/server/webui"
)

// routes is the route table of docs/protocol.md: the hot-path
// operations from wire.HotOps (ops.go), then the rest.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, op := range wire.HotOps {
		mux.HandleFunc(op.Pattern(), s.httpOp(op, hotOp(op)))
	}
	mux.HandleFunc("POST "+wire.PathSession, s.login)
	mux.HandleFunc("DELETE "+wire.PathSession, s.logout)
	mux.HandleFunc("GET "+wire.PathQueues, s.listQueues)
	mux.HandleFunc("GET "+wire.PathQueuePrefix+"{name}", s.queueInfo)
	mux.HandleFunc("PUT "+wire.PathQueuePrefix+"{name}", s.createQueue)
	mux.HandleFunc("DELETE "+wire.PathQueuePrefix+"{name}", s.destroyQueue)
	mux.HandleFunc("GET "+wire.PathQueuePrefix+"{name}"+wire.SuffixMessages, s.peek)
	mux.HandleFunc("DELETE "+wire.PathQueuePrefix+"{name}"+wire.SuffixMessages, s.purgeQueue)
	mux.HandleFunc("PUT "+wire.PathQueuePrefix+"{name}/bindings/{pattern}", s.bind)
	mux.HandleFunc("DELETE "+wire.PathQueuePrefix+"{name}/bindings/{pattern}", s.unbind)
	mux.HandleFunc("GET "+wire.PathBindings, s.listBindings)
	mux.HandleFunc("POST "+wire.PathTransient, s.createTransient)
	mux.HandleFunc("POST "+wire.PathSubscribe, s.subscribe)
	mux.HandleFunc("POST "+wire.PathUnsubscribe, s.unsubscribe)
	mux.HandleFunc("GET "+wire.PathStream, s.openStream)
	mux.HandleFunc("GET "+wire.PathDiagnostics, s.diagnostics)
	mux.HandleFunc("GET "+wire.PathTrace, s.trace)
	mux.HandleFunc("POST "+wire.PathShutdown, s.shutdown)
	mux.HandleFunc("GET "+wire.PathHealth, s.health)
	mux.Handle("GET "+wire.PathMetrics, s.metricsHandler())
	mux.HandleFunc("GET "+wire.PathHistory, s.queueHistory)
	mux.Handle("GET /{$}", s.page())
	mux.Handle("GET "+webui.AssetPrefix, s.page())
	// The page names no icon file, but a browser may ask for one on a
	// navigation that carries no page (the token's redirect): nothing,
	// and no error in its console.
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if err := badQueuePath(r); err != nil {
			writeError(w, err) // a name that reads as no route ("/", ""), named as what it is
			return
		}
		var allow []string
		for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
			alt := r.Clone(r.Context())
			alt.Method = m
			if _, pattern := mux.Handler(alt); pattern != "/" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, &httpError{http.StatusMethodNotAllowed, wire.CodeBadRequest, r.Method + " not allowed on " + r.URL.Path + "; use " + strings.Join(allow, " or ")})
			return
		}
		writeError(w, &httpError{http.StatusNotFound, wire.CodeNoSuchEndpoint, "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
	return mux
}

// badQueuePath is the error of a path under /v1/queues/ whose name
// segment is not a queue name, or nil.
func badQueuePath(r *http.Request) error {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), wire.PathQueuePrefix)
	if !ok {
		return nil
	}
	seg, _, _ := strings.Cut(rest, "/")
	name, err := url.PathUnescape(seg)
	if err != nil {
		return badRequest("queue name " + strconv.Quote(seg) + ": bad escape")
	}
	return wire.ValidateName(name)
}

// writeJSON answers with v as JSON; the error is the write's.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", wire.ContentTypeJSON)
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // patterns such as news.> read as they are written
	return enc.Encode(v)
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, wire.MaxJSONBody)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		if err == io.EOF {
			return badRequest("empty body: expected a JSON object")
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest("bad JSON body: " + err.Error())
	}
	return nil
}

// session returns the live session named by the request's Msw-Session
// header and binds the request's connection to it.
func (s *Server) session(r *http.Request) (*broker.Session, error) {
	id := r.Header.Get(wire.HeaderSession)
	if id == "" {
		return nil, &httpError{http.StatusBadRequest, wire.CodeNoSession, "this request needs a session: log in and send " + wire.HeaderSession}
	}
	sess, err := s.b.Session(id)
	if err != nil {
		return nil, err
	}
	bind(r, sess)
	return sess, nil
}

// optionalSession is session for requests that may also come without one.
func (s *Server) optionalSession(r *http.Request) (*broker.Session, error) {
	if r.Header.Get(wire.HeaderSession) == "" {
		return nil, nil
	}
	return s.session(r)
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req wire.LoginRequest
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	sess, err := s.b.Login(req.ClientID)
	if err != nil {
		writeError(w, err)
		return
	}
	bind(r, sess)
	if s.opts.Verbose {
		s.opts.Log.Printf("session %s started for %q", sess.PublicID(), req.ClientID)
	}
	writeJSON(w, http.StatusOK, wire.LoginResponse{
		Session:       sess.ID(),
		SwitchStarted: s.b.Started(),
		GraceMillis:   s.b.Options().Grace.Milliseconds(),
		MaxPayload:    s.b.Options().MaxPayload,
	})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	sess, err := s.session(r)
	if err != nil {
		writeError(w, err)
		return
	}
	s.b.EndSession(sess)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listQueues(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	writeJSON(w, http.StatusOK, wire.QueuesResponse{Queues: s.b.List(q.Get(wire.ParamPrefix), flagParam(r, wire.ParamAll))})
}

func (s *Server) queueInfo(w http.ResponseWriter, r *http.Request) {
	qi, err := s.b.Info(r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, qi)
}

// createQueue creates a persistent queue if it does not exist; a body,
// a wire.Policy, replaces its policy.
func (s *Server) createQueue(w http.ResponseWriter, r *http.Request) {
	var pol *wire.Policy
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		pol = new(wire.Policy)
		if err := readJSON(w, r, pol); err != nil {
			if r.ContentLength > 0 || !strings.HasPrefix(err.Error(), "empty body") {
				writeError(w, err)
				return
			}
			pol = nil
		}
	}
	name := r.PathValue("name")
	if pol != nil {
		if err := pol.Check(name); err != nil {
			writeError(w, err)
			return
		}
	}
	sess, err := s.optionalSession(r)
	if err == nil {
		err = s.b.CreateQueue(sess, name)
	}
	if err == nil && pol != nil {
		err = s.b.SetPolicy(sess, name, *pol)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	s.queueInfo(w, r)
}

func (s *Server) destroyQueue(w http.ResponseWriter, r *http.Request) {
	sess, err := s.optionalSession(r)
	if err == nil {
		err = s.b.DestroyQueue(sess, r.PathValue("name"), flagParam(r, wire.ParamIfEmpty))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) purgeQueue(w http.ResponseWriter, r *http.Request) {
	n, err := s.b.PurgeQueue(r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.PurgeResponse{Purged: n})
}

func (s *Server) createTransient(w http.ResponseWriter, r *http.Request) {
	sess, err := s.session(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var req wire.TransientRequest
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	name, err := s.b.CreateTransient(sess, req.Name)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.TransientResponse{Name: name})
}

func isFrames(contentType string) bool {
	return strings.HasPrefix(contentType, wire.ContentTypeFrames)
}

func wantsFrames(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), wire.ContentTypeFrames)
}

// writeDeliveries answers with messages, as frames if the client asked
// for them and JSON otherwise. It returns an error if the answer could
// not be written whole (the client stopped reading until the write
// timeout, or went away), so that a transfer can give its messages back.
func writeDeliveries(w http.ResponseWriter, r *http.Request, ds []wire.Delivery) error {
	if wantsFrames(r) {
		var n int
		for i := range ds {
			n += 40 + len(ds[i].Payload) + len(ds[i].Queue) + len(ds[i].CorrelationID) + len(ds[i].ReplyTo) + len(ds[i].Origin)
		}
		buf := make([]byte, 0, n)
		for i := range ds {
			buf = wire.AppendFrame(buf, &ds[i])
		}
		w.Header().Set("Content-Type", wire.ContentTypeFrames)
		w.Header().Set("Content-Length", strconv.Itoa(len(buf)))
		if _, err := w.Write(buf); err != nil {
			return err
		}
	} else {
		resp := wire.DeliveriesResponse{Messages: make([]wire.JSONDelivery, len(ds))}
		for i := range ds {
			resp.Messages[i] = wire.ToJSON(&ds[i])
		}
		if err := writeJSON(w, http.StatusOK, resp); err != nil {
			return err
		}
	}
	return http.NewResponseController(w).Flush()
}

func (s *Server) peek(w http.ResponseWriter, r *http.Request) {
	max, err := intParam(r, wire.ParamMax, wire.DefaultPeek)
	if err != nil {
		writeError(w, err)
		return
	}
	max = min(max, wire.MaxPeek)
	ds, err := s.b.Peek(r.PathValue("name"), max)
	if err != nil {
		writeError(w, err)
		return
	}
	writeDeliveries(w, r, ds)
}

// flagParam reports whether a flag parameter is on: "1" or "true".
func flagParam(r *http.Request, name string) bool {
	v := r.URL.Query().Get(name)
	return v == "1" || v == "true"
}

// intParam is a whole-number parameter, def if absent.
func intParam(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, badRequest(fmt.Sprintf("%s=%q: want a whole number", name, v))
	}
	return n, nil
}

func (s *Server) subscribe(w http.ResponseWriter, r *http.Request) {
	s.queuesOp(w, r, func(sess *broker.Session, names []string) error {
		return s.b.Subscribe(sess, names)
	})
}

func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) {
	s.queuesOp(w, r, func(sess *broker.Session, names []string) error {
		s.b.Unsubscribe(sess, names)
		return nil
	})
}

func (s *Server) queuesOp(w http.ResponseWriter, r *http.Request, op func(*broker.Session, []string) error) {
	sess, err := s.session(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var req wire.QueuesRequest
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := op(sess, req.Queues); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) diagnostics(w http.ResponseWriter, r *http.Request) {
	max, err := intParam(r, wire.ParamMaxMessages, wire.DefaultSnapshotMessages)
	if err != nil {
		writeError(w, err)
		return
	}
	staleMs, err := intParam(r, wire.ParamStale, 0)
	if err != nil {
		writeError(w, err)
		return
	}
	snap := s.snapshot(r.Context(), min(max, wire.MaxSnapshotMessages))
	if staleMs > 0 {
		snap.Services = wire.Diagnose(&snap, time.Duration(staleMs)*time.Millisecond)
	}
	writeJSON(w, http.StatusOK, snap)
}

func (s *Server) trace(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, err := strconv.ParseUint(q.Get(wire.ParamAfter), 10, 64)
	if q.Get(wire.ParamAfter) == "" {
		after, err = 0, nil
	}
	if err != nil {
		writeError(w, badRequest(fmt.Sprintf("%s=%q: want a whole number", wire.ParamAfter, q.Get(wire.ParamAfter))))
		return
	}
	max, err := intParam(r, wire.ParamMax, 0)
	if err != nil {
		writeError(w, err)
		return
	}
	timeoutMs, err := intParam(r, wire.ParamTimeout, 0)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.traceRead(r.Context(), after, max, time.Duration(timeoutMs)*time.Millisecond))
}

func (s *Server) shutdown(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusAccepted)
	s.opts.Log.Printf("shutdown requested by %s", r.RemoteAddr)
	s.stop.Do(func() {
		if s.opts.OnShutdown != nil {
			go s.opts.OnShutdown()
		}
	})
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "started": s.b.Started()})
}
