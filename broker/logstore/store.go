package logstore

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
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
	// CacheBytes bounds the payload bytes replay keeps in memory; the
	// rest are read back when delivered. Default broker.DefaultCacheBytes.
	CacheBytes int64
	// Prealloc is how far ahead of its records the segment being written
	// is filled with zeros, so that a sync journals no change of size
	// (prealloc.go); default DefaultPrealloc, negative for none.
	Prealloc int64
}

// Defaults for Options.
const (
	DefaultSegmentSize = 64 << 20
	DefaultCompactMin  = 64 << 20
	DefaultPrealloc    = 4 << 20
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

	mu        sync.Mutex // appends and outcomes; guards the fields up to wmu
	idx       *index
	chunks    []chunk // appended, not yet written
	curFile   uint64  // file id appends go to
	curOff    int64   // where the next appended byte lands in it
	end       uint64  // commit position of the last append
	appends   uint64  // records appended, ever
	recovered []broker.RecoveredQueue
	free      [][]byte // written buffers, for appends to reuse

	written uint64    // commits up to here are written, or failed
	synced  uint64    // commits up to here are synced, or failed
	fails   []failure // recent failed ranges

	wmu        sync.Mutex // writing, rotating; taken before mu
	f          File       // the file of id fileID, open for appending
	fileID     uint64
	fileSize   int64
	syncedSize int64            // of fileID, at its last good sync
	physEnd    int64            // of fileID: its records, then preallocated zeros (prealloc.go)
	filling    bool             // the preallocator was asked for more
	sizes      map[uint64]int64 // bytes of every file, by id
	broken     error            // set while a failed write could not be cut off

	smu sync.Mutex // syncing; taken before wmu

	gmu                   sync.Mutex // a leaf
	writeRound, syncRound round      // group commit's rounds under way
	syncFrom              uint64     // appends when the last sync round began; its leader's
	cmu                   sync.Mutex // compacting; taken before all the others

	rmu    sync.Mutex // reading payloads back; a leaf
	reader frameReader

	writtenA, syncedA atomic.Uint64 // written and synced, for a look without mu

	logBytes atomic.Int64
	lastSync atomic.Int64 // ns
	syncs    atomic.Uint64
	failMsg  atomic.Pointer[string]

	stop      chan struct{}
	fillC     chan struct{} // asks the preallocator for more room
	bg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
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
		if err := mkdirSynced(opts.FS, dir); err != nil {
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
	if err := mkdirSynced(opts.FS, dir); err != nil {
		return nil, err
	}
	return open(dir, opts)
}

// mkdirSynced makes dir if needed, and syncs its parent so that a power
// loss cannot take a new data directory, and the records in it, away.
func mkdirSynced(fs FS, dir string) error {
	if err := fs.MkdirAll(dir); err != nil {
		return err
	}
	return fs.SyncDir(filepath.Dir(filepath.Clean(dir)))
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
	if opts.Prealloc == 0 {
		opts.Prealloc = DefaultPrealloc
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = broker.DefaultCacheBytes
	}
	s := &Store{fs: opts.FS, dir: dir, opts: opts, idx: newIndex(), sizes: map[uint64]int64{}, stop: make(chan struct{}), fillC: make(chan struct{}, 1)}
	s.idx.keepBudget = opts.CacheBytes
	s.reader = frameReader{s: s, files: map[uint64]File{}}
	if err := s.replay(); err != nil {
		return nil, err
	}
	s.bg.Add(2)
	go s.background()
	go s.preallocator()
	return s, nil
}

// Close writes and syncs what is buffered and closes the log. Calling
// it again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.bg.Wait()
		s.flushAll()
		s.wmu.Lock()
		defer s.wmu.Unlock()
		if s.physEnd > s.fileSize && s.broken == nil {
			// Leave the last segment ending at its last record.
			if err := s.f.Truncate(s.fileSize); err == nil {
				s.f.Sync()
			}
		}
		s.closeErr = s.f.Close()
		s.rmu.Lock()
		s.reader.close()
		s.rmu.Unlock()
		if s.lock != nil {
			s.lock.Close()
		}
	})
	return s.closeErr
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
	return s.appendSizedLocked(kind, queue, 64, fill)
}

