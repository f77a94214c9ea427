package wire

import (
	"strings"
	"testing"
)

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct {
		in      string
		network string
		address string
		str     string
	}{
		{"", "tcp", "127.0.0.1:8080", DefaultAddr},
		{"127.0.0.1:8080", "tcp", "127.0.0.1:8080", "127.0.0.1:8080"},
		{"localhost:9", "tcp", "localhost:9", "localhost:9"},
		{":7000", "tcp", "127.0.0.1:7000", "127.0.0.1:7000"},
		{"127.0.0.1:0", "tcp", "127.0.0.1:0", "127.0.0.1:0"},
		{"http://example.org:80", "tcp", "example.org:80", "example.org:80"},
		{"http://host:1/", "tcp", "host:1", "host:1"},
		{"https://host:443/", "tcp", "host:443", "https://host:443"},
		{"[::1]:8080", "tcp", "[::1]:8080", "[::1]:8080"},
		{"0.0.0.0:65535", "tcp", "0.0.0.0:65535", "0.0.0.0:65535"},
		{"unix:/run/msw.sock", "unix", "/run/msw.sock", "unix:/run/msw.sock"},
	} {
		a, err := ParseAddr(tc.in)
		if err != nil {
			t.Errorf("ParseAddr(%q): %v", tc.in, err)
			continue
		}
		if a.Network != tc.network || a.Address != tc.address || a.String() != tc.str {
			t.Errorf("ParseAddr(%q) = %+v (%s); want %s %s (%s)", tc.in, a, a, tc.network, tc.address, tc.str)
		}
	}
}

func TestParseAddrRefuses(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"unix:", `switch address "unix:": empty socket path`},
		{"ftp://x", `switch address "ftp://x": ftp is not supported`},
		{"http://h:1/foo", `switch address "http://h:1/foo": a path (/foo) is not allowed`},
		{"unix:rel/sock", `switch address "unix:rel/sock": socket path "rel/sock" is relative`},
		{"host:99999", `port "99999": want a number from 0 to 65535`},
		{"localhost", `switch address "localhost": want host:port, :port, http(s)://host:port or unix:/path`},
		{"8080", `want host:port`},
		{"http://", `want host:port`},
		{"::1:8080", `want host:port`},
		{"host:1/path", `port "1/path"`},
		{"user@host:1", `want host:port`},
		{"host:", `switch address "host:": port "": want a number from 0 to 65535`},
		{"host:http", `port "http": want a number`},
		{"host:65536", `port "65536": want a number`},
		{"host:-1", `port "-1"`},
		{"host:+80", `port "+80"`},
		{"host:080", `port "080"`},
	} {
		a, err := ParseAddr(tc.in)
		if err == nil {
			t.Errorf("ParseAddr(%q) = %+v; want an error", tc.in, a)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseAddr(%q) error %q; want it to contain %q", tc.in, err, tc.want)
		}
	}
}
