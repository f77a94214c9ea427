package lib

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"msw/internal/wire"
)

// DefaultAddr is the switch's default address, 127.0.0.1:8080: where a
// client looks when neither Options.Addr nor EnvSwitch says otherwise.
const DefaultAddr = wire.DefaultAddr

// Environment variables every command reads.
const (
	// EnvSwitch gives the switch's address.
	EnvSwitch = "MSW_SWITCH"
	// EnvToken gives the switch's token (msw-switch --token-file).
	EnvToken = "MSW_TOKEN"
	// EnvTLSCA names a PEM file of the certificate authority that signed
	// the switch's TLS certificate, for https:// addresses.
	EnvTLSCA = "MSW_TLS_CA"
)

// endpoint is a parsed switch address.
type endpoint struct {
	display string      // as shown in errors: host:port, https://host:port or unix:/path
	base    string      // URL prefix for requests
	unix    string      // socket path, or ""
	tcp     string      // host:port, or ""
	tls     *tls.Config // for https:// addresses, or nil
}

// parseAddr accepts a switch address as wire.ParseAddr reads it:
// "host:port", ":port", "http://host:port", "https://host:port" and
// "unix:/path/to/socket". conf is the TLS configuration of an https://
// address (nil: the system's roots).
func parseAddr(addr string, conf *tls.Config) (endpoint, error) {
	a, err := wire.ParseAddr(addr)
	if err != nil {
		return endpoint{}, err
	}
	if a.Network == "unix" {
		return endpoint{display: a.String(), base: "http://unix", unix: a.Address}, nil
	}
	if a.TLS {
		if conf == nil {
			conf = &tls.Config{}
		}
		return endpoint{display: a.String(), base: "https://" + a.Address, tcp: a.Address, tls: conf}, nil
	}
	return endpoint{display: a.Address, base: "http://" + a.Address, tcp: a.Address}, nil
}

// dial connects to the endpoint as the stream does: through TLS for an
// https:// address, the handshake done before it returns.
func (e endpoint) dial(ctx context.Context) (net.Conn, error) {
	if e.unix != "" {
		return dialer.DialContext(ctx, "unix", e.unix)
	}
	if e.tls != nil {
		td := &tls.Dialer{NetDialer: &dialer, Config: e.tls}
		return td.DialContext(ctx, "tcp", e.tcp)
	}
	return dialer.DialContext(ctx, "tcp", e.tcp)
}

// LoadCA returns a TLS configuration that trusts the certificates of a
// PEM file (MSW_TLS_CA, --tls-ca): a switch's own certificate authority.
func LoadCA(path string) (*tls.Config, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("TLS CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("TLS CA %s: no PEM certificate in it", path)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
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
		TLSClientConfig:     e.tls,
	}
	if e.unix != "" {
		path := e.unix
		t.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", path)
		}
	}
	return t
}
