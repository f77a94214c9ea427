package wire

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DefaultAddr is the switch's address unless one is given: where it
// listens and where clients look for it.
const DefaultAddr = "127.0.0.1:8080"

// Addr is a parsed switch address.
type Addr struct {
	// Network is "tcp" or "unix".
	Network string
	// Address is host:port for tcp (the host never empty) and the
	// socket's path for unix.
	Address string
	// TLS is set for an https:// address: the client speaks TLS.
	TLS bool
}

// String is the address as errors and listings show it: host:port,
// https://host:port or unix:/path.
func (a Addr) String() string {
	if a.Network == "unix" {
		return "unix:" + a.Address
	}
	if a.TLS {
		return "https://" + a.Address
	}
	return a.Address
}

// ParseAddr parses a switch address: "host:port", ":port" (the loopback
// address 127.0.0.1), "http://host:port" or "https://host:port" (TLS; a
// trailing slash allowed, no path), or "unix:/path" (an absolute path) for
// a Unix socket. The empty string is DefaultAddr. A port is a number from
// 0 to 65535; 0 asks a listener for a free one.
func ParseAddr(s string) (Addr, error) {
	if s == "" {
		s = DefaultAddr
	}
	if path, ok := strings.CutPrefix(s, "unix:"); ok {
		if path == "" {
			return Addr{}, fmt.Errorf("switch address %q: empty socket path", s)
		}
		if !strings.HasPrefix(path, "/") {
			// Client and switch may well run in different directories.
			return Addr{}, fmt.Errorf("switch address %q: socket path %q is relative: want unix:/absolute/path", s, path)
		}
		return Addr{Network: "unix", Address: path}, nil
	}
	if scheme, _, ok := strings.Cut(s, "://"); ok && scheme != "http" && scheme != "https" {
		return Addr{}, fmt.Errorf("switch address %q: %s is not supported: want http(s)://host:port, host:port or unix:/path", s, scheme)
	}
	hostport, tls := strings.CutPrefix(s, "https://")
	if !tls {
		hostport = strings.TrimPrefix(s, "http://")
	}
	hostport = strings.TrimSuffix(hostport, "/")
	if _, path, ok := strings.Cut(hostport, "/"); ok && strings.Contains(s, "://") {
		return Addr{}, fmt.Errorf("switch address %q: a path (/%s) is not allowed: want http(s)://host:port", s, path)
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || strings.ContainsAny(host, "/?#@") {
		return Addr{}, fmt.Errorf("switch address %q: want host:port, :port, http(s)://host:port or unix:/path", s)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || port != strconv.FormatUint(n, 10) {
		return Addr{}, fmt.Errorf("switch address %q: port %q: want a number from 0 to 65535", s, port)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return Addr{Network: "tcp", Address: net.JoinHostPort(host, port), TLS: tls}, nil
}
