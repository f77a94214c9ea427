package logstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"msw/broker"
)

// Replay. Opening the log reads the newest snapshot, then every segment
// after it, in order, applying each record to the index. What it does on
// a record that does not read:
//
//   - at the tail of the last file, with no good record after it (a write
//     cut short by a crash): the file is cut there and the cut logged;
//   - zeros from a record's place to the end of the last segment: the
//     log ends there (the segment's preallocated room, prealloc.go), and
//     the zeros are kept for the records to come;
//   - anywhere else, records written after it were acknowledged: opening
//     fails naming the file and offset, unless Options.Repair, which logs
//     what it drops, cuts the file there and removes the files after it.

// CorruptError is a log that cannot be read past a bad record.
type CorruptError struct {
	File   string
	Offset int64
	Reason string
	// Drops says what a repair would drop.
	Drops string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s: corrupt record at offset %d (%s), with acknowledged records after it; --repair cuts the log there, dropping %s",
		e.File, e.Offset, e.Reason, e.Drops)
}

// logFile is a file found in the directory.
type logFile struct {
	id   uint64
	name string
}

// listFiles finds the log's files, in replay order, removing leftovers:
// unfinished snapshots, and files an interrupted compaction left behind.
func (s *Store) listFiles() ([]logFile, error) {
	names, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var files []logFile
	for _, name := range names {
		if strings.HasSuffix(name, ".tmp") {
			s.fs.Remove(s.path0(name))
			continue
		}
		base, ext, ok := strings.Cut(name, ".")
		if !ok || len(base) != 16 || (ext != "log" && ext != "snap") {
			continue
		}
		n, err := strconv.ParseUint(base, 10, 62)
		if err != nil {
			continue
		}
		id := segID(n)
		if ext == "snap" {
			id = snapID(n)
		}
		files = append(files, logFile{id: id, name: name})
	}
	slices.SortFunc(files, func(a, b logFile) int { return cmpU(a.id, b.id) })
	last := -1
	for i, f := range files {
		if isSnap(f.id) {
			last = i
		}
	}
	if last > 0 {
		// The newest snapshot holds everything before it.
		for _, f := range files[:last] {
			if err := s.fs.Remove(s.path(f.id)); err != nil {
				return nil, err
			}
		}
		files = files[last:]
		if err := s.fs.SyncDir(s.dir); err != nil {
			return nil, err
		}
	}
	return files, nil
}

func (s *Store) path0(name string) string { return s.dir + string(os.PathSeparator) + name }

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// replay reads the log into the index and opens the last segment for
// appending (making one if there is none).
func (s *Store) replay() error {
	files, err := s.listFiles()
	if err != nil {
		return err
	}
	var w window
	defer w.close()
	for i, f := range files {
		lastFile := i == len(files)-1
		if err := w.open(s.fs, s.path(f.id)); err != nil {
			return err
		}
		good, size, bad, err := s.replayFile(f.id, &w, lastFile)
		w.close()
		if err != nil {
			return err
		}
		s.physEnd = size
		if bad == "" {
			// A zero tail is room, not log.
			s.sizes[f.id] = good
			s.logBytes.Add(good)
			continue
		}
		// What follows the bad record decides what it is: read it all.
		data, err := s.readFile(f.id, nil)
		if err != nil {
			return err
		}
		s.physEnd = int64(len(data))
		s.sizes[f.id] = int64(len(data))
		s.logBytes.Add(int64(len(data)))
		if lastFile && !isSnap(f.id) && !anyGoodAfter(data, good) {
			s.opts.Logf("%s: cut %d bytes of a torn write at offset %d (%s)", s.path(f.id), int64(len(data))-good, good, bad)
			if err := s.truncate(f.id, good); err != nil {
				return err
			}
			s.physEnd = good
			break
		}
		drops := describeDrops(int64(len(data))-good, files[i+1:])
		if !s.opts.Repair {
			return &CorruptError{File: s.path(f.id), Offset: good, Reason: bad, Drops: drops}
		}
		s.opts.Logf("repair: %s: corrupt record at offset %d (%s): dropping %s", s.path(f.id), good, bad, drops)
		if err := s.truncate(f.id, good); err != nil {
			return err
		}
		s.physEnd = good
		for _, g := range files[i+1:] {
			if err := s.fs.Remove(s.path(g.id)); err != nil {
				return err
			}
			s.setSize(g.id, 0)
			delete(s.sizes, g.id)
		}
		files = files[:i+1]
		if err := s.fs.SyncDir(s.dir); err != nil {
			return err
		}
		break
	}
	s.recovered = s.recoveredQueues()
	return s.openTail(files)
}

