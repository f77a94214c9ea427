package logstore

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"msw/broker"
	"msw/internal/wire"
)

// The numbers behind the choice of a log (see the broker's design note):
// the disk's own fsync, appends synced before their answer at 1 and 64
// producers, and replay. Run on the disk to measure, e.g.
//
//	TMPDIR=/var/tmp go test -run X -bench . ./broker/logstore

func BenchmarkDiskFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "f"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	p := make([]byte, 100)
	for b.Loop() {
		f.Write(p)
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendFsyncAlways appends messages of 1 KiB and waits for their
// sync, from 1 and 64 producers, and batches of 1,000 × 100 B (what
// msw-send -l sends) from one; each with the segment preallocated (the
// default) and without, to compare the two in one run.
func BenchmarkSendFsyncAlways(b *testing.B) {
	for _, c := range []struct {
		producers, batch, size int
	}{{1, 1, 1 << 10}, {64, 1, 1 << 10}, {1, 1000, 100}} {
		for _, prealloc := range []int64{DefaultPrealloc, -1} {
			name := fmt.Sprintf("producers=%d/batch=%d/prealloc=%v", c.producers, c.batch, prealloc > 0)
			b.Run(name, func(b *testing.B) {
				benchSend(b, c.producers, c.batch, c.size, prealloc)
			})
		}
	}
}

func benchSend(b *testing.B, producers, batch, size int, prealloc int64) {
	st := mustOpen(b, b.TempDir(), Options{Prealloc: prealloc})
	st.CreateQueue("q", 0)
	payload := make([]byte, size)
	var mu sync.Mutex
	var id uint64
	send := func() error {
		ms := make([]broker.StoredMessage, batch)
		mu.Lock()
		for i := range ms {
			id++
			ms[i] = broker.StoredMessage{ID: id, Payload: payload}
		}
		c, err := st.Append("q", ms)
		mu.Unlock()
		if err != nil {
			return err
		}
		return st.Wait(c)
	}
	b.SetBytes(int64(batch * size))
	if producers == 1 {
		for b.Loop() {
			if err := send(); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.SetParallelism(max(1, producers/runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := send(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.ReportMetric(float64(b.N)/float64(st.Stats().Syncs), "sends/fsync")
}

// BenchmarkReplay opens a log of 100,000 one-message records; ns/op is
// the time to replay them all.
func BenchmarkReplay(b *testing.B) {
	const n = 100_000
	dir := b.TempDir()
	st, err := Open(dir, Options{Fsync: FsyncNever})
	if err != nil {
		b.Fatal(err)
	}
	st.CreateQueue("q", 0)
	p := make([]byte, 100)
	var c broker.Commit
	for i := 1; i <= n; i++ {
		c, _ = st.Append("q", []broker.StoredMessage{{ID: uint64(i), Payload: p, Origin: "bench"}})
	}
	st.Wait(c)
	st.Close()
	for b.Loop() {
		st, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		// Take the messages as the broker does, one at a time.
		q, got := recoveredQueue(st.Recovered(), "q"), 0
		if q != nil && q.Messages.Each != nil {
			q.Messages.Each(func(*broker.StoredMessage) { got++ })
		}
		if got != n {
			b.Fatal("replay lost messages")
		}
		st.Close()
	}
	b.ReportMetric(float64(n), "records/op")
}

// BenchmarkBrokerSendBatch sends batches of 1,000 × 100 B (what msw-send
// -l sends) through a broker over the log, each synced before the next:
// the durable batch path below the stream, one batch at a time.
func BenchmarkBrokerSendBatch(b *testing.B) {
	st := mustOpen(b, b.TempDir(), Options{Fsync: FsyncAlways})
	br := newBroker(b, st)
	if err := br.CreateQueue(nil, "q"); err != nil {
		b.Fatal(err)
	}
	ms := make([]wire.Message, 1000)
	for i := range ms {
		ms[i].Payload = make([]byte, 100)
	}
	b.SetBytes(int64(len(ms) * 100))
	for b.Loop() {
		if _, err := br.Send(nil, "q", ms); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/float64(st.Stats().Syncs), "sends/fsync")
}

// BenchmarkCompact compacts a log of 100 live batches of 1,000 × 100 B
// (what scenario 9's batch run leaves while it writes): the snapshot
// reads every record back, checks it and writes it again.
func BenchmarkCompact(b *testing.B) {
	ms := make([]broker.StoredMessage, 1000)
	p := make([]byte, 100)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st, err := Open(b.TempDir(), Options{Fsync: FsyncNever, CompactMin: 1 << 40})
		if err != nil {
			b.Fatal(err)
		}
		st.CreateQueue("q", 0)
		var c broker.Commit
		for k := range 100 {
			for j := range ms {
				ms[j] = broker.StoredMessage{ID: uint64(k*len(ms) + j + 1), Payload: p, Origin: "bench"}
			}
			if c, err = st.Append("q", ms); err != nil {
				b.Fatal(err)
			}
		}
		if err := st.Wait(c); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := st.Compact(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		st.Close()
	}
}
