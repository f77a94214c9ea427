package broker

import (
	"fmt"

	"msw/internal/wire"
)

// checkMessage applies the limits every sent message must meet: the
// payload and correlation id sizes, and a well-formed reply-to name.
func (b *Broker) checkMessage(m *wire.Message) error {
	if len(m.Payload) > b.opts.MaxPayload {
		return fmt.Errorf("payload: %w: %d bytes, limit %d", ErrTooLarge, len(m.Payload), b.opts.MaxPayload)
	}
	if len(m.CorrelationID) > MaxFieldLen {
		return fmt.Errorf("correlation id: %w: %d bytes, limit %d", ErrTooLarge, len(m.CorrelationID), MaxFieldLen)
	}
	if m.ReplyTo != "" {
		if err := ValidateName(m.ReplyTo); err != nil {
			return fmt.Errorf("reply-to: %w", err)
		}
	}
	return nil
}
