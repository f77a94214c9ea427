//go:build !linux

package server

import "syscall"

// unreadSocket reports whether the connection behind rc has bytes not yet
// read; elsewhere than on Linux it does not ask, and says none.
func unreadSocket(rc syscall.RawConn) bool { return false }
