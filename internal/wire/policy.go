package wire

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Policy bounds a queue: the body of PUT /v1/queues/{name} (which
// creates the queue if it does not exist and replaces its policy), and
// the policy fields of QueueInfo. Zero fields set no bound.
type Policy struct {
	// MaxDepth bounds the ready messages.
	MaxDepth int `json:"max_depth,omitempty"`
	// MaxBytes bounds the bytes held, ready and in flight.
	MaxBytes int64 `json:"max_bytes,omitempty"`
	// Overflow says what a send past a bound does: OverflowReject (the
	// default) or OverflowDropOldest.
	Overflow string `json:"overflow,omitempty"`
	// TTL, a duration such as "30s", is how long a message may wait
	// unconsumed before it expires.
	TTL string `json:"ttl,omitempty"`
	// MaxDeliveries is how many times a message is handed out before,
	// given back once more, it moves to the dead-letter queue.
	MaxDeliveries int `json:"max_deliveries,omitempty"`
	// DeadLetter names the dead-letter queue; QUEUE.dead by default.
	DeadLetter string `json:"dead_letter,omitempty"`
}

// Overflow policies.
const (
	OverflowReject     = "reject"      // refuse the send: 429 queue_full
	OverflowDropOldest = "drop-oldest" // drop the oldest ready messages to make room
)

// DeadLetterSuffix names a queue's default dead-letter queue.
const DeadLetterSuffix = ".dead"

// ErrBadPolicy is wrapped by every error Policy.Check returns.
var ErrBadPolicy = errors.New("bad policy")

// TTLDuration is p.TTL parsed; 0 if unset or bad (Check reports that).
func (p *Policy) TTLDuration() time.Duration {
	d, err := time.ParseDuration(p.TTL)
	if err != nil || d < 0 {
		return 0
	}
	return d
}

// Check reports the first field of p that is out of range, for queue.
func (p *Policy) Check(queue string) error {
	bad := func(f string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrBadPolicy, fmt.Sprintf(f, a...))
	}
	switch {
	case p.MaxDepth < 0:
		return bad("max_depth %d: want 0 (no bound) or more", p.MaxDepth)
	case p.MaxBytes < 0:
		return bad("max_bytes %d: want 0 (no bound) or more", p.MaxBytes)
	case p.MaxDeliveries < 0:
		return bad("max_deliveries %d: want 0 (no bound) or more", p.MaxDeliveries)
	case p.Overflow != "" && p.Overflow != OverflowReject && p.Overflow != OverflowDropOldest:
		return bad("overflow %q: want %s or %s", p.Overflow, OverflowReject, OverflowDropOldest)
	}
	if p.TTL != "" {
		d, err := time.ParseDuration(p.TTL)
		if err != nil || d < 0 {
			return bad("ttl %q: want a duration such as 30s or 5m", p.TTL)
		}
	}
	if p.DeadLetter != "" {
		if err := ValidateName(p.DeadLetter); err != nil {
			return bad("dead_letter: %v", err)
		}
		if p.DeadLetter == queue {
			return bad("dead_letter %q: a queue cannot be its own dead-letter queue", queue)
		}
	}
	return nil
}

// PolicySummary renders qi's policy and what it removed in one line for
// people, as msw-ls -l and msw-diag show it: "max-depth=1000
// overflow=reject ttl=5m0s; 3 expired". Empty for a queue with no policy
// and nothing removed.
func (qi *QueueInfo) PolicySummary() string {
	var parts []string
	add := func(present bool, f string, a ...any) {
		if present {
			parts = append(parts, fmt.Sprintf(f, a...))
		}
	}
	add(qi.MaxDepth > 0, "max-depth=%d", qi.MaxDepth)
	add(qi.MaxBytes > 0, "max-bytes=%s", FormatSize(qi.MaxBytes))
	add(qi.Overflow != "" && (qi.MaxDepth > 0 || qi.MaxBytes > 0), "overflow=%s", qi.Overflow)
	add(qi.TTL != "", "ttl=%s", qi.TTL)
	add(qi.MaxDeliveries > 0, "max-deliveries=%d dead-letter=%s", qi.MaxDeliveries, qi.DeadLetter)
	s := strings.Join(parts, " ")
	var counts []string
	add = func(present bool, f string, a ...any) {
		if present {
			counts = append(counts, fmt.Sprintf(f, a...))
		}
	}
	add(qi.Expired > 0, "%d expired", qi.Expired)
	add(qi.DeadLettered > 0, "%d dead-lettered", qi.DeadLettered)
	add(qi.Dropped > 0, "%d dropped", qi.Dropped)
	if len(counts) > 0 {
		if s != "" {
			s += "; "
		}
		s += strings.Join(counts, ", ")
	}
	return s
}

// FormatSize writes a byte count as msw-mkq takes it: "64KiB", "20MiB",
// "1GiB" when it is a whole number of those, else in bytes.
func FormatSize(n int64) string {
	for _, u := range []struct {
		s string
		m int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.m && n%u.m == 0 {
			return fmt.Sprintf("%d%s", n/u.m, u.s)
		}
	}
	return fmt.Sprintf("%dB", n)
}
