package switchd

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/user"
	"strconv"
	"strings"

	"msw/internal/wire"
)

// Who may connect. A switch that listens beyond loopback must know who
// its clients are: it refuses to start on such an address unless a
// token (--token-file) or TLS (--tls-cert, --tls-key) is configured, or
// --insecure-listen says that anyone who can reach the port may do
// anything (read every message, delete queues, stop the switch).

// readToken reads a token file: its first line, trimmed. An empty or
// overlong token is refused, as is a file others may read.
func readToken(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s is readable by others (mode %04o): chmod 600 it", path, fi.Mode().Perm())
	}
	if fi.Size() > wire.MaxTokenLen+2 {
		return "", fmt.Errorf("%s: a token is at most %d bytes", path, wire.MaxTokenLen)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok, _, _ := strings.Cut(string(b), "\n")
	tok = strings.TrimSpace(tok)
	if len(tok) < 16 {
		return "", fmt.Errorf("%s: the token is %d characters; use at least 16 (e.g. head -c 24 /dev/urandom | base64)", path, len(tok))
	}
	return tok, nil
}

// loadTLS reads a certificate and its key.
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if certFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %v", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// exposed reports whether a TCP listen address reaches beyond loopback:
// anything but a loopback IP literal or "localhost".
func exposed(addr string) bool {
	a, err := wire.ParseAddr(addr)
	if err != nil || a.Network != "tcp" {
		return false
	}
	host, _, _ := net.SplitHostPort(a.Address)
	if strings.EqualFold(host, "localhost") {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err != nil || !ip.IsLoopback()
}

// chgrpSocket gives a Unix socket to a group (name or number), so that
// with --socket-mode 0660 its members may connect.
func chgrpSocket(path, group string) error {
	gid, err := strconv.Atoi(group)
	if err != nil {
		g, err := user.LookupGroup(group)
		if err != nil {
			return fmt.Errorf("--socket-group: %v", err)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	if err := os.Chown(path, -1, gid); err != nil {
		return fmt.Errorf("--socket-group %s: %v", group, err)
	}
	return nil
}
