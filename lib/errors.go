package lib

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"msw/internal/wire"
)

// ErrUnreachable wraps every failure to connect to the switch.
var ErrUnreachable = errors.New("not reachable")

// ErrClosed is returned by the requests, calls and serves of a Client
// that was closed, including those in progress when Close was called.
var ErrClosed = errors.New("client closed")

// ErrSwitchRestarted is returned by a request naming messages (ack,
// release, withdraw) when the switch restarted since they were taken:
// they were lost with it, and their ids now mean other messages.
var ErrSwitchRestarted = errors.New("the switch restarted: the messages taken before are gone")

// unreachableError names the switch that could not be reached and why.
type unreachableError struct {
	addr string
	err  error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("switch at %s not reachable: %s", e.addr, rootCause(e.err))
}

func (e *unreachableError) Unwrap() []error { return []error{ErrUnreachable, e.err} }

// rootCause strips the layers net and net/http put around a dial error,
// leaving "connection refused" or "no such file or directory".
func rootCause(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

// Error is an error answered by the switch.
type Error struct {
	Status  int    // HTTP status
	Code    string // machine code, one of the Code constants
	Message string // one line for people
}

func (e *Error) Error() string { return e.Message }

// Error codes the switch answers with (see docs/protocol.md).
const (
	CodeBadRequest     = wire.CodeBadRequest
	CodeBadQueueName   = wire.CodeBadQueueName
	CodeNoSuchQueue    = wire.CodeNoSuchQueue
	CodeQueueExists    = wire.CodeQueueExists
	CodeQueueNotEmpty  = wire.CodeQueueNotEmpty
	CodeNoSuchMessage  = wire.CodeNoSuchMessage
	CodeInFlight       = wire.CodeInFlight
	CodeTooLarge       = wire.CodeTooLarge
	CodeNoSession      = wire.CodeNoSession
	CodeUnknownSession = wire.CodeUnknownSession
	CodeForbidden      = wire.CodeForbidden
	CodeShuttingDown   = wire.CodeShuttingDown
)

// answerError is the *Error of a failure answer.
func answerError(a answer) *Error {
	var we wire.Error
	if json.Unmarshal(a.body, &we) != nil || we.Message == "" {
		we.Message = fmt.Sprintf("switch answered %d %s", a.status, http.StatusText(a.status))
	}
	return &Error{Status: a.status, Code: we.Code, Message: we.Message}
}

// IsCode reports whether err is an Error from the switch with that code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
