package logstore

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"msw/broker"
)

// Compaction: snapshot and truncate. When the log has grown past twice
// the live data (and past Options.CompactMin), the store seals the
// current segment n, writes everything live as of that moment into a
// snapshot file n.snap (each queue with its next id and properties, and
// its live messages with their delivery counts), syncs it, and removes
// segment n and everything before it. Appends go on meanwhile into
// segment n+1; only the seal holds them up. Disk use after a compaction
// is the live data plus what was appended since.

// needsCompaction reports whether the log is worth compacting.
func (s *Store) needsCompaction() bool {
	lb := s.logBytes.Load()
	s.mu.Lock()
	live := s.idx.liveBytes
	s.mu.Unlock()
	return lb > s.opts.CompactMin && lb > 2*live
}

// snapEntry is a live message to carry into a snapshot.
type snapEntry struct {
	queue      string
	id         uint64
	at         loc
	deliveries uint32
}

// Compact writes a snapshot of the live state and removes the files it
// replaces. It is safe to call at any time; calls wait for each other.
func (s *Store) Compact() error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.wmu.Lock()
	s.mu.Lock()
	n := s.curFile >> 1
	s.curFile, s.curOff = segID(n+1), magicLen
	queues, entries := s.idx.copyLive()
	s.mu.Unlock()
	s.writeLocked()
	var err error
	if s.fileID != segID(n+1) {
		if s.fileID != segID(n) {
			err = fmt.Errorf("log write failed before the snapshot")
		} else {
			err = s.rotate(segID(n + 1))
		}
	}
	s.wmu.Unlock()
	if err != nil {
		return err
	}
	moved, err := s.writeSnapshot(n, queues, entries)
	if err != nil {
		s.fs.Remove(s.path(snapID(n)) + ".tmp")
		return err
	}
	s.mu.Lock()
	for _, m := range moved {
		if q := s.idx.queues[m.queue]; q != nil {
			if e, ok := q.msgs.get(m.id); ok && e.at.file <= segID(n) {
				e.at = m.at
			}
		}
	}
	s.mu.Unlock()
	s.rmu.Lock()
	s.reader.forget(func(id uint64) bool { return id < snapID(n) })
	s.rmu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for id := range s.sizes {
		if id < snapID(n) {
			if err := s.fs.Remove(s.path(id)); err != nil && !os.IsNotExist(err) {
				return err
			}
			s.setSize(id, 0)
			delete(s.sizes, id)
		}
	}
	return s.fs.SyncDir(s.dir)
}

// snapQueue is a queue as a snapshot records it.
type snapQueue struct {
	name   string
	nextID uint64
	meta   map[string][]byte
	gone   bool // the id floor's destroyed queue, not a live one
}

// copyLive copies what a snapshot needs of the index. s.mu held. The
// entries' slice is made at its size: grown by append, copying it again
// at each growth was a third of a compaction's CPU.
func (x *index) copyLive() ([]snapQueue, []snapEntry) {
	qs := make([]snapQueue, 0, len(x.queues)+1)
	if x.floor > 0 {
		// First, as a destroy carrying the floor: replay drops nothing
		// with it and keeps the floor.
		qs = append(qs, snapQueue{name: x.floorName, nextID: x.floor, gone: true})
	}
	floors := len(qs)
	live := 0
	for _, q := range x.queues {
		live += q.msgs.len()
	}
	es := make([]snapEntry, 0, live)
	for name, q := range x.queues {
		qs = append(qs, snapQueue{name: name, nextID: q.nextID, meta: maps.Clone(q.meta)})
		q.msgs.each(func(id uint64, e *entry) bool {
			es = append(es, snapEntry{queue: name, id: id, at: e.at, deliveries: e.deliveries})
			return true
		})
	}
	slices.SortFunc(qs[floors:], func(a, b snapQueue) int { return strings.Compare(a.name, b.name) })
	slices.SortFunc(es, func(a, b snapEntry) int {
		if c := strings.Compare(a.queue, b.queue); c != 0 {
			return c
		}
		if c := cmpU(a.at.file, b.at.file); c != 0 {
			return c
		}
		if a.at.off != b.at.off {
			return int(a.at.off - b.at.off)
		}
		return int(a.at.idx) - int(b.at.idx)
	})
	return qs, es
}

