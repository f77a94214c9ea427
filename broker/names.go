package broker

import "msw/internal/wire"

// MaxNameLen is the longest queue name accepted.
const MaxNameLen = wire.MaxNameLen

// ValidateName checks a queue name: 1 to MaxNameLen bytes of ASCII letters,
// digits, '.', '_', '-', ':' and '@', starting with a letter, digit or '_'.
// Such names need no escaping in a URL path, a shell word or a file name.
func ValidateName(name string) error { return wire.ValidateName(name) }
