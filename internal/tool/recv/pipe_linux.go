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

const (
	pipeFirstPause = 2 * time.Microsecond
	// pipeMaxPause is the longest waitUnread sleeps between two looks: a
	// reader that was descheduled on a busy machine is found reading
	// again soon after, and looking costs a system call.
	pipeMaxPause = time.Millisecond
)

// waitUnread waits until no more than n bytes in the pipe are unread
// (0: the reader has taken every byte), or the reader has closed it
// (gone is then true), or ctx ends. It asks the pipe at growing
// intervals, up to pipeMaxPause: nothing tells a writer that its reader
// read (POLLOUT reports a pipe that is not full, a few bytes in it are
// far from that).
func (g *pipeGauge) waitUnread(ctx context.Context, n int64) (gone bool, err error) {
	fds := []unix.PollFd{{Fd: int32(g.fd)}}
	pause := pipeFirstPause
	for {
		left, err := g.unread()
		if err != nil || left <= n {
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
		pause = min(2*pause, pipeMaxPause)
	}
}
