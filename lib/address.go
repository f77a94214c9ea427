package lib

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultAddr is the switch's default address.
const DefaultAddr = "127.0.0.1:8080"

// EnvSwitch names the environment variable that gives the switch's
// address to every command.
const EnvSwitch = "MSW_SWITCH"

// endpoint is a parsed switch address.
type endpoint struct {
	display string // as shown in errors: host:port or unix:/path
	base    string // URL prefix for requests
	unix    string // socket path, or ""
}

// parseAddr accepts "host:port", ":port", "http://host:port" and
// "unix:/path/to/socket".
func parseAddr(addr string) (endpoint, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if path == "" {
			return endpoint{}, fmt.Errorf("switch address %q: empty socket path", addr)
		}
		return endpoint{display: addr, base: "http://unix", unix: path}, nil
	}
	if strings.HasPrefix(addr, "https://") {
		return endpoint{}, fmt.Errorf("switch address %q: https is not supported", addr)
	}
	hostport := strings.TrimSuffix(strings.TrimPrefix(addr, "http://"), "/")
	if strings.HasPrefix(hostport, ":") {
		hostport = "127.0.0.1" + hostport
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || port == "" {
		return endpoint{}, fmt.Errorf("switch address %q: want host:port, http://host:port or unix:/path", addr)
	}
	u := url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}
	return endpoint{display: u.Host, base: u.String()}, nil
}

// transport returns an HTTP transport for the endpoint, keeping enough
// idle connections for many requests in flight.
func (e endpoint) transport() *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     0, // the session's keep-alive keeps them in use
		DisableCompression:  true,
	}
	if e.unix != "" {
		path := e.unix
		t.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", path)
		}
	}
	return t
}