// snapshotGroup is the payload bytes after which a snapshot begins a new
// message record.
const snapshotGroup = 1 << 20

// writeSnapshot writes the snapshot of everything up to segment n and
// returns where each message now lies in it.
func (s *Store) writeSnapshot(n uint64, queues []snapQueue, entries []snapEntry) ([]snapEntry, error) {
	id := snapID(n)
	tmp := s.path(id) + ".tmp"
	f, err := s.fs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	w := snapWriter{f: f, off: magicLen, id: id}
	if _, err := f.Write([]byte(snapshotMagic)); err != nil {
		return nil, err
	}
	for _, q := range queues {
		if q.gone {
			w.record(kindDestroy, q.name, func(e *encoder) { e.uvarint(q.nextID) })
			continue
		}
		w.record(kindCreate, q.name, func(e *encoder) { e.uvarint(q.nextID) })
		for k, v := range q.meta {
			w.record(kindMeta, q.name, func(e *encoder) { encodeMeta(e, k, v) })
		}
	}
	r := frameReader{s: s, files: map[uint64]File{}}
	defer r.close()
	moved := make([]snapEntry, 0, len(entries))
	var group []broker.StoredMessage // reused: a record is written before the next is read
	var frame []byte                 // the same, for a record carried whole
	decodeRun := -1                  // the start of a run found not whole, to decode
	for i := 0; i < len(entries) && w.err == nil; {
		q := entries[i].queue
		if j := wholeRun(entries, i); j > i && i != decodeRun {
			// A record whose messages are all live and never delivered
			// is what the snapshot would write for them: it is carried
			// as it is, its checksum verified, without decoding it.
			var whole bool
			var err error
			if frame, whole, err = r.whole(frame, entries[i].at, q, j-i); err != nil {
				return nil, err
			}
			if whole {
				at := w.raw(frame)
				for k := i; k < j; k++ {
					en := entries[k]
					en.at = at
					en.at.idx = uint32(k - i)
					moved = append(moved, en)
				}
				i = j
				continue
			}
			decodeRun = i
		}
		// One record per queue and group.
		group = group[:0]
		first := len(moved)
		size := 0
		for start := i; i < len(entries) && entries[i].queue == q && size < snapshotGroup; i++ {
			if i > start && i != decodeRun && wholeRun(entries, i) > i {
				break // it may be carried whole
			}
			en := entries[i]
			m, err := r.message(en.at)
			if err != nil {
				return nil, err
			}
			m.Deliveries = en.deliveries
			group = append(group, m)
			moved = append(moved, en)
			size += len(m.Payload)
		}
		kind := messagesKind(group)
		at := w.record(kind, q, func(e *encoder) { e.messages(kind, group) })
		for k := range moved[first:] {
			moved[first+k].at = at
			moved[first+k].at.idx = uint32(k)
		}
	}
	clear(group)
	w.record(kindEnd, "", nil)
	if w.err != nil {
		return nil, w.err
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	if err := s.fs.Rename(tmp, s.path(id)); err != nil {
		return nil, err
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		return nil, err
	}
	s.wmu.Lock()
	s.setSize(id, w.off)
	s.wmu.Unlock()
	return moved, nil
}

// wholeRun returns the end of the run of entries from i that are the
// messages of one record, from its first, none ever delivered: a record
// that may be carried into a snapshot whole (frameReader.whole tells). It
// returns i if entries[i] starts no such run.
func wholeRun(entries []snapEntry, i int) int {
	at := entries[i].at
	if at.idx != 0 {
		return i
	}
	j := i
	for ; j < len(entries); j++ {
		en := &entries[j]
		if en.queue != entries[i].queue || en.at.file != at.file || en.at.off != at.off ||
			en.at.idx != uint32(j-i) || en.deliveries != 0 {
			break
		}
	}
	return j
}

// snapWriter appends records to a snapshot file.
type snapWriter struct {
	f   File
	id  uint64
	off int64
	err error
	buf []byte // the last record's, reused: each is written before the next
}

func (w *snapWriter) record(kind byte, queue string, fill func(e *encoder)) loc {
	e := encoder{b: w.buf[:0]}
	e.frame(kind, queue, fill)
	w.buf = e.b
	at := loc{file: w.id, off: w.off, size: uint32(len(e.b))}
	if w.err == nil {
		_, w.err = w.f.Write(e.b)
	}
	w.off += int64(len(e.b))
	return at
}

// raw appends a whole frame as it is.
func (w *snapWriter) raw(frame []byte) loc {
	at := loc{file: w.id, off: w.off, size: uint32(len(frame))}
	if w.err == nil {
		_, w.err = w.f.Write(frame)
	}
	w.off += int64(len(frame))
	return at
}

// frameReader reads message records back from the log's files, keeping
// the last frame read.
type frameReader struct {
	s     *Store
	files map[uint64]File
	last  loc
	msgs  []broker.StoredMessage
}

// read reads the frame at at into buf, grown to its size.
func (r *frameReader) read(buf []byte, at loc) ([]byte, error) {
	f := r.files[at.file]
	if f == nil {
		var err error
		if f, err = r.s.fs.OpenFile(r.s.path(at.file), os.O_RDONLY, 0); err != nil {
			return buf, err
		}
		r.files[at.file] = f
	}
	buf = slices.Grow(buf[:0], int(at.size))[:at.size]
	if _, err := f.ReadAt(buf, at.off); err != nil {
		return buf, fmt.Errorf("%s at offset %d: %w", r.s.path(at.file), at.off, err)
	}
	return buf, nil
}

// whole reads the frame at at into buf and reports whether it is a
// message record of queue holding n messages, its checksum verified: the
// frame, read, is in the buffer returned.
func (r *frameReader) whole(buf []byte, at loc, queue string, n int) ([]byte, bool, error) {
	buf, err := r.read(buf, at)
	if err != nil {
		return buf, false, err
	}
	fr, err := readFrame(buf)
	if err != nil {
		return buf, false, fmt.Errorf("%s: record at offset %d no longer reads: %v", r.s.path(at.file), at.off, err)
	}
	d := decoder{b: fr.body}
	kind := d.byte()
	q := d.bytes()
	count := d.uvarint()
	whole := d.err == nil && (kind == kindMessages || kind == kindPublished) &&
		string(q) == queue && count == uint64(n) && fr.size == len(buf)
	return buf, whole, nil
}

// message returns the message at at, its checksum verified.
func (r *frameReader) message(at loc) (broker.StoredMessage, error) {
	if r.msgs == nil || r.last.file != at.file || r.last.off != at.off {
		buf, err := r.read(nil, at)
		if err != nil {
			return broker.StoredMessage{}, err
		}
		fr, err := readFrame(buf)
		var rec record
		if err == nil {
			rec, err = decodeRecord(fr.body)
		}
		if err != nil || rec.kind != kindMessages {
			return broker.StoredMessage{}, fmt.Errorf("%s: record at offset %d no longer reads: %v", r.s.path(at.file), at.off, err)
		}
		r.last, r.msgs = at, rec.msgs
	}
	if int(at.idx) >= len(r.msgs) {
		return broker.StoredMessage{}, fmt.Errorf("%s: record at offset %d has no message %d", r.s.path(at.file), at.off, at.idx)
	}
	return r.msgs[at.idx], nil
}

// forget closes the files of the ids drop says and lets go of the frame
// kept.
func (r *frameReader) forget(drop func(id uint64) bool) {
	for id, f := range r.files {
		if drop(id) {
			f.Close()
			delete(r.files, id)
		}
	}
	r.msgs = nil
}

func (r *frameReader) close() {
	for _, f := range r.files {
		f.Close()
	}
}
