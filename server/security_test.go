package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"msw/broker"
	"msw/internal/switchtest"
	"msw/internal/testutil"
	"msw/internal/wire"
	"msw/lib"
	"msw/server"
)

const testToken = "s3cret-token-for-the-sweep"

// sweepPaths is every route of docs/protocol.md, with its variables
// filled in, and a few that match no route.
var sweepPaths = []string{
	"/", "/ui/app.js", wire.PathSession, wire.PathKeepalive, wire.PathQueues,
	wire.PathQueuePrefix + "q", wire.PathQueuePrefix + "q/messages", wire.PathQueuePrefix + "q/messages/1",
	wire.PathTransient, wire.PathSubscribe, wire.PathUnsubscribe, wire.PathTransfer, wire.PathAck,
	wire.PathRelease, wire.PathStream, wire.PathDiagnostics, wire.PathTrace, wire.PathShutdown,
	wire.PathHealth, wire.PathHistory, wire.PathMetrics, "/nope", "/v1/queues/q/../../metrics",
}

// TestTokenSweep: with a token, every route and method answers 401
// without it (the health check excepted), and works with it, in the
// Authorization header or in the cookie the web page gets.
func TestTokenSweep(t *testing.T) {
	stopped := make(chan struct{}, 1)
	sw := switchtest.Start(t, "", broker.Options{}, server.Options{Token: testToken, OnShutdown: func() { stopped <- struct{}{} }})
	base := "http://" + sw.Addr
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path, auth string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(`{}`))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	n := 0
	for _, path := range sweepPaths {
		for _, method := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
			for _, auth := range []string{"", "Bearer wrong-token", "Basic " + testToken, "Bearer " + testToken + "x"} {
				status, body := do(method, path, auth)
				n++
				if path == wire.PathHealth && method == "GET" {
					if status != http.StatusOK {
						t.Errorf("%s %s (%q): %d; the health check needs no token", method, path, auth, status)
					}
					continue
				}
				if status != http.StatusUnauthorized || (method != "HEAD" && !strings.Contains(body, wire.CodeUnauthorized)) {
					t.Errorf("%s %s with Authorization %q: %d %s; want 401 %s", method, path, auth, status, body, wire.CodeUnauthorized)
				}
			}
			if path == wire.PathShutdown {
				continue // with the token it would stop the switch; below
			}
			if status, body := do(method, path, "Bearer "+testToken); status == http.StatusUnauthorized {
				t.Errorf("%s %s with the token: %d %s", method, path, status, body)
			}
		}
	}
	t.Logf("%d requests without the right token: each 401 (the health check excepted)", n)

	// The web page: a wrong ?token= is refused; the right one sets the
	// cookie and sends the browser on to / without it; the cookie opens
	// the page and its API.
	if status, _ := do("GET", "/?token=wrong", ""); status != http.StatusUnauthorized {
		t.Errorf("GET /?token=wrong: %d; want 401", status)
	}
	resp, err := hc.Get(base + "/?token=" + testToken)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == wire.CookieToken {
			cookie = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" || cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("GET /?token=: %d, Location %q, cookie %+v; want 303 to / with an HttpOnly SameSite=Strict cookie", resp.StatusCode, resp.Header.Get("Location"), cookie)
	}
	for _, path := range []string{"/", wire.PathDiagnostics, wire.PathMetrics} {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.AddCookie(cookie)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s with the cookie: %d", path, resp.StatusCode)
		}
	}

	// The library: without the token a clear error, with it every path,
	// the stream included, works.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	anon := switchtest.Client(t, sw.Addr, lib.Options{})
	err = anon.CreateQueue(ctx, "q")
	var le *lib.Error
	if !errors.As(err, &le) || le.Status != http.StatusUnauthorized || le.Code != lib.CodeUnauthorized || !strings.Contains(le.Message, "MSW_TOKEN") {
		t.Errorf("CreateQueue without the token: %v; want 401 unauthorized naming MSW_TOKEN", err)
	}
	roundTrip(t, ctx, sw.Addr, lib.Options{Token: testToken})

	// Shutdown needs the token too.
	if status, _ := do("POST", wire.PathShutdown, "Bearer "+testToken); status != http.StatusAccepted {
		t.Errorf("POST %s with the token: %d; want 202", wire.PathShutdown, status)
	}
	<-stopped
}

