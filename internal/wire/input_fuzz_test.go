package wire

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseAddr: any switch address parses or is refused with an error
// naming it; one that parses prints as an address that parses the same.
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"", ":8080", "127.0.0.1:80", "https://h:1/", "http://[::1]:0", "unix:/x", "unix:", "h:99999", "ftp://h:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddr(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "switch address ") {
				t.Errorf("ParseAddr(%q): %v", s, err)
			}
			return
		}
		b, err := ParseAddr(a.String())
		if err != nil || b != a {
			t.Errorf("ParseAddr(%q) = %+v, which reads back as %+v, %v", s, a, b, err)
		}
	})
}

// FuzzValidateName: a name that passes is short, ASCII and needs no
// escaping in a path.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"q", "..", "a/b", "\x00", "é", strings.Repeat("a", 300), "_x.y-z:w@v"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateName(s) != nil {
			return
		}
		if len(s) == 0 || len(s) > MaxNameLen || !utf8.ValidString(s) || strings.ContainsAny(s, "/%?#\\ \x00") || s == "." || s == ".." {
			t.Errorf("ValidateName(%q) passed", s)
		}
	})
}

// FuzzBearerToken: the token of any Authorization header is matched only
// by itself.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  abc ", "Basic abc", "Bearer", ""} {
		f.Add(s, "abc")
	}
	f.Fuzz(func(t *testing.T, header, want string) {
		h := http.Header{"Authorization": {header}}
		got := BearerToken(h)
		if TokenMatches(got, want) != (got == want) {
			t.Errorf("TokenMatches(%q, %q) = %v", got, want, !(got == want))
		}
	})
}
