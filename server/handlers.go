package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"msw/broker"
	"msw/internal/wire"
	"msw/server/webui"
)

// maxJSONBody bounds control request bodies (ack lists, queue lists).
const maxJSONBody = 16 << 20

// maxPeek bounds the messages one peek returns; ask again for more.
const maxPeek = 10000

// routes is the route table of docs/protocol.md.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+wire.PathSession, s.login)
	mux.HandleFunc("DELETE "+wire.PathSession, s.logout)
	mux.HandleFunc("POST "+wire.PathKeepalive, s.keepalive)
	mux.HandleFunc("GET "+wire.PathQueues, s.listQueues)
	mux.HandleFunc("GET "+wire.PathQueuePrefix+"{name}", s.queueInfo)
	mux.HandleFunc("PUT "+wire.PathQueuePrefix+"{name}", s.createQueue)
	mux.HandleFunc("DELETE "+wire.PathQueuePrefix+"{name}", s.destroyQueue)
	mux.HandleFunc("POST "+wire.PathQueuePrefix+"{name}/messages", s.send)
	mux.HandleFunc("GET "+wire.PathQueuePrefix+"{name}/messages", s.peek)
	mux.HandleFunc("DELETE "+wire.PathQueuePrefix+"{name}/messages/{id}", s.withdraw)
	mux.HandleFunc("POST "+wire.PathTransient, s.createTransient)
	mux.HandleFunc("POST "+wire.PathSubscribe, s.subscribe)
	mux.HandleFunc("POST "+wire.PathUnsubscribe, s.unsubscribe)
	mux.HandleFunc("POST "+wire.PathTransfer, s.transfer)
	mux.HandleFunc("GET "+wire.PathStream, s.openStream)
	mux.HandleFunc("POST "+wire.PathAck, s.ack)
	mux.HandleFunc("POST "+wire.PathRelease, s.release)
	mux.HandleFunc("GET "+wire.PathDiagnostics, s.diagnostics)
	mux.HandleFunc("GET "+wire.PathTrace, s.trace)
	mux.HandleFunc("POST "+wire.PathShutdown, s.shutdown)
	mux.HandleFunc("GET "+wire.PathHealth, s.health)
	mux.Handle("GET "+wire.PathMetrics, s.metricsHandler())
	mux.HandleFunc("GET "+wire.PathHistory, s.queueHistory)
	mux.Handle("GET /{$}", s.page())
	mux.Handle("GET "+webui.AssetPrefix, s.page())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
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
		writeError(w, &httpError{http.StatusNotFound, wire.CodeBadRequest, "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", wire.ContentTypeJSON)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, maxJSONBody)
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
		s.opts.Log.Printf("session %s started for %q", sess.ID(), req.ClientID)
	}
	writeJSON(w, http.StatusOK, wire.LoginResponse{
		Session:       sess.ID(),
		SwitchStarted: s.b.Started(),
		GraceMillis:   s.b.Options().Grace.Milliseconds(),
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

func (s *Server) keepalive(w http.ResponseWriter, r *http.Request) {
	if _, err := s.session(r); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listQueues(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	all := q.Get("all") == "1" || q.Get("all") == "true"
	writeJSON(w, http.StatusOK, wire.QueuesResponse{Queues: s.b.List(q.Get("prefix"), all)})
}

func (s *Server) queueInfo(w http.ResponseWriter, r *http.Request) {
	qi, err := s.b.Info(r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, qi)
}

func (s *Server) createQueue(w http.ResponseWriter, r *http.Request) {
	sess, err := s.optionalSession(r)
	if err == nil {
		err = s.b.CreateQueue(sess, r.PathValue("name"))
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
		ifEmpty := r.URL.Query().Get("if_empty") == "1" || r.URL.Query().Get("if_empty") == "true"
		err = s.b.DestroyQueue(sess, r.PathValue("name"), ifEmpty)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
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

// send enqueues one message (the raw body, with Msw-Correlation-Id and
// Msw-Reply-To headers) or, with a frames body, a batch.
func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	sess, err := s.optionalSession(r)
	if err != nil {
		writeError(w, err)
		return
	}
	name := r.PathValue("name")
	maxPayload := s.b.Options().MaxPayload
	var msgs []wire.Message
	if isFrames(r.Header.Get("Content-Type")) {
		body := http.MaxBytesReader(w, r.Body, int64(max(64<<20, maxPayload+1<<20)))
		fr := wire.NewFrameReader(body, maxPayload)
		defer fr.Close()
		var d wire.Delivery
		for {
			err := fr.Next(&d)
			if err == io.EOF {
				break
			}
			if err != nil {
				if errors.Is(err, wire.ErrFrameTooLarge) {
					writeError(w, err)
				} else if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
					writeError(w, mbe)
				} else {
					writeError(w, badRequest(err.Error()))
				}
				return
			}
			msgs = append(msgs, d.Message)
		}
	} else {
		body := http.MaxBytesReader(w, r.Body, int64(maxPayload))
		payload, err := io.ReadAll(body)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				err = fmt.Errorf("payload: %w: over the limit of %d bytes", broker.ErrTooLarge, maxPayload)
			}
			writeError(w, err)
			return
		}
		msgs = []wire.Message{{
			Payload:       payload,
			CorrelationID: r.Header.Get(wire.HeaderCorrelationID),
			ReplyTo:       r.Header.Get(wire.HeaderReplyTo),
		}}
		if v := r.Header.Get(wire.HeaderStatus); v != "" {
			st, err := strconv.ParseUint(v, 10, 8)
			if err != nil {
				writeError(w, badRequest(fmt.Sprintf("%s %q: want 0 to 255", wire.HeaderStatus, v)))
				return
			}
			msgs[0].Status = uint8(st)
		}
	}
	id, err := s.b.Send(sess, name, msgs)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.SendResponse{ID: id, Count: len(msgs)})
}

