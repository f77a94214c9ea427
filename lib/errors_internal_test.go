package lib

import (
	"testing"

	"msw/internal/wire"
)

// The codes users test for are the ones the switch answers with.
func TestCodesAreTheWire(t *testing.T) {
	for _, c := range []struct{ lib, wire string }{
		{CodeBadRequest, wire.CodeBadRequest},
		{CodeNoSuchEndpoint, wire.CodeNoSuchEndpoint},
		{CodeBadQueueName, wire.CodeBadQueueName},
		{CodeNoSuchQueue, wire.CodeNoSuchQueue},
		{CodeQueueExists, wire.CodeQueueExists},
		{CodeQueueNotEmpty, wire.CodeQueueNotEmpty},
		{CodeNoSuchMessage, wire.CodeNoSuchMessage},
		{CodeInFlight, wire.CodeInFlight},
		{CodeTooLarge, wire.CodeTooLarge},
		{CodeNoSession, wire.CodeNoSession},
		{CodeUnknownSession, wire.CodeUnknownSession},
		{CodeForbidden, wire.CodeForbidden},
		{CodeShuttingDown, wire.CodeShuttingDown},
	} {
		if c.lib != c.wire {
			t.Errorf("lib code %q; the wire's is %q", c.lib, c.wire)
		}
	}
}
