package server

import (
	"encoding/json"
	"errors"
	"net/http"

	"msw/broker"
	"msw/internal/wire"
)

// httpError is an error with the status and wire code to answer it with.
type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(msg string) error {
	return &httpError{http.StatusBadRequest, wire.CodeBadRequest, msg}
}

// writeError answers err as a one-line JSON error with the matching status.
func writeError(w http.ResponseWriter, err error) {
	status, we := errorAnswer(err)
	w.Header().Set("Content-Type", wire.ContentTypeJSON)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(we)
}

// errorAnswer is the status and body err is answered with, on HTTP and on
// a stream alike.
func errorAnswer(err error) (int, wire.Error) {
	status, code := http.StatusInternalServerError, wire.CodeInternal
	var he *httpError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		status, code = he.status, he.code
	case errors.As(err, &mbe):
		status, code = http.StatusRequestEntityTooLarge, wire.CodeTooLarge
	case errors.Is(err, wire.ErrFrameTooLarge), errors.Is(err, broker.ErrTooLarge):
		status, code = http.StatusRequestEntityTooLarge, wire.CodeTooLarge
	case errors.Is(err, broker.ErrBadQueueName):
		status, code = http.StatusBadRequest, wire.CodeBadQueueName
	case errors.Is(err, broker.ErrNoSuchQueue):
		status, code = http.StatusNotFound, wire.CodeNoSuchQueue
	case errors.Is(err, broker.ErrNoSuchMessage):
		status, code = http.StatusNotFound, wire.CodeNoSuchMessage
	case errors.Is(err, broker.ErrQueueExists):
		status, code = http.StatusConflict, wire.CodeQueueExists
	case errors.Is(err, broker.ErrQueueNotEmpty):
		status, code = http.StatusConflict, wire.CodeQueueNotEmpty
	case errors.Is(err, broker.ErrInFlight):
		status, code = http.StatusConflict, wire.CodeInFlight
	case errors.Is(err, broker.ErrSessionEnded):
		status, code = http.StatusGone, wire.CodeUnknownSession
	case errors.Is(err, broker.ErrClosed):
		status, code = http.StatusServiceUnavailable, wire.CodeShuttingDown
	case errors.Is(err, broker.ErrStorageFull):
		status, code = http.StatusInsufficientStorage, wire.CodeStorageFull
	case errors.Is(err, broker.ErrStorage):
		status, code = http.StatusInsufficientStorage, wire.CodeStorageError
	}
	msg := err.Error()
	if mbe != nil {
		msg = "request body too large: limit " + itoa(mbe.Limit) + " bytes"
	}
	return status, wire.Error{Code: code, Message: msg}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
