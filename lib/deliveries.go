package lib

// Parsing the deliveries of an answer (a transfer's, a peek's, a
// consume's pushes) into the Delivery values a caller gets.

import (
	"math"
	"unsafe"

	"msw/internal/wire"
)

// asWire is d as the wire package parses into it. The two types have the
// same fields, of the same types, in the same order
// (TestDeliveryLayoutIsTheWire), but Go cannot convert one to the other
// since their embedded Message types are distinct: parsing into a
// wire.Delivery and copying it over doubled the writes of every pointer
// a delivery holds, and the copy was a third of a fan-out reader's parse.
func asWire(d *Delivery) *wire.Delivery { return (*wire.Delivery)(unsafe.Pointer(d)) }

// parseDeliveries appends the deliveries framed in body to out, each
// parsed in place: their strings and payloads alias body (a buffer of
// the answer's own), none is copied. On a malformed frame it returns
// those before it and the error.
func parseDeliveries(out []Delivery, body []byte) ([]Delivery, error) {
	all, start := len(body), len(out)
	for len(body) > 0 {
		if len(out) == cap(out) {
			// Room for as many more as the frames parsed so far suggest
			// (the first one alone, for the first): growing the slice
			// delivery by delivery was a third of a big answer's cost.
			var d Delivery
			rest, err := wire.ParseFrame(body, math.MaxInt, asWire(&d))
			if err != nil {
				return out, err
			}
			more := len(rest)*(len(out)-start+1)/(all-len(rest)) + 1
			out = append(append(make([]Delivery, 0, len(out)+more), out...), d)
			body = rest
			continue
		}
		out = out[:len(out)+1]
		var err error
		if body, err = wire.ParseFrame(body, math.MaxInt, asWire(&out[len(out)-1])); err != nil {
			out[len(out)-1] = Delivery{}
			return out[:len(out)-1], err
		}
	}
	return out, nil
}
