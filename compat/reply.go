package compat

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"msw/broker"
)

// Replies carry Content-Length, never Connection: close, and no
// Content-Type or Date (the original sends neither; its clients accept
// them but need none). Clients treat every non-200 answer alike and
// ignore its body, so errors get msw's own one-line text.

// reply answers 200 with body.
func reply(w http.ResponseWriter, body []byte) { replyStatus(w, http.StatusOK, body) }

func replyStatus(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = nil
	h["Date"] = nil
	h.Set("Connection", "keep-alive")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// notFound answers a request no route matches, as the original does.
func notFound(w http.ResponseWriter, r *http.Request) {
	replyStatus(w, http.StatusNotFound, []byte("Not found: "+r.RequestURI))
}

// statusError is an error with the status to answer it with.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &statusError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// fail answers err with a status that says what kind of error it is.
func fail(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	var se *statusError
	switch {
	case errors.As(err, &se):
		status = se.status
	case errors.Is(err, broker.ErrTooLarge):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, broker.ErrBadQueueName):
		status = http.StatusBadRequest
	case errors.Is(err, broker.ErrClosed):
		status = http.StatusServiceUnavailable
	}
	replyStatus(w, status, []byte(err.Error()+"\n"))
}
