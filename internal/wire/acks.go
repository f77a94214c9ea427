package wire

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// Acks on the wire are {"queue":[id,...],...}, where an element may also
// be a run of ids written as the pair [first,last]: {"q":[3,[5,9]]} is
// ids 3, 5, 6, 7, 8 and 9. A reader of a fan-out acks hundreds of
// consecutive copies of one queue at a time; as a run they cost a few
// bytes to send and to read instead of one number each. Decoded, the
// runs are spelt out: Acks holds every id.

// MaxAckIDs bounds the ids one acks object names, runs counted by their
// length, so that a short request cannot make the switch spell out an
// unbounded list: a client acks more in several requests.
const MaxAckIDs = 1 << 20

// minAckRun is the shortest run of consecutive ids MarshalJSON writes as
// a pair: [5,7] is no longer than 5,6,7.
const minAckRun = 3

// MarshalJSON encodes acks with each run of minAckRun or more consecutive
// ids, in the order given, as a pair [first,last]. Names come in sorted
// order, as encoding/json writes a map.
func (a Acks) MarshalJSON() ([]byte, error) {
	if a == nil {
		return []byte("null"), nil
	}
	names := make([]string, 0, len(a))
	n := 2
	for name, ids := range a {
		names = append(names, name)
		n += len(name) + 8 + 4*len(ids)
	}
	slices.Sort(names)
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, name := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, name)
		b = append(b, ':')
		b = appendAckIDs(b, a[name])
	}
	return append(b, '}'), nil
}

// appendAckIDs appends an id list, runs as pairs.
func appendAckIDs(b []byte, ids []uint64) []byte {
	if ids == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := 0; i < len(ids); {
		if i > 0 {
			b = append(b, ',')
		}
		j := i + 1
		for j < len(ids) && ids[j-1] != 1<<64-1 && ids[j] == ids[j-1]+1 {
			j++
		}
		if j-i < minAckRun {
			b = strconv.AppendUint(b, ids[i], 10)
			i++
			continue
		}
		b = append(b, '[')
		b = strconv.AppendUint(b, ids[i], 10)
		b = append(b, ',')
		b = strconv.AppendUint(b, ids[j-1], 10)
		b = append(b, ']')
		i = j
	}
	return append(b, ']')
}

// appendJSONString appends s as a JSON string: as it is when it needs no
// escape (a queue name), else as encoding/json writes it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// UnmarshalJSON decodes acks, {"queue":[id or [first,last],...],...}.
// Every transfer that acks what the one before took carries them: decoded
// by reflection they were a tenth of the switch's CPU in the fan-out
// benchmark. The usual form (names without escapes, plain decimal ids)
// is read here in one pass; anything else goes to encoding/json, which
// decides and words what is wrong with it.
func (a *Acks) UnmarshalJSON(b []byte) error {
	if m, ok := parseAcks(b); ok {
		*a = m
		return nil
	}
	return decodeAcksStd(b, a)
}

// decodeAcksStd decodes acks with encoding/json: the reference the fast
// path agrees with, and the one that words errors.
func decodeAcksStd(b []byte, a *Acks) error {
	var m map[string][]ackItem
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if m == nil {
		*a = nil
		return nil
	}
	total := uint64(0)
	for _, items := range m {
		for _, it := range items {
			if !addAckIDs(&total, it.first, it.last) {
				return fmt.Errorf("acks name more than %d ids", MaxAckIDs)
			}
		}
	}
	out := make(Acks, len(m))
	for name, items := range m {
		if items == nil {
			out[name] = nil
			continue
		}
		ids := []uint64{}
		for _, it := range items {
			for id := it.first; ; id++ {
				ids = append(ids, id)
				if id == it.last {
					break
				}
			}
		}
		out[name] = ids
	}
	*a = out
	return nil
}

// addAckIDs adds the length of the run first..last to *total; false if
// that makes more than MaxAckIDs.
func addAckIDs(total *uint64, first, last uint64) bool {
	if last-first >= MaxAckIDs-*total {
		return false
	}
	*total += last - first + 1
	return true
}

// ackItem is one element of an id list: an id, or a run [first,last].
type ackItem struct{ first, last uint64 }