// appendSizedLocked is appendLocked for a record of about size bytes. It
// encodes the record straight into the buffer bound for the file (the
// last chunk's, or one written before and given back): a batch of 1,000
// messages is copied once on its way to the file, and in a steady stream
// of batches no buffer is allocated.
func (s *Store) appendSizedLocked(kind byte, queue string, size int, fill func(e *encoder)) (loc, broker.Commit) {
	k := len(s.chunks)
	inPlace := k > 0 && s.chunks[k-1].file == s.curFile
	var e encoder
	if inPlace {
		e.b = s.chunks[k-1].data
	} else {
		e.b = s.buffer(size + len(queue) + frameHeader + 16)
	}
	start := len(e.b)
	e.frame(kind, queue, fill)
	n := int64(len(e.b) - start)
	rotated := false
	if s.curOff+n > s.opts.SegmentSize && s.curOff > magicLen {
		s.curFile = segID(s.curFile>>1 + 1)
		s.curOff = magicLen
		rotated = true
	}
	at := loc{file: s.curFile, off: s.curOff, size: uint32(n)}
	s.curOff += n
	s.end += uint64(n)
	s.appends++
	switch {
	case inPlace && !rotated:
		s.chunks[k-1].data = e.b
		s.chunks[k-1].end = s.end
	case inPlace:
		// It goes to the next file: move it to a chunk of its own.
		data := append(s.buffer(int(n)), e.b[start:]...)
		s.chunks[k-1].data = e.b[:start]
		s.chunks = append(s.chunks, chunk{file: s.curFile, data: data, end: s.end})
	default:
		s.chunks = append(s.chunks, chunk{file: s.curFile, data: e.b, end: s.end})
	}
	return at, broker.Commit(s.end)
}

// Buffers written are kept for reuse: at most keptBuffers of them, each
// at most maxKeptBuffer bytes.
const (
	keptBuffers   = 2
	maxKeptBuffer = 4 << 20
)

// buffer returns an empty buffer for at least n bytes. s.mu held.
func (s *Store) buffer(n int) []byte {
	for i, b := range s.free {
		if cap(b) >= n {
			s.free = slices.Delete(s.free, i, i+1)
			return b
		}
	}
	return make([]byte, 0, n)
}

// giveBack keeps written buffers for reuse. s.mu held.
func (s *Store) giveBack(chunks []chunk) {
	for _, ch := range chunks {
		if len(s.free) < keptBuffers && cap(ch.data) <= maxKeptBuffer {
			s.free = append(s.free, ch.data[:0])
		}
	}
}

// CreateQueue records a persistent queue whose ids start above next.
func (s *Store) CreateQueue(name string, next uint64) (broker.Commit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.idx.queues[name]; q != nil {
		next = max(next, q.nextID)
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
	s.idx.destroy(name, 0)
	return c, nil
}

// IDFloor returns the highest id a queue destroyed before the store was
// opened had given.
func (s *Store) IDFloor() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idx.floor
}

// Append records a group of accepted messages as one record.
func (s *Store) Append(queue string, ms []broker.StoredMessage) (broker.Commit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	size := 0
	for i := range ms {
		m := &ms[i]
		size += 32 + len(m.Origin) + len(m.CorrelationID) + len(m.ReplyTo) + len(m.Topic) + len(m.Payload)
	}
	kind := messagesKind(ms)
	at, c := s.appendSizedLocked(kind, queue, size, func(e *encoder) { e.messages(kind, ms) })
	s.idx.apply(&record{kind: kindMessages, queue: queue, msgs: ms}, at, false)
	return c, nil
}

// Deliver records deliveries.
func (s *Store) Deliver(queue string, ids []uint64) broker.Commit {
	return s.appendIDs(kindDeliver, queue, ids)
}

// Ack records deletions.
func (s *Store) Ack(queue string, ids []uint64) broker.Commit {
	return s.appendIDs(kindAck, queue, ids)
}

// appendIDs buffers a record of kind naming message ids of queue.
func (s *Store) appendIDs(kind byte, queue string, ids []uint64) broker.Commit {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, c := s.appendLocked(kind, queue, func(e *encoder) { e.ids(ids) })
	s.idx.apply(&record{kind: kind, queue: queue, ids: ids}, at, false)
	return c
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
		s.flushAll()
		if s.needsCompaction() {
			if err := s.Compact(); err != nil {
				s.opts.Logf("compacting %s: %v", s.dir, err)
			}
		}
	}
}

// Read returns the payload of a live message, read back from the log
// with its record's checksum verified. It shares the buffer the record
// was read into, which nothing writes to again, so that a backlog drained
// from disk copies each payload once (into the broker's message), not
// twice.
func (s *Store) Read(queue string, id uint64) ([]byte, error) {
	for try := 0; ; try++ {
		s.mu.Lock()
		var at loc
		ok := false
		if q := s.idx.queues[queue]; q != nil {
			var e *entry
			if e, ok = q.msgs.get(id); ok {
				at = e.at
			}
		}
		s.mu.Unlock()
		if !ok {
			return nil, fmt.Errorf("%w: %s/%d is not in the log", broker.ErrStorage, queue, id)
		}
		s.rmu.Lock()
		m, err := s.reader.message(at)
		s.rmu.Unlock()
		if err == nil {
			return m.Payload, nil
		}
		if try > 0 {
			return nil, fmt.Errorf("%w: reading %s/%d back: %v", broker.ErrStorage, queue, id, err)
		}
		// A compaction may have moved it meanwhile: look it up again.
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
