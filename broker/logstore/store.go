package logstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"msw/broker"
)

// Options configure a Store. Zero fields take the defaults.
type Options struct {
	Fsync Fsync
	// Repair cuts the log at a corrupt record instead of refusing to
	// open, after logging what it drops.
	Repair bool
	// SegmentSize is the size at which a new log file is begun; default
	// 64 MiB.
	SegmentSize int64
	// CompactMin is the log size below which no snapshot is taken;
	// default 64 MiB.
	CompactMin int64
	// Logf reports what replay cut or repaired and failed compactions;
	// default: not reported.
	Logf func(format string, args ...any)
	// FS is the file system; default OSFS, with the directory locked.
	FS FS
}

// Defaults for Options.
const (
	DefaultSegmentSize = 64 << 20
	DefaultCompactMin  = 64 << 20
)

// tick is how often buffered acks and deliveries are written (and, with
// fsync always, synced) when no send does it first.
const tick = 50 * time.Millisecond

// Store is the log store: a directory of segment files of checksummed
// records, with group commit. See doc.go.
type Store struct {
	fs   FS
	dir  string
	opts Options
	lock *os.File

	mu        sync.Mutex // appends; guards the fields up to wmu
	idx       *index
	chunks    []chunk // appended, not yet written
	curFile   uint64  // file id appends go to
	curOff    int64   // where the next appended byte lands in it
	end       uint64  // commit position of the last append
	recovered []broker.RecoveredQueue

	wmu      sync.Mutex // writing, syncing and compacting; taken before mu
	f        File       // the file of id fileID, open for appending
	fileID   uint64
	fileSize int64
	sizes    map[uint64]int64 // bytes of every file, by id
	done     uint64           // commits up to here are written, or failed
	fails    []failure        // recent failed ranges
	broken   error            // set while a failed write could not be cut off
	unsynced bool             // written since the last sync

	logBytes atomic.Int64
	lastSync atomic.Int64 // ns
	syncs    atomic.Uint64
	failMsg  atomic.Pointer[string]

	stop chan struct{}
	bg   sync.WaitGroup
}

// chunk is appended bytes bound for one file.
type chunk struct {
	file uint64
	data []byte
	end  uint64 // commit position of its last byte
}

// failure is a range of commits (from, to] a write failed for.
type failure struct {
	from, to uint64
	err      error
}

// maxFails is how many failed ranges are remembered for late waiters.
const maxFails = 64

// Segment and snapshot files are numbered; their ids order them for
// replay: segment n has id 2n, the snapshot of everything up to segment n
// has id 2n+1.
func segID(n uint64) uint64            { return n << 1 }
func snapID(n uint64) uint64           { return n<<1 | 1 }
func isSnap(id uint64) bool            { return id&1 == 1 }
func (s *Store) path(id uint64) string { return filepath.Join(s.dir, fileName(id)) }

func fileName(id uint64) string {
	if isSnap(id) {
		return fmt.Sprintf("%016d.snap", id>>1)
	}
	return fmt.Sprintf("%016d.log", id>>1)
}

// Open opens (making it if needed) the log in dir, locks it against a
// second switch, and replays it.
func Open(dir string, opts Options) (*Store, error) {
	if opts.FS == nil {
		opts.FS = OSFS{}
		if err := opts.FS.MkdirAll(dir); err != nil {
			return nil, err
		}
		l, err := lockDir(dir)
		if err != nil {
			return nil, err
		}
		s, err := open(dir, opts)
		if err != nil {
			l.Close()
			return nil, err
		}
		s.lock = l
		return s, nil
	}
	if err := opts.FS.MkdirAll(dir); err != nil {
		return nil, err
	}
	return open(dir, opts)
}

