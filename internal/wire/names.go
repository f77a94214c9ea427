package wire

import (
	"errors"
	"fmt"
)

// ErrBadQueueName is returned for a name that breaks the rules of
// ValidateName.
var ErrBadQueueName = errors.New("bad queue name")

// MaxNameLen is the longest queue name accepted.
const MaxNameLen = 200

// ValidateName checks a queue name: 1 to MaxNameLen bytes of ASCII letters,
// digits, '.', '_', '-', ':' and '@', starting with a letter, digit or '_'.
// Such names need no escaping in a URL path, a shell word or a file name.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrBadQueueName)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrBadQueueName, len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		case i > 0 && (c == '.' || c == '-' || c == ':' || c == '@'):
		default:
			return fmt.Errorf("%w: %q: character %q at %d not allowed (letters, digits, _ . - : @; first a letter, digit or _)", ErrBadQueueName, name, c, i)
		}
	}
	return nil
}
