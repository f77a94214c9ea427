package server

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// unreadSocket reports whether the connection behind rc has bytes the
// kernel received and nobody has read yet (SIOCINQ). An error reads as
// none.
func unreadSocket(rc syscall.RawConn) bool {
	n := 0
	rc.Control(func(fd uintptr) {
		n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ)
	})
	return n > 0
}
