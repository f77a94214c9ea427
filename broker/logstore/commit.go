package logstore

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"msw/broker"
)

// Group commit. Appends only add a record to a buffer, under mu, and
// return its commit position. Writing and syncing are rounds (round,
// below): the first caller to find its record not done leads one for
// everything buffered so far, and those arriving meanwhile wait for its
// end, then one of them leads the next:
//
//   - Flush(c): a write round writes every buffered record, its own and
//     everyone's appended before it.
//   - Wait(c), with fsync always: a sync round writes every buffered
//     record and syncs the file, for every waiter at once: one write and
//     one fsync for all the sends that came during the round before.
//
// A failed write or sync cuts the file back to what is known good (the
// last good write, or the last good sync) and fails every record after
// it, including those buffered meanwhile (they were placed after the
// failed bytes); their waiters get the error, the index forgets them,
// and the next append starts over at the cut. Nothing after a failure is
// acknowledged, and once the disk takes writes again, so does the store.

// Flush blocks until the record of c is written to the operating system:
// it then survives the switch's crash, though not a power loss.
func (s *Store) Flush(c broker.Commit) error {
	s.group(&s.writeRound, &s.writtenA, c, func() {
		s.wmu.Lock()
		s.writeLocked()
		s.wmu.Unlock()
	})
	return s.result(c)
}

// Wait blocks until the record of c is as durable as the fsync mode
// promises: synced with fsync always, written otherwise.
//
// With fsync always, the leader of a sync round writes everything
// buffered and syncs it: those who come meanwhile wait for the next
// round, so that a round is one write and one fsync for all of them.
// (After a failed write it syncs as well, so that the cut is durable
// and the round ends.)
func (s *Store) Wait(c broker.Commit) error {
	if s.opts.Fsync.Interval != 0 {
		return s.Flush(c)
	}
	s.group(&s.syncRound, &s.syncedA, c, func() {
		// Let senders already running append first and share this
		// round, if there are any: if the last round saw records
		// appended besides its leader's. A lone sender goes straight to
		// the disk (a yield cost it ~5 µs a send for nothing).
		if s.company() {
			runtime.Gosched()
		}
		s.Flush(c)
		s.smu.Lock()
		if s.syncedA.Load() < uint64(c) {
			s.syncLocked()
		}
		s.smu.Unlock()
	})
	return s.result(c)
}

// company reports whether more than one record was appended since the
// last sync round began: the leader's own, and others'. Sync round
// leader only.
func (s *Store) company() bool {
	s.mu.Lock()
	n := s.appends
	s.mu.Unlock()
	others := n-s.syncFrom > 1
	s.syncFrom = n
	return others
}

// round is one kind of group step (writing, or syncing) under way: the
// first caller to find its commit not done leads a round, doing the step
// for everything so far; callers arriving meanwhile wait for the round's
// end and are woken together, then one of those still not done leads the
// next. A mutex in its place woke them one at a time, each only to find
// its commit done and pass the lock on: with 64 waiters a chain of 63
// hand-offs between two syncs.
type round struct {
	busy bool
	done chan struct{} // closed when the round under way ends
}

// group does step, or waits for a round doing it, until done reaches c.
func (s *Store) group(r *round, done *atomic.Uint64, c broker.Commit, step func()) {
	for done.Load() < uint64(c) {
		s.gmu.Lock()
		if r.busy {
			ch := r.done
			s.gmu.Unlock()
			<-ch
			continue
		}
		r.busy, r.done = true, make(chan struct{})
		s.gmu.Unlock()
		step()
		s.gmu.Lock()
		r.busy = false
		close(r.done)
		s.gmu.Unlock()
	}
}

// result is the outcome for c, once it is processed.
func (s *Store) result(c broker.Commit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.fails {
		if uint64(c) > f.from && uint64(c) <= f.to {
			return f.err
		}
	}
	return nil
}

// flushAll writes everything buffered and, unless fsync is never, syncs
// it.
func (s *Store) flushAll() {
	s.wmu.Lock()
	s.writeLocked()
	s.wmu.Unlock()
	if s.opts.Fsync.Interval >= 0 && s.syncedA.Load() < s.writtenA.Load() {
		s.smu.Lock()
		s.syncLocked()
		s.smu.Unlock()
	}
}

// writeLocked writes every buffered record. s.wmu held.
func (s *Store) writeLocked() {
	s.mu.Lock()
	chunks := s.chunks
	s.chunks = nil
	s.mu.Unlock()
	var err error
	if s.broken != nil {
		err = s.cut()
	}
	for i, ch := range chunks {
		if err != nil {
			break
		}
		if ch.file != s.fileID {
			if err = s.rotate(ch.file); err != nil {
				break
			}
		}
		if _, err = s.f.WriteAt(ch.data, s.fileSize); err != nil {
			s.broken = err
			if cerr := s.cut(); cerr != nil {
				err = cerr
			}
			break
		}
		s.fileSize += int64(len(ch.data))
		s.physEnd = max(s.physEnd, s.fileSize)
		s.setSize(s.fileID, s.fileSize)
		s.mu.Lock()
		s.written = ch.end
		s.writtenA.Store(ch.end)
		s.giveBack(chunks[i : i+1])
		s.mu.Unlock()
	}
	if err != nil {
		s.fail(err, false)
	} else if len(chunks) > 0 {
		s.failMsg.Store(nil)
		s.wantPrealloc()
	}
}