// roundTrip creates a queue, sends, receives and acks through the
// stream, and makes one RPC.
func roundTrip(t *testing.T, ctx context.Context, addr string, o lib.Options) {
	t.Helper()
	c := switchtest.Client(t, addr, o)
	if err := c.CreateQueue(ctx, "q"); err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	if _, err := c.Send(ctx, "q", lib.Message{Payload: []byte("hello")}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := c.Subscribe(ctx, "q"); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	ds, err := c.Transfer(ctx, lib.TransferOptions{Max: 1, Timeout: 5 * time.Second})
	if err != nil || len(ds) != 1 || string(ds[0].Payload) != "hello" {
		t.Fatalf("Transfer: %v %v", ds, err)
	}
	if err := c.Ack(ctx, lib.Acks{"q": {ds[0].ID}}); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	srv := switchtest.Client(t, addr, o)
	go srv.Serve(sctx, "upper", lib.ServeOptions{}, func(_ context.Context, r *lib.Request) ([]byte, error) {
		return []byte(strings.ToUpper(string(r.Payload))), nil
	})
	reply, err := c.Call(ctx, "upper", []byte("hi"))
	if err != nil || string(reply) != "HI" {
		t.Fatalf("Call: %q %v", reply, err)
	}
}

// testCA makes a certificate authority and a certificate it signed for
// 127.0.0.1, and writes the authority's certificate to a PEM file.
func testCA(t *testing.T) (serverConf *tls.Config, caFile string) {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, leafKey := key(), key()
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "msw test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "msw test switch"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}}}, caFile
}

// TestTLSRoundTrip: a switch on TLS with a CA made here: a client that
// trusts the CA does everything, the stream included; one that does not
// fails at once with a TLS error naming MSW_TLS_CA, as does one
// speaking plain HTTP to it.
func TestTLSRoundTrip(t *testing.T) {
	conf, caFile := testCA(t)
	sw := switchtest.Start(t, "", broker.Options{}, server.Options{TLS: conf, Token: testToken})
	if !strings.HasPrefix(sw.Addr, "https://") {
		t.Fatalf("address %q", sw.Addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	trusted, err := lib.LoadCA(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, ctx, sw.Addr, lib.Options{Token: testToken, TLS: trusted})

	_, otherCA := testCA(t)
	wrong, err := lib.LoadCA(otherCA)
	if err != nil {
		t.Fatal(err)
	}
	c := switchtest.Client(t, sw.Addr, lib.Options{Token: testToken, TLS: wrong, Wait: 5 * time.Second})
	start := time.Now()
	err = c.CreateQueue(ctx, "q")
	if !errors.Is(err, lib.ErrTLS) || !strings.Contains(err.Error(), "certificate signed by unknown authority") || !strings.Contains(err.Error(), lib.EnvTLSCA) {
		t.Errorf("with the wrong CA: %v; want a TLS error naming %s", err, lib.EnvTLSCA)
	}
	t.Logf("wrong CA: %v (after %v)", err, time.Since(start).Round(time.Millisecond))

	plain := switchtest.Client(t, strings.TrimPrefix(sw.Addr, "https://"), lib.Options{Token: testToken})
	if _, err := plain.List(ctx, lib.ListOptions{}); err == nil {
		t.Errorf("plain HTTP to a TLS switch worked")
	} else {
		t.Logf("plain HTTP to TLS: %v", err)
	}
	if _, err := lib.LoadCA(filepath.Join(t.TempDir(), "none.pem")); err == nil {
		t.Errorf("LoadCA of a missing file worked")
	}
}

// TestSessionTokenStaysSecret: diagnostics, the trace, /metrics and the
// log show a public session id, never the token, and the public id
// opens nothing.
func TestSessionTokenStaysSecret(t *testing.T) {
	logs := &testutil.Buffer{}
	sw := switchtest.Start(t, "", broker.Options{}, server.Options{Verbose: true, Log: log.New(logs, "", 0)})
	base := "http://" + sw.Addr
	post := func(path, sess, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		if sess != "" {
			req.Header.Set(wire.HeaderSession, sess)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := post(wire.PathSession, "", `{"client_id":"secretive"}`)
	var login wire.LoginResponse
	json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	token := login.Session
	if token == "" {
		t.Fatal("no session token")
	}
	if err := sw.Broker.CreateQueue(nil, "q"); err != nil {
		t.Fatal(err)
	}
	post(wire.PathSubscribe, token, `{"queues":["q"]}`).Body.Close()
	post(wire.PathQueuePrefix+"q/messages", token, "x").Body.Close()

	var texts []string
	var snap wire.Snapshot
	for _, path := range []string{wire.PathDiagnostics + "?max_messages=1000000", wire.PathTrace, wire.PathMetrics, wire.PathHistory, wire.PathQueues} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.HasPrefix(path, wire.PathDiagnostics) {
			json.Unmarshal(b, &snap)
		}
		texts = append(texts, path+": "+string(b))
	}
	texts = append(texts, "log: "+logs.String())
	for _, s := range texts {
		if strings.Contains(s, token) {
			t.Errorf("the session token shows in %.300s", s)
		}
	}
	found := false
	for _, si := range snap.Sessions {
		if si.ClientID != "secretive" {
			continue
		}
		found = true
		if len(si.ID) != 8 {
			t.Errorf("public session id %q: want 8 hex digits", si.ID)
		}
		resp := post(wire.PathKeepalive, si.ID, "")
		resp.Body.Close()
		if resp.StatusCode != http.StatusGone {
			t.Errorf("keepalive with the public id: %d; want 410 (it is no token)", resp.StatusCode)
		}
	}
	if !found {
		t.Errorf("the session is not in the diagnostics: %+v", snap.Sessions)
	}
}