func open(dir string, opts Options) (*Store, error) {
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if opts.CompactMin <= 0 {
		opts.CompactMin = DefaultCompactMin
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	s := &Store{fs: opts.FS, dir: dir, opts: opts, idx: newIndex(), sizes: map[uint64]int64{}, stop: make(chan struct{})}
	if err := s.replay(); err != nil {
		return nil, err
	}
	s.bg.Add(1)
	go s.background()
	return s, nil
}

// Close writes and syncs what is buffered and closes the log.
func (s *Store) Close() error {
	close(s.stop)
	s.bg.Wait()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.flushLocked(s.opts.Fsync.Interval >= 0)
	err := s.f.Close()
	if s.lock != nil {
		s.lock.Close()
	}
	return err
}

// Recovered returns the state replay found, once.
func (s *Store) Recovered() []broker.RecoveredQueue {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.recovered
	s.recovered = nil
	return r
}

// appendLocked adds a frame built by fill to the buffer and returns its
// place and commit position. s.mu held.
func (s *Store) appendLocked(kind byte, queue string, fill func(e *encoder)) (loc, broker.Commit) {
	var e encoder
	start := e.begin(kind)
	e.str(queue)
	if fill != nil {
		fill(&e)
	}
	e.end(start)
	n := int64(len(e.b))
	if s.curOff+n > s.opts.SegmentSize && s.curOff > magicLen {
		s.curFile = segID(s.curFile>>1 + 1)
		s.curOff = magicLen
	}
	at := loc{file: s.curFile, off: s.curOff, size: uint32(n)}
	s.curOff += n
	s.end += uint64(n)
	if k := len(s.chunks); k > 0 && s.chunks[k-1].file == s.curFile {
		s.chunks[k-1].data = append(s.chunks[k-1].data, e.b...)
		s.chunks[k-1].end = s.end
	} else {
		s.chunks = append(s.chunks, chunk{file: s.curFile, data: e.b, end: s.end})
	}
	return at, broker.Commit(s.end)
}

// CreateQueue records a persistent queue.
func (s *Store) CreateQueue(name string) (broker.Commit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.idx.queues[name]
	var next uint64
	if q != nil {
		next = q.nextID
	}
	at, c := s.appendLocked(kindCreate, name, func(e *encoder) { e.uvarint(next) })
	s.idx.apply(&record{kind: kindCreate, queue: name, nextID: next}, at, false)
	return c, nil
}

// DestroyQueue records that a queue is gone.
func (s *Store) DestroyQueue(name string) (broker.Commit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, c := s.appendLocked(kindDestroy, name, nil)
	s.idx.drop(name)
	return c, nil
}

// Append records a group of accepted messages as one record.
func (s *Store) Append(queue string, ms []broker.StoredMessage) (broker.Commit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, c := s.appendLocked(kindMessages, queue, func(e *encoder) {
		e.uvarint(uint64(len(ms)))
		for i := range ms {
			e.message(&ms[i])
		}
	})
	s.idx.apply(&record{kind: kindMessages, queue: queue, msgs: ms}, at, false)
	return c, nil
}

// Deliver records deliveries, without waiting.
func (s *Store) Deliver(queue string, ids []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, _ := s.appendLocked(kindDeliver, queue, func(e *encoder) { e.ids(ids) })
	s.idx.apply(&record{kind: kindDeliver, queue: queue, ids: ids}, at, false)
}

// Ack records deletions, without waiting.
func (s *Store) Ack(queue string, ids []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, _ := s.appendLocked(kindAck, queue, func(e *encoder) { e.ids(ids) })
	s.idx.apply(&record{kind: kindAck, queue: queue, ids: ids}, at, false)
}

// SetQueueMeta records a queue property.
func (s *Store) SetQueueMeta(queue, key string, value []byte) (broker.Commit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := record{kind: kindMeta, queue: queue, key: key, value: value, present: value != nil}
	at, c := s.appendLocked(kindMeta, queue, func(e *encoder) { encodeMeta(e, key, value) })
	s.idx.apply(&r, at, false)
	return c, nil
}

func encodeMeta(e *encoder, key string, value []byte) {
	e.str(key)
	if value != nil {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
	e.bytes(value)
}

// Wait blocks until the record of c is written and, with fsync always,
// synced. The first waiter to get the write lock writes and syncs every
// record buffered so far, for all waiters at once.
func (s *Store) Wait(c broker.Commit) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.done < uint64(c) {
		s.flushLocked(s.opts.Fsync.Interval == 0)
	}
	for _, f := range s.fails {
		if uint64(c) > f.from && uint64(c) <= f.to {
			return f.err
		}
	}
	return nil
}

// flushLocked writes every buffered chunk, syncing if asked. A failure
// cuts the file back to its last good size and fails every buffered
// record: their writers are told, and the index forgets them. s.wmu held.
func (s *Store) flushLocked(sync bool) {
	s.mu.Lock()
	chunks := s.chunks
	s.chunks = nil
	s.mu.Unlock()
	if len(chunks) == 0 && !(sync && s.unsynced) && s.broken == nil {
		return
	}
	err := s.broken
	if err != nil {
		err = s.cut()
	}
	for _, ch := range chunks {
		if err != nil {
			break
		}
		if ch.file != s.fileID {
			if err = s.rotate(ch.file); err != nil {
				break
			}
		}
		good := s.fileSize
		if _, err = s.f.Write(ch.data); err != nil {
			s.fileSize = good
			s.broken = err
			err = s.cut()
			if err == nil {
				err = s.broken
			}
			break
		}
		s.grow(int64(len(ch.data)))
		if sync {
			if err = s.sync(); err != nil {
				s.fileSize = good
				s.broken = err
				if cerr := s.cut(); cerr != nil {
					err = cerr
				}
				break
			}
		}
		s.done = ch.end
	}
	if err == nil && sync && s.unsynced {
		err = s.sync()
	}
	if err == nil {
		s.failMsg.Store(nil)
		return
	}
	err = storageError(err)
	msg := err.Error()
	s.failMsg.Store(&msg)
	// Everything not written fails, and what was appended meanwhile
	// (placed after the failed bytes) fails with it.
	s.mu.Lock()
	s.chunks = nil
	s.fails = append(s.fails, failure{from: s.done, to: s.end, err: err})
	if len(s.fails) > maxFails {
		s.fails = s.fails[len(s.fails)-maxFails:]
	}
	s.done = s.end
	s.idx.forgetFrom(s.fileID, s.fileSize)
	s.curFile, s.curOff = s.fileID, s.fileSize
	s.mu.Unlock()
}

// cut truncates the current file to its last good size, clearing broken.
func (s *Store) cut() error {
	if err := s.f.Truncate(s.fileSize); err != nil {
		return err
	}
	s.setSize(s.fileID, s.fileSize)
	s.broken = nil
	return nil
}

func (s *Store) sync() error {
	t := time.Now()
	err := s.f.Sync()
	s.lastSync.Store(int64(time.Since(t)))
	s.syncs.Add(1)
	if err == nil {
		s.unsynced = false
	}
	return err
}

func (s *Store) grow(n int64) {
	s.fileSize += n
	s.unsynced = true
	s.setSize(s.fileID, s.fileSize)
}

func (s *Store) setSize(id uint64, n int64) {
	s.logBytes.Add(n - s.sizes[id])
	s.sizes[id] = n
}

// rotate syncs the current file and begins file id: made, its magic
// written and synced, and the directory synced, before any record goes
// in. s.wmu held.
func (s *Store) rotate(id uint64) error {
	if err := s.sync(); err != nil {
		return err
	}
	f, err := s.createFile(id, segmentMagic)
	if err != nil {
		return err
	}
	s.f.Close()
	s.f, s.fileID, s.fileSize = f, id, magicLen
	s.setSize(id, magicLen)
	return nil
}

// createFile makes file id holding only magic, synced with its directory
// entry.
func (s *Store) createFile(id uint64, magic string) (File, error) {
	path := s.path(id)
	f, err := s.fs.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
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

// background writes buffered acks and deliveries, syncs with fsync
// interval=D, and compacts the log when it has grown to twice the live
// data.
func (s *Store) background() {
	defer s.bg.Done()
	period := tick
	if s.opts.Fsync.Interval > 0 {
		period = s.opts.Fsync.Interval
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.wmu.Lock()
		s.flushLocked(s.opts.Fsync.Interval >= 0)
		s.wmu.Unlock()
		if s.needsCompaction() {
			if err := s.Compact(); err != nil {
				s.opts.Logf("compacting %s: %v", s.dir, err)
			}
		}
	}
}

// Stats describes the store.
func (s *Store) Stats() broker.StoreStats {
	st := broker.StoreStats{
		Durable:   true,
		LogBytes:  s.logBytes.Load(),
		LastSync:  time.Duration(s.lastSync.Load()),
		Syncs:     s.syncs.Load(),
		FsyncMode: s.opts.Fsync.String(),
	}
	if m := s.failMsg.Load(); m != nil {
		st.Failed = *m
	}
	return st
}
