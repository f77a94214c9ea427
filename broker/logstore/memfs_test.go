package logstore

import (
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// memFS is an in-memory FS that plays power loss: it remembers, for every
// file, what was last synced, and for the directory, which entries were
// last synced. Its crash image keeps only that, plus a random prefix of
// each file's unsynced bytes, from the first byte that differs from what
// was synced (a write torn at a random byte: appended, or written into a
// file's preallocated zeros). It can
// crash after a given number of operations, failing every operation from
// then on, and it can run out of space.
type memFS struct {
	mu      sync.Mutex
	files   map[string]*memFile // the directory as it is
	durable map[string]*memFile // the directory as last synced
	rng     *rand.Rand

	ops     int
	crashAt int    // crash at this operation; 0: never
	image   *memFS // taken at the crash
	limit   int64  // bytes all files may hold; 0: no limit
	// overwrites counts writes into bytes a file already held (records
	// written into preallocated zeros).
	overwrites int
}

type memFile struct {
	data   []byte
	synced []byte
}

var errCrashed = errors.New("crashed")

func newMemFS(seed uint64) *memFS {
	return &memFS{files: map[string]*memFile{}, durable: map[string]*memFile{}, rng: rand.New(rand.NewPCG(seed, 1))}
}

// op counts an operation; it fails once the crash has happened. m.mu held.
func (m *memFS) op() error {
	if m.image != nil {
		return errCrashed
	}
	m.ops++
	if m.crashAt > 0 && m.ops >= m.crashAt {
		m.image = m.crashImage()
		return errCrashed
	}
	return nil
}

// crash takes the crash image now, if not taken yet, and returns it.
func (m *memFS) crash() *memFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.image == nil {
		m.image = m.crashImage()
	}
	return m.image
}

// crashImage is what a power loss now would leave. m.mu held.
func (m *memFS) crashImage() *memFS {
	img := newMemFS(m.rng.Uint64())
	for name, f := range m.durable {
		data := slices.Clone(f.synced)
		d := 0 // the first unsynced byte
		for d < len(f.data) && d < len(f.synced) && f.data[d] == f.synced[d] {
			d++
		}
		if d < len(f.data) {
			k := m.rng.IntN(len(f.data) - d + 1)
			if d+k > len(data) {
				data = append(data, make([]byte, d+k-len(data))...)
			}
			copy(data[d:], f.data[d:d+k])
		}
		nf := &memFile{data: data, synced: slices.Clone(data)}
		img.files[name] = nf
		img.durable[name] = nf
	}
	return img
}

func (m *memFS) used() int64 {
	var n int64
	for _, f := range m.files {
		n += int64(len(f.data))
	}
	return n
}

func (m *memFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.op(); err != nil {
		return nil, err
	}
	f := m.files[name]
	if f == nil {
		if flag&os.O_CREATE == 0 {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		f = &memFile{}
		m.files[name] = f
	}
	if flag&os.O_TRUNC != 0 {
		f.data = nil
	}
	return &memHandle{fs: m, f: f, name: name}, nil
}

func (m *memFS) ReadDir(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.op(); err != nil {
		return nil, err
	}
	var names []string
	for name := range m.files {
		if rest, ok := strings.CutPrefix(name, dir+"/"); ok && !strings.Contains(rest, "/") {
			names = append(names, rest)
		}
	}
	slices.Sort(names)
	return names, nil
}

func (m *memFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.op(); err != nil {
		return err
	}
	if m.files[name] == nil {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(m.files, name)
	return nil
}

func (m *memFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.op(); err != nil {
		return err
	}
	f := m.files[oldname]
	if f == nil {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrNotExist}
	}
	delete(m.files, oldname)
	m.files[newname] = f
	return nil
}

func (m *memFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.op(); err != nil {
		return err
	}
	m.durable = map[string]*memFile{}
	for name, f := range m.files {
		m.durable[name] = f
	}
	return nil
}

func (m *memFS) MkdirAll(string) error { return nil }

// memHandle is an open memFile.
type memHandle struct {
	fs     *memFS
	f      *memFile
	name   string
	closed bool
}

func (h *memHandle) Write(p []byte) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.fs.op(); err != nil {
		return 0, err
	}
	if h.fs.limit > 0 {
		room := h.fs.limit - h.fs.used()
		if int64(len(p)) > room {
			n := int(max(room, 0))
			h.f.data = append(h.f.data, p[:n]...)
			return n, &fs.PathError{Op: "write", Path: h.name, Err: syscall.ENOSPC}
		}
	}
	h.f.data = append(h.f.data, p...)
	return len(p), nil
}

func (h *memHandle) WriteAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.fs.op(); err != nil {
		return 0, err
	}
	if off < int64(len(h.f.data)) {
		h.fs.overwrites++
	}
	grow := off + int64(len(p)) - int64(len(h.f.data))
	if h.fs.limit > 0 && grow > 0 {
		if room := h.fs.limit - h.fs.used(); grow > room {
			n := int(max(int64(len(h.f.data))+max(room, 0)-off, 0))
			h.write(p[:n], off)
			return n, &fs.PathError{Op: "write", Path: h.name, Err: syscall.ENOSPC}
		}
	}
	h.write(p, off)
	return len(p), nil
}

// write puts p at off, growing the file (with zeros, if off is past its
// end). h.fs.mu held.
func (h *memHandle) write(p []byte, off int64) {
	if end := off + int64(len(p)); end > int64(len(h.f.data)) {
		h.f.data = append(h.f.data, make([]byte, end-int64(len(h.f.data)))...)
	}
	copy(h.f.data[off:], p)
}

func (h *memHandle) ReadAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.fs.op(); err != nil {
		return 0, err
	}
	if off >= int64(len(h.f.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *memHandle) Sync() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.fs.op(); err != nil {
		return err
	}
	h.f.synced = slices.Clone(h.f.data)
	return nil
}

func (h *memHandle) Truncate(size int64) error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.fs.op(); err != nil {
		return err
	}
	if size < int64(len(h.f.data)) {
		h.f.data = h.f.data[:size:size]
	}
	return nil
}

func (h *memHandle) Close() error { return nil }

// clone returns a copy of the file system as it is, everything synced.
func (m *memFS) clone() *memFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := newMemFS(m.rng.Uint64())
	for name, f := range m.files {
		nf := &memFile{data: slices.Clone(f.data), synced: slices.Clone(f.data)}
		c.files[name] = nf
		c.durable[name] = nf
	}
	return c
}

// set replaces a file's content, synced.
func (m *memFS) set(name string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := &memFile{data: slices.Clone(data), synced: slices.Clone(data)}
	m.files[name] = f
	m.durable[name] = f
}

// get returns a file's content.
func (m *memFS) get(name string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f := m.files[name]; f != nil {
		return slices.Clone(f.data)
	}
	return nil
}
