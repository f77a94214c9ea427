package wire

import (
	"strings"
	"testing"
)

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"a\nb\tc", `a\nb\tc`},
		{"\x00\x1f\x7f", `\x00\x1f\x7f`},
		{"\x00\xff", `\x00\xff`},
		{"é€😀", "é€😀"},
		{"\xe2\x82", `\xe2\x82`}, // a rune cut short
		{`back\slash`, `back\slash`},
	} {
		if got := Escape([]byte(tc.in)); got != tc.want {
			t.Errorf("Escape(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestPreviewTakesPreviewLenBytes(t *testing.T) {
	long := strings.Repeat("x", 3*PreviewLen)
	if got := Preview([]byte(long)); got != long[:PreviewLen] {
		t.Errorf("Preview of %d bytes = %d bytes; want the first %d", len(long), len(got), PreviewLen)
	}
	if got := Preview([]byte("a\x00")); got != `a\x00` {
		t.Errorf("Preview(%q) = %q; want %q", "a\x00", got, `a\x00`)
	}
}