// syncLocked syncs the current file up to what is written. s.smu held.
func (s *Store) syncLocked() {
	s.wmu.Lock()
	f, id, size, target := s.f, s.fileID, s.fileSize, s.writtenA.Load()
	s.wmu.Unlock()
	err := s.timedSync(f)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err != nil && s.fileID == id {
		// What was written since the last good sync may or may not be
		// on disk: cut it off, and fail it.
		s.fileSize = s.syncedSize
		s.broken = err
		if cerr := s.cut(); cerr != nil {
			err = cerr
		}
		s.fail(err, true)
		return
	}
	// A sync of a file rotated away meanwhile may fail: rotation synced it.
	if s.fileID == id {
		s.syncedSize = max(s.syncedSize, size)
	}
	s.mu.Lock()
	s.synced = max(s.synced, target)
	s.syncedA.Store(s.synced)
	s.mu.Unlock()
}

// fail fails every record not yet written (or, after a failed sync, not
// yet synced) and everything buffered. s.wmu held.
func (s *Store) fail(err error, unsynced bool) {
	err = storageError(err)
	msg := err.Error()
	s.failMsg.Store(&msg)
	s.mu.Lock()
	defer s.mu.Unlock()
	from := s.written
	if unsynced {
		from = s.synced
	}
	s.chunks = nil
	s.fails = append(s.fails, failure{from: from, to: s.end, err: err})
	if len(s.fails) > maxFails {
		s.fails = s.fails[len(s.fails)-maxFails:]
	}
	// Written records before a failed write still need their sync.
	s.written = s.end
	s.writtenA.Store(s.written)
	if unsynced {
		s.synced = s.end
		s.syncedA.Store(s.synced)
	}
	s.idx.forgetFrom(s.fileID, s.fileSize)
	s.curFile, s.curOff = s.fileID, s.fileSize
	s.rmu.Lock()
	s.reader.msgs = nil // new records will take the failed ones' offsets
	s.rmu.Unlock()
}

// cut truncates the current file to its last good size (its zero tail
// too), clearing broken. s.wmu held.
func (s *Store) cut() error {
	if err := s.f.Truncate(s.fileSize); err != nil {
		return err
	}
	s.physEnd = s.fileSize
	s.setSize(s.fileID, s.fileSize)
	s.broken = nil
	return nil
}

func (s *Store) timedSync(f File) error {
	t := time.Now()
	err := f.Sync()
	s.lastSync.Store(int64(time.Since(t)))
	s.syncs.Add(1)
	return err
}

func (s *Store) setSize(id uint64, n int64) {
	s.logBytes.Add(n - s.sizes[id])
	s.sizes[id] = n
}

// rotate syncs the current file, cut to its records, and begins file
// id: made, its magic written and synced, and the directory synced,
// before any record goes in. s.wmu held.
func (s *Store) rotate(id uint64) error {
	if s.physEnd > s.fileSize {
		if err := s.f.Truncate(s.fileSize); err != nil {
			return err
		}
		s.physEnd = s.fileSize
	}
	if err := s.timedSync(s.f); err != nil {
		return err
	}
	f, err := s.createFile(id, segmentMagic)
	if err != nil {
		return err
	}
	s.f.Close()
	s.f, s.fileID, s.fileSize, s.syncedSize, s.physEnd = f, id, magicLen, magicLen, magicLen
	s.setSize(id, magicLen)
	s.mu.Lock()
	s.synced = max(s.synced, s.written)
	s.syncedA.Store(s.synced)
	s.mu.Unlock()
	return nil
}

// createFile makes file id holding only magic, synced with its directory
// entry.
func (s *Store) createFile(id uint64, magic string) (File, error) {
	path := s.path(id)
	f, err := s.fs.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	if _, err = f.Write([]byte(magic)); err == nil {
		if err = f.Sync(); err == nil {
			err = s.fs.SyncDir(s.dir)
		}
	}
	if err != nil {
		f.Close()
		s.fs.Remove(path)
		return nil, err
	}
	return f, nil
}

// storageError wraps a write error as the broker's storage error.
func storageError(err error) error {
	if errors.Is(err, broker.ErrStorageFull) || errors.Is(err, broker.ErrStorage) {
		return err
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG) {
		return fmt.Errorf("%w: %v", broker.ErrStorageFull, err)
	}
	return fmt.Errorf("%w: %v", broker.ErrStorage, err)
}
