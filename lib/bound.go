package lib

// Session-bound requests, for the RPC loops. Message ids are per switch
// instance: after a restart the same queue and id may name a different
// message. A request naming messages the loops took is therefore bound
// to the session (epoch) they were taken in (request.bound), and fails
// with errStaleSession once that session is gone instead of being
// carried in a new one.

import (
	"context"
	"errors"

	"msw/internal/wire"
)

// errStaleSession means the session a message was seen in is gone.
var errStaleSession = errors.New("session changed")

// transferIn is Transfer that applies o.Acks only in the session of
// ackEpoch (dropping them if that session is gone). It returns the epoch
// of the session now holding the deliveries.
func (c *Client) transferIn(ctx context.Context, o TransferOptions, ackEpoch uint64) ([]Delivery, uint64, error) {
	if c.push.window > 0 && !c.noStream.Load() {
		ds, epoch, err := c.transferPushed(ctx, o, ackEpoch)
		if !errors.Is(err, errNoStream) {
			return ds, epoch, err
		}
	}
	r := transferRequest(o, false)
	if len(o.Acks) > 0 && ackEpoch != 0 {
		withAcks := transferRequest(o, true)
		withAcks.bound = ackEpoch
		a, epoch, err := c.do(ctx, withAcks)
		if err != errStaleSession {
			if err != nil {
				return nil, epoch, err
			}
			ds, err := c.deliveries(withAcks, a.body)
			return ds, epoch, err
		}
	}
	a, epoch, err := c.do(ctx, r)
	if err != nil {
		return nil, epoch, err
	}
	ds, err := c.deliveries(r, a.body)
	return ds, epoch, err
}

// acksIn acks or releases (op) messages seen in the session of epoch. A
// message already gone is no failure. With once, a switch that cannot be
// reached is not waited for (for clean-up that is moot when the switch
// is gone).
func (c *Client) acksIn(ctx context.Context, op wire.Op, acks Acks, epoch uint64, once bool) error {
	r := opRequest(op, "", 0, jsonBody(wire.AckRequest{Acks: wire.Acks(acks)}))
	r.bound, r.once = epoch, once
	_, _, err := c.do(ctx, r)
	if IsCode(err, CodeNoSuchMessage) {
		return nil
	}
	return err
}

// retryable reports whether err may pass once the switch is back.
func retryable(err error) bool {
	return errors.Is(err, ErrUnreachable) || IsCode(err, CodeShuttingDown) ||
		IsCode(err, CodeUnknownSession) || err == errStaleSession
}
