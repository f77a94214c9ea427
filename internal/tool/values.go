package tool

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"msw/lib"
)

// WaitValue is a duration flag that also accepts "forever".
type WaitValue time.Duration

func (w *WaitValue) String() string {
	if time.Duration(*w) == lib.WaitForever {
		return "forever"
	}
	return time.Duration(*w).String()
}

// Type names the value in messages and completions.
func (w *WaitValue) Type() string { return "duration" }

func (w *WaitValue) Set(s string) error {
	if s == "forever" {
		*w = WaitValue(lib.WaitForever)
		return nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	*w = WaitValue(d)
	return nil
}

// DurationValue is a duration flag that also accepts a bare number of
// seconds.
type DurationValue time.Duration

func (d *DurationValue) String() string { return time.Duration(*d).String() }

// Type names the value in messages and completions.
func (d *DurationValue) Type() string { return "duration" }

func (d *DurationValue) Set(s string) error {
	v, err := parseDuration(s)
	*d = DurationValue(v)
	return err
}

func parseDuration(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 {
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("want a duration such as 5s, 1m30s or 0.5")
	}
	return d, nil
}

// ParseSize reads a byte count with an optional K, M or G suffix (powers
// of 1024; "KiB", "MB" and the like are accepted too).
func ParseSize(s string) (int, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := 1
	for _, suf := range []struct {
		s string
		m int
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(t, suf.s) {
			t, mult = strings.TrimSuffix(t, suf.s), suf.m
			break
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(t))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q: want a positive number of bytes, optionally with K, M or G", s)
	}
	return n * mult, nil
}
