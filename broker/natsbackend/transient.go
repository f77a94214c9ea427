package natsbackend

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"

	"msw/broker"
	"msw/internal/wire"
)

// forwarded is a send to another gateway's transient queue, or an offer
// (direct.go): the messages and their origin.
type forwarded struct {
	Origin   string          `json:"origin,omitempty"`
	Messages []forwardedItem `json:"messages"`
}

type forwardedItem struct {
	wire.Message
	Payload []byte `json:"payload"`
}

// On the wire a forward's or an offer's body is the messages as frames
// records (internal/wire, frame.go), each with the origin, and the header
// hdrBody says so; a body without it is the JSON of forwarded, as
// gateways sent it before. Decoding JSON was a tenth of the CPU of a
// process running three nodes, two gateways and 16 callers through them
// (bench/NOTES.md, "Issue 16, fifth pass").
const (
	hdrBody    = "Msw-Body"
	bodyFrames = "frames"
)

// encodeForwarded puts ms, sent by origin, in m's body.
func encodeForwarded(m *nats.Msg, ms []wire.Message, origin string) {
	size := 0
	for i := range ms {
		size += wire.FrameSize(&wire.Delivery{Origin: origin, Message: ms[i]})
	}
	b := make([]byte, 0, size)
	for i := range ms {
		b = wire.AppendFrame(b, &wire.Delivery{Origin: origin, Message: ms[i]})
	}
	m.Data = b
	m.Header.Set(hdrBody, bodyFrames)
}

// decodeForwarded reads the messages of a forward or an offer. Their
// payloads and strings share m's body.
func decodeForwarded(m *nats.Msg) (forwarded, error) {
	var f forwarded
	if m.Header.Get(hdrBody) != bodyFrames {
		err := json.Unmarshal(m.Data, &f)
		return f, err
	}
	var d wire.Delivery
	for b := m.Data; len(b) > 0; {
		rest, err := wire.ParseFrame(b, len(b), &d)
		if err != nil {
			return forwarded{}, err
		}
		f.Origin = d.Origin
		f.Messages = append(f.Messages, forwardedItem{Message: d.Message, Payload: d.Payload})
		b = rest
	}
	return f, nil
}

// forwardAnswer is the owning gateway's answer to a forwarded send.
type forwardAnswer struct {
	First   uint64 `json:"first,omitempty"`
	NoQueue bool   `json:"no_queue,omitempty"`
	TooBig  bool   `json:"too_large,omitempty"`
	Error   string `json:"error,omitempty"`
}

// ExposeTransient answers sends to a transient queue of this gateway that
// arrive from the others, until the returned function is called.
func (e *Engine) ExposeTransient(queue string, deliver func([]wire.Message, string) (uint64, error)) (func(), error) {
	sub, err := e.nc.Subscribe(transientSubject+escape(queue), func(m *nats.Msg) {
		var ans forwardAnswer
		if f, err := decodeForwarded(m); err != nil {
			ans.Error = "bad forwarded send: " + err.Error()
		} else {
			ms := make([]wire.Message, len(f.Messages))
			for i, it := range f.Messages {
				ms[i] = it.Message
				ms[i].Payload = it.Payload
			}
			ans.First, err = deliver(ms, f.Origin)
			if err != nil {
				ans.Error = err.Error()
				ans.NoQueue = errors.Is(err, broker.ErrNoSuchQueue)
				ans.TooBig = errors.Is(err, broker.ErrTooLarge)
			}
		}
		data, _ := json.Marshal(ans)
		m.Respond(data)
	})
	if err == nil {
		err = e.nc.Flush() // subscribed on the server before anyone is told the name
	}
	if err != nil {
		return nil, failed("expose", queue, err)
	}
	e.direct.own(queue, true)
	return func() {
		e.direct.own(queue, false)
		sub.Unsubscribe()
	}, nil
}

// Forward sends messages to a transient queue another gateway exposes:
// the request is on its way when Forward returns (ms may be reused), and
// the wait returned reports the first message's id once the owning
// gateway has queued them. If no gateway has the queue the answer is
// ErrNoSuchQueue, at once.
func (e *Engine) Forward(queue string, ms []wire.Message, origin string) func() (uint64, error) {
	msg := nats.NewMsg(transientSubject + escape(queue))
	encodeForwarded(msg, ms, origin)
	wait := e.request(msg, e.o.Timeout)
	return func() (uint64, error) {
		reply, err := wait()
		if errors.Is(err, nats.ErrNoResponders) {
			return 0, noQueue(queue)
		}
		if err != nil {
			return 0, failed("send to", queue, err)
		}
		var ans forwardAnswer
		if err := json.Unmarshal(reply.Data, &ans); err != nil {
			return 0, failed("send to", queue, err)
		}
		switch {
		case ans.NoQueue:
			return 0, noQueue(queue)
		case ans.TooBig:
			return 0, fmt.Errorf("%w: %s", broker.ErrTooLarge, ans.Error)
		case ans.Error != "":
			return 0, errors.New(ans.Error)
		}
		return ans.First, nil
	}
}
