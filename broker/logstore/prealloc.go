package logstore

// Preallocation. A record appended to a file changes the file's size, and
// on ext4 the sync of an append then waits for a journal commit as well
// as for the data: about twice the sync of the same bytes written over
// blocks the file already has. So with fsync always or interval=D, the
// segment being written keeps its next few MiB written with zeros and
// synced ahead of its records (Options.Prealloc), by a goroutine of its own;
// a record is written at its offset into them, and its sync (fdatasync)
// writes the data alone. Once per step a sync carries the metadata.
//
// Zeros are never a record (a record's length is never 0), so replay
// reads a run of zeros to the end of the last segment as the end of the
// log (replay.go); a torn write into them is a torn tail, cut as before,
// and zeros followed by a good record are corruption, as before. A
// segment's zero tail is cut, and the cut synced, before the next segment
// is begun, and when the store closes: only the last segment ever has
// one, and it is at most twice Options.Prealloc: the room is refilled
// when less than Prealloc is left, to twice that.

import "bytes"

// zeroBlock is written, repeatedly, to preallocate.
var zeroBlock = make([]byte, 1<<20)

// zeros reports whether b is all zeros: preallocated room, never a record
// (whose length is never 0).
func zeros(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroBlock))
		if !bytes.Equal(b[:n], zeroBlock[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// preallocating reports whether the log preallocates: not with fsync
// never, where nothing waits for a sync.
func (s *Store) preallocating() bool { return s.opts.Prealloc > 0 && s.opts.Fsync.Interval >= 0 }

// wantPrealloc asks the preallocator for more room when the current
// segment has less than a step of it left. s.wmu held.
func (s *Store) wantPrealloc() {
	if !s.preallocating() || s.filling || s.physEnd-s.fileSize >= s.opts.Prealloc || s.physEnd >= s.opts.SegmentSize {
		return
	}
	s.filling = true
	select {
	case s.fillC <- struct{}{}:
	default:
	}
}

// preallocator preallocates the segment being written whenever asked.
func (s *Store) preallocator() {
	defer s.bg.Done()
	for {
		select {
		case <-s.stop:
			return
		case <-s.fillC:
		}
		s.prealloc()
	}
}

// prealloc writes zeros after the end of the current segment, up to two
// steps past its records (never past the segment size), then syncs them
// as a sync round of the log: a sync's error fails the records it covers
// like any other, instead of being swallowed here. Zeros are written
// under s.wmu, always after everything in the file, so no record is ever
// overwritten by them; a failed zero write is cut off again and
// forgotten: the records then extend the file, as without preallocation.
func (s *Store) prealloc() {
	s.wmu.Lock()
	s.filling = false
	from, to := s.physEnd, min(s.fileSize+2*s.opts.Prealloc, s.opts.SegmentSize)
	if s.broken != nil || from >= to {
		s.wmu.Unlock()
		return
	}
	for at := from; at < to; {
		n := min(int64(len(zeroBlock)), to-at)
		if _, err := s.f.WriteAt(zeroBlock[:n], at); err != nil {
			s.f.Truncate(from)
			s.wmu.Unlock()
			return
		}
		at += n
	}
	s.physEnd = to
	s.wmu.Unlock()
	s.smu.Lock()
	s.syncLocked()
	s.smu.Unlock()
}
