package recv

import (
	"context"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// pipeGauge watches the pipe msw-recv writes to. On Linux the writer of
// a pipe can ask how many of the bytes in it are still unread
// (FIONREAD, which Linux also names TIOCINQ), so msw-recv knows which of the messages it wrote its
// reader has taken out of the pipe, and acknowledges only those.
type pipeGauge struct {
	fd int
}

// newPipeGauge returns a gauge of w when w is a pipe, else nil: files,
// terminals and sockets take their bytes as they are written.
func newPipeGauge(w io.Writer) *pipeGauge {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return nil
	}
	g := &pipeGauge{fd: int(f.Fd())}
	if _, err := g.unread(); err != nil {
		return nil
	}
	return g
}

// unread returns how many bytes in the pipe its reader has not taken.
func (g *pipeGauge) unread() (int64, error) {
	n, err := unix.IoctlGetInt(g.fd, unix.TIOCINQ)
	return int64(n), err
}

// waitEmpty waits until the reader has taken every byte in the pipe, or
// has closed it (gone is then true), or ctx ends. It asks the pipe at
// growing intervals: nothing tells a writer that its reader read.
func (g *pipeGauge) waitEmpty(ctx context.Context) (gone bool, err error) {
	fds := []unix.PollFd{{Fd: int32(g.fd)}}
	pause := 2 * time.Microsecond
	for {
		n, err := g.unread()
		if err != nil || n == 0 {
			return false, err
		}
		if err := ctx.Err(); err != nil {
			return false, err
		}
		// Polling for no event still reports POLLERR: the pipe has no
		// reader any more.
		ts := unix.NsecToTimespec(pause.Nanoseconds())
		if _, err := unix.Ppoll(fds, &ts, nil); err != nil && err != unix.EINTR {
			return false, err
		}
		if fds[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
			return true, nil
		}
		pause = min(2*pause, 20*time.Millisecond)
	}
}
