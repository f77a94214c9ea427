package server

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"

	"msw/internal/wire"
)

// DefaultAddr is where the switch listens unless told otherwise.
const DefaultAddr = wire.DefaultAddr

// Listen opens a listener for addr, a switch address as wire.ParseAddr
// reads it: "host:port", ":port", "http://host:port", or "unix:/path" for
// a Unix socket created with the given mode. A stale socket file
// (nothing accepts on it) is replaced; a live one, or a path that is not
// a socket, is an error.
func Listen(addr string, mode fs.FileMode) (net.Listener, error) {
	a, err := wire.ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	if a.Network == "unix" {
		return listenUnix(a.Address, mode)
	}
	return net.Listen("tcp", a.Address)
}

func listenUnix(path string, mode fs.FileMode) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another process is listening on it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale socket: %w", err)
		}
	}
	// Create the socket with no access for others, then set the mode asked
	// for, so it is never open wider than that.
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, mode); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
