package logstore

import (
	"io"
	"os"
	"path/filepath"
	"sort"
)

// FS is the little of a file system the log uses. The switch uses the
// operating system's (OSFS); tests use one that forgets what was never
// synced, to play power loss.
type FS interface {
	// OpenFile opens a file as os.OpenFile does.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// ReadDir returns the names in a directory, sorted.
	ReadDir(dir string) ([]string, error)
	// Remove deletes a file.
	Remove(name string) error
	// Rename renames a file, replacing any file of the new name.
	Rename(oldname, newname string) error
	// SyncDir makes the directory's entries (files made, renamed or
	// removed) durable.
	SyncDir(dir string) error
	// MkdirAll makes a directory and its parents.
	MkdirAll(dir string) error
}

// File is an open log file: written (appended to, or written at an
// offset into space made beforehand), read back, synced, cut.
type File interface {
	io.Writer
	io.WriterAt
	io.ReaderAt
	// Sync makes what was written durable, with the file's size and
	// whatever else reading it back needs (fdatasync(2) on Linux: a
	// change of times alone is not journaled).
	Sync() error
	// Truncate cuts the file to size bytes.
	Truncate(size int64) error
	Close() error
}

// OSFS is the operating system's file system.
type OSFS struct{}

// OpenFile opens a file of the operating system.
func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// osFile is a file of the operating system whose Sync is datasync.
type osFile struct{ *os.File }

// Sync makes the file's data and size durable.
func (f osFile) Sync() error { return datasync(f.File) }

// ReadDir lists a directory's names, sorted.
func (OSFS) ReadDir(dir string) ([]string, error) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.Name()
	}
	sort.Strings(names)
	return names, nil
}

// Remove deletes a file.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// Rename renames a file.
func (OSFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

// SyncDir fsyncs a directory.
func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// MkdirAll makes a directory.
func (OSFS) MkdirAll(dir string) error { return os.MkdirAll(filepath.Clean(dir), 0o755) }
