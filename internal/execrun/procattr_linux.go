package execrun

import "syscall"

// procAttr sets what every program run gets: a process group of its own
// (killed as one on timeout or when msw-serve gives up the request), and
// SIGKILL when msw-serve dies, even by SIGKILL, so that no program
// outlives the server it answered for.
func procAttr(a *syscall.SysProcAttr) *syscall.SysProcAttr {
	a.Setpgid = true
	a.Pdeathsig = syscall.SIGKILL
	return a
}
