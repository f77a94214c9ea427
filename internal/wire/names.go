package wire

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
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
	i := 0 // characters before c: where it is, as the person typing counts
	for at, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		case i > 0 && (c == '.' || c == '-' || c == ':' || c == '@'):
		default:
			// The character as typed ('ä'), not one of its bytes; a byte
			// that is not UTF-8 as itself ('\xff').
			ch := strconv.QuoteRune(c)
			if c == utf8.RuneError {
				if _, size := utf8.DecodeRuneInString(name[at:]); size == 1 {
					ch = "'" + strings.Trim(strconv.Quote(name[at:at+1]), `"`) + "'"
				}
			}
			return fmt.Errorf("%w: %q: character %s at %d not allowed (letters, digits, _ . - : @; first a letter, digit or _)", ErrBadQueueName, name, ch, i)
		}
		i++
	}
	return nil
}