// readFile reads file id whole into buf's memory, grown if need be: what
// replay does with a file past a bad record.
func (s *Store) readFile(id uint64, buf []byte) ([]byte, error) {
	f, err := s.fs.OpenFile(s.path(id), os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, ok := f.(interface{ Stat() (os.FileInfo, error) }); ok {
		if fi, err := st.Stat(); err == nil && fi.Size() < maxBody {
			buf = slices.Grow(buf[:0], int(fi.Size())+1)
		}
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, max(1<<20, len(buf)))
		}
		n, err := f.ReadAt(buf[len(buf):cap(buf)], int64(len(buf)))
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// replayFile applies the records of the file w reads; it returns the
// offset up to which the file read well, the file's size and, if it did
// not read well to the end, why (the size is then unknown). The last
// file's zero tail ends it well. Nothing the index keeps points into w's
// buffer.
func (s *Store) replayFile(id uint64, w *window, last bool) (good, size int64, bad string, err error) {
	magic := segmentMagic
	if isSnap(id) {
		magic = snapshotMagic
	}
	data, err := w.at(0, magicLen)
	if err != nil {
		return 0, 0, "", err
	}
	if len(data) < magicLen {
		if string(data) == magic[:len(data)] {
			return 0, 0, "file cut short in its header", nil
		}
		return 0, 0, "not a log file", nil
	}
	if string(data[:magicLen]) != magic {
		return 0, 0, "not a log file", nil
	}
	off := int64(magicLen)
	ended := false
	var rd recordDecoder
	for {
		b, err := w.at(off, frameHeader)
		if err != nil {
			return 0, 0, "", err
		}
		if len(b) == 0 {
			break
		}
		if last && !isSnap(id) && len(b) >= frameHeader && zeros(b[:frameHeader]) {
			zeros, end, err := w.zerosFrom(off)
			if err != nil {
				return 0, 0, "", err
			}
			if zeros {
				return off, end, "", nil
			}
		}
		if len(b) >= frameHeader {
			if n := binary.LittleEndian.Uint32(b); n <= maxBody && len(b) < frameHeader+int(n) {
				if b, err = w.at(off, frameHeader+int(n)); err != nil {
					return 0, 0, "", err
				}
			}
		}
		fr, err := readFrame(b)
		if err != nil {
			return off, 0, err.Error(), nil
		}
		r, err := rd.decode(fr.body)
		if err != nil || ended {
			return off, 0, errBadRecord.Error(), nil
		}
		if r.kind == kindEnd {
			ended = true
		} else {
			s.idx.apply(r, loc{file: id, off: off, size: uint32(fr.size)}, true)
		}
		off += int64(fr.size)
	}
	if isSnap(id) && !ended {
		return off, 0, "snapshot has no end", nil
	}
	return off, off, "", nil
}

// anyGoodAfter reports whether a good record starts anywhere after the
// bad one at off: if so the bad bytes are not a torn tail. (A record
// starts before the file's trailing zeros, if any: its length is not 0.)
func anyGoodAfter(data []byte, off int64) bool {
	end := int64(len(bytes.TrimRight(data, "\x00")))
	for p := off + 1; p < end && p+frameHeader < int64(len(data)); p++ {
		if fr, err := readFrame(data[p:]); err == nil {
			if _, err := decodeRecord(fr.body); err == nil {
				return true
			}
		}
	}
	return false
}

func describeDrops(bytes int64, later []logFile) string {
	d := fmt.Sprintf("%d bytes", bytes)
	if len(later) > 0 {
		names := make([]string, len(later))
		for i, f := range later {
			names[i] = f.name
		}
		d += " and the files after it (" + strings.Join(names, ", ") + ")"
	}
	return d
}

// truncate cuts file id to size and syncs it.
func (s *Store) truncate(id uint64, size int64) error {
	f, err := s.fs.OpenFile(s.path(id), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	s.setSize(id, size)
	return f.Sync()
}

// openTail opens the last segment for appending; after a snapshot, or
// in an empty directory, or if the last segment lost even its header, it
// begins a new one.
func (s *Store) openTail(files []logFile) error {
	n := uint64(1)
	if len(files) > 0 {
		last := files[len(files)-1]
		n = last.id >> 1
		if !isSnap(last.id) && s.sizes[last.id] >= magicLen {
			f, err := s.fs.OpenFile(s.path(last.id), os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			s.f, s.fileID, s.fileSize = f, last.id, s.sizes[last.id]
			s.curFile, s.curOff = s.fileID, s.fileSize
			return nil
		}
		if !isSnap(last.id) {
			// Cut to nothing: begin it again.
			delete(s.sizes, last.id)
		} else {
			n++
		}
	}
	id := segID(n)
	f, err := s.createFile(id, segmentMagic)
	if err != nil {
		return err
	}
	s.f, s.fileID, s.fileSize, s.physEnd = f, id, magicLen, magicLen
	s.setSize(id, magicLen)
	s.curFile, s.curOff = s.fileID, s.fileSize
	return nil
}

// recoveredQueues renders the index as the broker's starting state and
// lets go of the decoded messages.
func (s *Store) recoveredQueues() []broker.RecoveredQueue {
	var out []broker.RecoveredQueue
	arena := s.idx.kept // the messages' Each reads it; the index lets it go
	s.idx.kept = keptArena{}
	for name, q := range s.idx.queues {
		rq := broker.RecoveredQueue{Name: name, NextID: q.nextID, Meta: q.meta}
		if q.kept != nil { // every live message was decoded
			rq.Messages = q.kept.recovered(q, &arena)
			q.kept = nil
		}
		out = append(out, rq)
	}
	slices.SortFunc(out, func(a, b broker.RecoveredQueue) int { return strings.Compare(a.Name, b.Name) })
	return out
}
