//go:build !linux

package logstore

import "os"

// datasync syncs f (fsync: fdatasync is Linux's).
func datasync(f *os.File) error { return f.Sync() }
