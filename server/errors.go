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

// writeError answers err as a one-line JSON error with the matching
// status, and returns that status.
func writeError(w http.ResponseWriter, err error) int {
	status, we := errorAnswer(err)
	w.Header().Set("Content-Type", wire.ContentTypeJSON)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(we)
	return status
}

// errorCodes maps the broker's errors (and the frame reader's) to the
// status and wire code they are answered with, first match first.
var errorCodes = []struct {
	err    error
	status int
	code   string
}{
	{wire.ErrFrameTooLarge, http.StatusRequestEntityTooLarge, wire.CodeTooLarge},
	{broker.ErrTooLarge, http.StatusRequestEntityTooLarge, wire.CodeTooLarge},
	{broker.ErrBadQueueName, http.StatusBadRequest, wire.CodeBadQueueName},
	{broker.ErrBadTopic, http.StatusBadRequest, wire.CodeBadTopic},
	{broker.ErrNoSuchQueue, http.StatusNotFound, wire.CodeNoSuchQueue},
	{broker.ErrNoSuchMessage, http.StatusNotFound, wire.CodeNoSuchMessage},
	{broker.ErrQueueExists, http.StatusConflict, wire.CodeQueueExists},
	{broker.ErrQueueNotEmpty, http.StatusConflict, wire.CodeQueueNotEmpty},
	{broker.ErrInFlight, http.StatusConflict, wire.CodeInFlight},
	{broker.ErrSessionEnded, http.StatusGone, wire.CodeUnknownSession},
	{broker.ErrQueueFull, http.StatusTooManyRequests, wire.CodeQueueFull},
	{broker.ErrBadPolicy, http.StatusBadRequest, wire.CodeBadRequest},
	{broker.ErrClosed, http.StatusServiceUnavailable, wire.CodeShuttingDown},
	{broker.ErrNotSupported, http.StatusBadRequest, wire.CodeBadRequest},
	{broker.ErrLimit, http.StatusTooManyRequests, wire.CodeLimit},
	{broker.ErrMemoryFull, http.StatusInsufficientStorage, wire.CodeMemoryFull},
	{broker.ErrStorageFull, http.StatusInsufficientStorage, wire.CodeStorageFull},
	{broker.ErrStorage, http.StatusInsufficientStorage, wire.CodeStorageError},
}

// errorAnswer is the status and body err is answered with, on HTTP and on
// a stream alike: an httpError's own, 413 for a body over its limit, the
// row of errorCodes it matches, or 500.
func errorAnswer(err error) (int, wire.Error) {
	status, code := http.StatusInternalServerError, wire.CodeInternal
	var he *httpError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		status, code = he.status, he.code
	case errors.As(err, &mbe):
		status, code = http.StatusRequestEntityTooLarge, wire.CodeTooLarge
	default:
		for _, ec := range errorCodes {
			if errors.Is(err, ec.err) {
				status, code = ec.status, ec.code
				break
			}
		}
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
