package logstore

import (
	"os"
	"syscall"
)

// datasync syncs f's data and the metadata needed to read it back
// (fdatasync(2)): not its times, whose journaling costs an append's sync
// a second write for nothing the log reads.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}