// UnmarshalJSON decodes an id or a run; null is id 0, as encoding/json
// makes of null in a []uint64.
func (it *ackItem) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '[' {
		var pair []uint64
		if err := json.Unmarshal(b, &pair); err != nil {
			return err
		}
		if len(pair) != 2 {
			return fmt.Errorf("ack run %s: want [first,last]", b)
		}
		if pair[0] > pair[1] {
			return fmt.Errorf("ack run [%d,%d]: first after last", pair[0], pair[1])
		}
		it.first, it.last = pair[0], pair[1]
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	var id uint64
	if err := json.Unmarshal(b, &id); err != nil {
		return err
	}
	it.first, it.last = id, id
	return nil
}

// UnmarshalJSON decodes a transfer request. Read in one pass in its
// usual form, its acks are not scanned a second time by encoding/json
// (to find where they end), which cost as much again as decoding them.
func (r *TransferRequest) UnmarshalJSON(b []byte) error {
	if parseTransfer(b, r) {
		return nil
	}
	type plain TransferRequest // without this method
	return json.Unmarshal(b, (*plain)(r))
}

// parseTransfer reads a transfer request in its usual form into r (the
// fields present); false, with r unchanged, if b is not in it.
func parseTransfer(b []byte, r *TransferRequest) bool {
	p := acksParser{b: b}
	tr := *r
	if !p.byte('{') {
		return false
	}
	if !p.byte('}') {
		for {
			key, ok := p.name()
			if !ok || !p.byte(':') {
				return false
			}
			switch key {
			case "acks":
				tr.Acks, ok = p.acks()
			case "max":
				var v uint64
				v, ok = p.uint()
				ok = ok && v <= 1<<31-1
				tr.Max = int(v)
			case "timeout_ms":
				var v uint64
				v, ok = p.uint()
				ok = ok && v <= 1<<63-1
				tr.TimeoutMillis = int64(v)
			default:
				return false // encoding/json matches keys loosely and skips others
			}
			if !ok {
				return false
			}
			if p.byte('}') {
				break
			}
			if !p.byte(',') {
				return false
			}
		}
	}
	if !p.end() {
		return false
	}
	*r = tr
	return true
}

// parseAcks reads acks in their usual form; false if b is not in it.
func parseAcks(b []byte) (Acks, bool) {
	p := acksParser{b: b}
	m, ok := p.acks()
	return m, ok && p.end()
}

// acks reads acks in their usual form, runs spelt out. More than
// MaxAckIDs ids, or a run whose first id is after its last, is not the
// usual form: encoding/json's path words the error.
func (p *acksParser) acks() (Acks, bool) {
	if !p.byte('{') {
		return nil, false
	}
	m := Acks{}
	if p.byte('}') {
		return m, true
	}
	total := uint64(0)
	for {
		name, ok := p.name()
		if !ok || !p.byte(':') || !p.byte('[') {
			return nil, false
		}
		var ids []uint64
		if p.byte(']') {
			ids = []uint64{}
		} else {
			for {
				first, last := uint64(0), uint64(0)
				if p.byte('[') {
					if first, ok = p.uint(); !ok || !p.byte(',') {
						return nil, false
					}
					if last, ok = p.uint(); !ok || !p.byte(']') || first > last {
						return nil, false
					}
				} else if first, ok = p.uint(); !ok {
					return nil, false
				} else {
					last = first
				}
				if !addAckIDs(&total, first, last) {
					return nil, false
				}
				if ids == nil {
					ids = make([]uint64, 0, last-first+1)
				}
				for id := first; ; id++ {
					ids = append(ids, id)
					if id == last {
						break
					}
				}
				if p.byte(']') {
					break
				}
				if !p.byte(',') {
					return nil, false
				}
			}
		}
		m[name] = ids
		if p.byte('}') {
			return m, true
		}
		if !p.byte(',') {
			return nil, false
		}
	}
}

// acksParser reads the usual form of acks from b.
type acksParser struct {
	b []byte
	i int
}

func (p *acksParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// byte consumes c, after white space, if it comes next.
func (p *acksParser) byte(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (p *acksParser) end() bool {
	p.space()
	return p.i == len(p.b)
}

// name reads a string without escapes or control characters.
func (p *acksParser) name() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start := p.i
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			s := string(p.b[start:p.i])
			p.i++
			return s, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", false // escapes, and bytes encoding/json checks
		}
	}
	return "", false
}

// uint reads a decimal number without sign, fraction, exponent or leading
// zero that fits a uint64.
func (p *acksParser) uint() (uint64, bool) {
	p.space()
	start := p.i
	var v uint64
	for ; p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9'; p.i++ {
		d := uint64(p.b[p.i] - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	n := p.i - start
	if n == 0 || n > 1 && p.b[start] == '0' {
		return 0, false
	}
	if p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		return 0, false
	}
	return v, true
}
