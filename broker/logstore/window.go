package logstore

import (
	"io"
	"os"
)

// window reads a file forward through one buffer that replay reuses for
// every file: the bytes from start, up to the buffer's end or the file's.
//
// Replay first read each file whole into one buffer, grown to the
// largest segment (64 MiB): memory the kernel had to fault in, page by
// page, for a start on a large log. A window of replayWindow is faulted
// in once; a record larger than it grows it.
type window struct {
	f     File
	buf   []byte
	start int64 // file offset of buf[0]
	eof   bool  // buf ends where the file does
}

// replayWindow is a window's usual size.
const replayWindow = 1 << 20

// open begins reading file name from its start, keeping w's buffer.
func (w *window) open(fs FS, name string) error {
	f, err := fs.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	w.f, w.buf, w.start, w.eof = f, w.buf[:0], 0, false
	return nil
}

func (w *window) close() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}

// at returns the file's bytes from off on, at least n of them unless the
// file ends first (then all that is left). off is not before the offset
// of the last call. The buffer grows at most twofold a read, so that a
// corrupt record's length never makes it much larger than the file.
func (w *window) at(off int64, n int) ([]byte, error) {
	for {
		end := w.start + int64(len(w.buf))
		if off >= w.start && (off+int64(n) <= end || w.eof) {
			return w.buf[min(off, end)-w.start:], nil
		}
		// Keep the bytes from off, and read on after them.
		keep := 0
		if off < end {
			keep = copy(w.buf[:cap(w.buf)], w.buf[off-w.start:])
		}
		if c := cap(w.buf); c < n || c < replayWindow {
			nb := make([]byte, max(replayWindow, min(n, 2*c)))
			copy(nb, w.buf[:keep])
			w.buf = nb
		}
		w.buf, w.start = w.buf[:cap(w.buf)], off
		got, err := w.f.ReadAt(w.buf[keep:], off+int64(keep))
		w.buf = w.buf[:keep+got]
		if err == io.EOF || (err == nil && got == 0) {
			w.eof, err = true, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// zerosFrom reports whether the file is zeros from off to its end, and
// where it ends.
func (w *window) zerosFrom(off int64) (bool, int64, error) {
	for {
		b, err := w.at(off, replayWindow)
		if err != nil {
			return false, 0, err
		}
		if len(b) == 0 {
			return true, off, nil
		}
		if !zeros(b) {
			return false, 0, nil
		}
		off += int64(len(b))
	}
}