func isFrames(contentType string) bool {
	return strings.HasPrefix(contentType, wire.ContentTypeFrames)
}

func wantsFrames(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), wire.ContentTypeFrames)
}

// writeDeliveries answers with messages as frames or JSON, as asked.
func writeDeliveries(w http.ResponseWriter, r *http.Request, ds []wire.Delivery) {
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
		w.Write(buf)
		return
	}
	resp := wire.DeliveriesResponse{Messages: make([]wire.JSONDelivery, len(ds))}
	for i := range ds {
		resp.Messages[i] = wire.ToJSON(&ds[i])
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) peek(w http.ResponseWriter, r *http.Request) {
	max, err := intParam(r, "max", 100)
	if err != nil {
		writeError(w, err)
		return
	}
	max = min(max, maxPeek)
	ds, err := s.b.Peek(r.PathValue("name"), max)
	if err != nil {
		writeError(w, err)
		return
	}
	writeDeliveries(w, r, ds)
}

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

func (s *Server) withdraw(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, badRequest(fmt.Sprintf("message id %q: want a whole number", r.PathValue("id"))))
		return
	}
	sess, err := s.optionalSession(r)
	if err == nil {
		err = s.b.Withdraw(sess, r.PathValue("name"), id)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
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

func (s *Server) transfer(w http.ResponseWriter, r *http.Request) {
	sess, err := s.session(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var req wire.TransferRequest
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if len(req.Acks) > 0 {
		s.b.Ack(sess, req.Acks) // acks of messages already gone are ignored
	}
	ds, err := s.b.Transfer(r.Context(), sess, req.Max, time.Duration(req.TimeoutMillis)*time.Millisecond)
	if err != nil && r.Context().Err() == nil {
		writeError(w, err)
		return
	}
	writeDeliveries(w, r, ds)
}

func (s *Server) ack(w http.ResponseWriter, r *http.Request) {
	s.acksOp(w, r, s.b.Ack)
}

func (s *Server) release(w http.ResponseWriter, r *http.Request) {
	s.acksOp(w, r, s.b.Release)
}

func (s *Server) acksOp(w http.ResponseWriter, r *http.Request, op func(*broker.Session, wire.Acks) error) {
	sess, err := s.optionalSession(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var req wire.AckRequest
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := op(sess, req.Acks); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) diagnostics(w http.ResponseWriter, r *http.Request) {
	max, err := intParam(r, "max_messages", 100)
	if err != nil {
		writeError(w, err)
		return
	}
	staleMs, err := intParam(r, "stale_ms", 0)
	if err != nil {
		writeError(w, err)
		return
	}
	snap := s.b.Snapshot(max)
	if staleMs > 0 {
		snap.Services = wire.Diagnose(&snap, time.Duration(staleMs)*time.Millisecond)
	}
	writeJSON(w, http.StatusOK, snap)
}

func (s *Server) trace(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, err := strconv.ParseUint(q.Get("after"), 10, 64)
	if q.Get("after") == "" {
		after, err = 0, nil
	}
	if err != nil {
		writeError(w, badRequest(fmt.Sprintf("after=%q: want a whole number", q.Get("after"))))
		return
	}
	max, err := intParam(r, "max", 0)
	if err != nil {
		writeError(w, err)
		return
	}
	timeoutMs, err := intParam(r, "timeout_ms", 0)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.b.Trace(r.Context(), after, max, time.Duration(timeoutMs)*time.Millisecond))
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
