//go:build !linux

package execrun

import "syscall"

// procAttr sets what every program run gets: a process group of its own,
// killed as one on timeout or when msw-serve gives up the request.
func procAttr(a *syscall.SysProcAttr) *syscall.SysProcAttr {
	a.Setpgid = true
	return a
}
