package lib

import (
	"crypto/tls"
	"crypto/x509"
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

// ErrTLS wraps a TLS handshake that failed: the switch's certificate is
// not trusted (see Options.TLS, MSW_TLS_CA) or the switch does not speak
// TLS.
var ErrTLS = errors.New("TLS handshake failed")

// tlsError names the switch whose TLS handshake failed and why.
type tlsError struct {
	addr string
	err  error
}

func (e *tlsError) Error() string {
	return fmt.Sprintf("switch at %s: TLS: %s (trust its certificate authority with %s or --tls-ca)", e.addr, rootCause(e.err), EnvTLSCA)
}

func (e *tlsError) Unwrap() []error { return []error{ErrTLS, e.err} }

// isTLSError reports whether err is a failed TLS handshake.
func isTLSError(err error) bool {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var rh tls.RecordHeaderError
	var ve *tls.CertificateVerificationError
	return errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &rh) || errors.As(err, &ve)
}

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

// Error returns the switch's message.
func (e *Error) Error() string { return e.Message }

// Error codes the switch answers with (see docs/protocol.md).
const (
	CodeBadRequest     = "bad_request"       // the request is malformed
	CodeNoSuchEndpoint = "no_such_endpoint"  // no such path on the switch (an older or other server)
	CodeBadQueueName   = "bad_queue_name"    // the queue name is not allowed
	CodeBadTopic       = "bad_topic"         // the topic or pattern is not allowed
	CodeNoSuchQueue    = "no_such_queue"     // the queue does not exist
	CodeQueueExists    = "queue_exists"      // the queue exists with another kind
	CodeQueueNotEmpty  = "queue_not_empty"   // DestroyOptions.IfEmpty, and it is not
	CodeNoSuchMessage  = "no_such_message"   // the message is gone (acked, withdrawn)
	CodeInFlight       = "in_flight"         // Withdraw of a message a receiver holds
	CodeTooLarge       = "payload_too_large" // over the switch's size limits
	CodeNoSession      = "no_session"        // the request needs a session
	CodeUnknownSession = "unknown_session"   // the session ended, or the switch restarted
	CodeForbidden      = "forbidden"         // the request's host or origin is refused
	CodeShuttingDown   = "shutting_down"     // the switch is stopping
	CodeUnauthorized   = "unauthorized"      // the switch needs its token (Options.Token)
	CodeLimit          = "limit_reached"     // a switch-wide bound is reached; the message names it
	CodeMemoryFull     = "memory_full"       // the switch holds --max-memory bytes
	CodeQueueFull      = "queue_full"        // a send past the queue's max-depth or max-bytes (429)
	CodeAborted        = "aborted"           // a send of a BatchSender not made: one before it failed (409)
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
