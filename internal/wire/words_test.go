package wire

import (
	"testing"
	"time"
)

func TestAgeWords(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "less than a second"},
		{-time.Second, "less than a second"},
		{999 * time.Millisecond, "less than a second"},
		{time.Second, "1 second"},
		{59*time.Second + 900*time.Millisecond, "59 seconds"},
		{2*time.Minute + 3*time.Second, "2 min and 3 seconds"},
		{time.Minute + time.Second, "1 min and 1 second"},
		{5 * time.Minute, "5 min"},
		{time.Hour + 4*time.Minute + 59*time.Second, "1 hour and 4 min"},
		{2 * time.Hour, "2 hours"},
		{3*24*time.Hour + 2*time.Hour, "3 days and 2 hours"},
		{24 * time.Hour, "1 day"},
	} {
		if got := AgeWords(c.d); got != c.want {
			t.Errorf("AgeWords(%v) = %q; want %q", c.d, got, c.want)
		}
	}
}
