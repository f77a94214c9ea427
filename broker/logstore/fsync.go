package logstore

import (
	"fmt"
	"strings"
	"time"
)

// Fsync says when the log is synced to stable storage.
type Fsync struct {
	// Interval is zero for always (a send is answered once its record is
	// synced), negative for never (the operating system decides), and
	// otherwise the period of a background sync.
	Interval time.Duration
}

// Fsync modes without a period.
var (
	FsyncAlways = Fsync{}
	FsyncNever  = Fsync{Interval: -1}
)

// ParseFsync parses always, never or interval=D (a Go duration).
func ParseFsync(s string) (Fsync, error) {
	switch {
	case s == "always":
		return FsyncAlways, nil
	case s == "never":
		return FsyncNever, nil
	case strings.HasPrefix(s, "interval="):
		d, err := time.ParseDuration(strings.TrimPrefix(s, "interval="))
		if err != nil || d <= 0 {
			return Fsync{}, fmt.Errorf("bad interval in %q: want a positive duration such as interval=100ms", s)
		}
		return Fsync{Interval: d}, nil
	}
	return Fsync{}, fmt.Errorf("unknown mode %q: want always, interval=DURATION or never", s)
}

// String renders the mode as ParseFsync reads it.
func (f Fsync) String() string {
	switch {
	case f.Interval == 0:
		return "always"
	case f.Interval < 0:
		return "never"
	}
	return "interval=" + f.Interval.String()
}
