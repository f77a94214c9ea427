package lib

import (
	"context"
	"net"
	"net/http"
	"time"

	"msw/internal/wire"
)

// DefaultAddr is the switch's default address, 127.0.0.1:8080: where a
// client looks when neither Options.Addr nor EnvSwitch says otherwise.
const DefaultAddr = wire.DefaultAddr

// EnvSwitch names the environment variable that gives the switch's
// address to every command.
const EnvSwitch = "MSW_SWITCH"

// endpoint is a parsed switch address.
type endpoint struct {
	display string // as shown in errors: host:port or unix:/path
	base    string // URL prefix for requests
	unix    string // socket path, or ""
}

// parseAddr accepts a switch address as wire.ParseAddr reads it:
// "host:port", ":port", "http://host:port" and "unix:/path/to/socket".
func parseAddr(addr string) (endpoint, error) {
	a, err := wire.ParseAddr(addr)
	if err != nil {
		return endpoint{}, err
	}
	if a.Network == "unix" {
		return endpoint{display: a.String(), base: "http://unix", unix: a.Address}, nil
	}
	return endpoint{display: a.Address, base: "http://" + a.Address}, nil
}

// dialer reaches the switch, for HTTP requests and the stream alike.
var dialer = net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}

// transport returns an HTTP transport for the endpoint, keeping enough
// idle connections for many requests in flight.
func (e endpoint) transport() *http.Transport {
	t := &http.Transport{
		DialContext:         dialer.DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     0, // the session's keep-alive keeps them in use
		DisableCompression:  true,
	}
	if e.unix != "" {
		path := e.unix
		t.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", path)
		}
	}
	return t
}
