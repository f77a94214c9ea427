package wire

import (
	"fmt"
	"time"
)

// AgeWords says a duration as people do: "less than a second",
// "5 seconds", "2 min and 3 seconds", "1 hour and 4 min", "3 days and 2
// hours". The diagnosis of services words its reasons with it, and
// msw-diag its ages.
func AgeWords(d time.Duration) string {
	if d < time.Second {
		return "less than a second"
	}
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return CountOf(s, "second", "seconds")
	case s < 3600:
		if s%60 == 0 {
			return fmt.Sprintf("%d min", s/60)
		}
		return fmt.Sprintf("%d min and %s", s/60, CountOf(s%60, "second", "seconds"))
	case s < 86400:
		h, m := s/3600, s%3600/60
		if m == 0 {
			return CountOf(h, "hour", "hours")
		}
		return fmt.Sprintf("%s and %d min", CountOf(h, "hour", "hours"), m)
	default:
		days, h := s/86400, s%86400/3600
		if h == 0 {
			return CountOf(days, "day", "days")
		}
		return CountOf(days, "day", "days") + " and " + CountOf(h, "hour", "hours")
	}
}

// CountOf says n things: "1 reply", "3 replies".
func CountOf(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
