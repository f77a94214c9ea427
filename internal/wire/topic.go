package wire

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadTopic is returned for a topic or pattern that breaks the rules of
// ValidateTopic or ValidatePattern.
var ErrBadTopic = errors.New("bad topic")

// Pattern wildcards: TokenAny matches exactly one token of a topic,
// TokenRest, as a pattern's last token, one or more.
const (
	TokenAny  = "*"
	TokenRest = ">"
)

// ValidateTopic checks a topic a message is published to: 1 to MaxNameLen
// bytes of dot-separated tokens, each of one or more ASCII letters,
// digits, '_', '-', ':' and '@' (news.sports.uk).
func ValidateTopic(topic string) error {
	return validateTokens(topic, false)
}

// ValidatePattern checks a binding's pattern: a topic whose tokens may
// also be TokenAny, and whose last token may be TokenRest (news.*.uk,
// news.>).
func ValidatePattern(pattern string) error {
	return validateTokens(pattern, true)
}

func validateTokens(s string, pattern bool) error {
	what := "topic"
	if pattern {
		what = "pattern"
	}
	if s == "" {
		return fmt.Errorf("%w: empty %s", ErrBadTopic, what)
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("%w: %s of %d bytes, limit %d", ErrBadTopic, what, len(s), MaxNameLen)
	}
	tokens := strings.Split(s, ".")
	for i, t := range tokens {
		switch {
		case t == "":
			return fmt.Errorf("%w: %s %q: empty token %d (tokens are separated by single dots)", ErrBadTopic, what, s, i+1)
		case pattern && t == TokenAny:
		case pattern && t == TokenRest:
			if i != len(tokens)-1 {
				return fmt.Errorf("%w: pattern %q: %q must be the last token", ErrBadTopic, s, TokenRest)
			}
		default:
			for j := 0; j < len(t); j++ {
				c := t[j]
				if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == ':' || c == '@') {
					allowed := "letters, digits, _ - : @"
					if pattern {
						allowed += "; a whole token may be * or a last >"
					}
					return fmt.Errorf("%w: %s %q: character %q in token %d not allowed (%s)", ErrBadTopic, what, s, c, i+1, allowed)
				}
			}
		}
	}
	return nil
}

// MatchTopic reports whether a topic matches a pattern. Both are assumed
// valid. The switch matches through an index; this is the rule it keeps.
func MatchTopic(pattern, topic string) bool {
	ps, ts := strings.Split(pattern, "."), strings.Split(topic, ".")
	for i, p := range ps {
		if p == TokenRest {
			return len(ts) > i
		}
		if i >= len(ts) || p != TokenAny && p != ts[i] {
			return false
		}
	}
	return len(ps) == len(ts)
}

// PublishResponse is the body of an answer to a publish: how many queues
// received a copy of each message.
type PublishResponse struct {
	Queues int `json:"queues"`
}

// Binding is a queue bound to a pattern, as GET /v1/bindings lists it.
type Binding struct {
	Queue   string `json:"queue"`
	Pattern string `json:"pattern"`
}

// BindingsResponse is the body of GET /v1/bindings.
type BindingsResponse struct {
	Bindings []Binding `json:"bindings"`
}
