package server

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"msw/broker"
	"msw/internal/wire"
)

func TestErrorAnswer(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("q: %w", broker.ErrNoSuchQueue), 404, wire.CodeNoSuchQueue},
		{fmt.Errorf("frame 2: %w", wire.ErrFrameTooLarge), 413, wire.CodeTooLarge},
		{broker.ErrSessionEnded, 410, wire.CodeUnknownSession},
		{broker.ErrClosed, 503, wire.CodeShuttingDown},
		{badRequest("no"), 400, wire.CodeBadRequest},
		{fmt.Errorf("frame 1: %w", &http.MaxBytesError{Limit: 10}), 413, wire.CodeTooLarge},
		{errors.New("disk on fire"), 500, wire.CodeInternal},
	} {
		status, we := errorAnswer(tc.err)
		if status != tc.status || we.Code != tc.code {
			t.Errorf("errorAnswer(%v) = %d %s; want %d %s", tc.err, status, we.Code, tc.status, tc.code)
		}
	}
	for _, ec := range errorCodes {
		if status, we := errorAnswer(fmt.Errorf("wrapped: %w", ec.err)); status != ec.status || we.Code != ec.code {
			t.Errorf("errorAnswer(%v) = %d %s; want %d %s", ec.err, status, we.Code, ec.status, ec.code)
		}
	}
	if _, we := errorAnswer(&http.MaxBytesError{Limit: 10}); we.Message != "request body too large: limit 10 bytes" {
		t.Errorf("body over its limit: message %q", we.Message)
	}
}
