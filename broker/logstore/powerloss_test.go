package logstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"msw/broker"
	"msw/internal/wire"
)

// TestPowerLossKeepsEveryAcknowledgedMessage runs senders and a consumer
// against a log on a file system that loses power at a random operation,
// keeping only what was synced and a torn prefix of what was not. After
// each crash the log must open, and every message whose send was
// answered must be there unless it was acked.
func TestPowerLossKeepsEveryAcknowledgedMessage(t *testing.T) {
	rounds := 1000
	if testing.Short() {
		rounds = 100
	}
	overwrites := 0
	for seed := range uint64(rounds) {
		overwrites += powerLossRound(t, seed)
	}
	if overwrites == 0 {
		t.Fatal("no record was written into preallocated room: preallocation went untested")
	}
}

// powerLossRound runs one round and returns how many writes went into
// bytes a file already held (preallocated zeros) before the crash.
func powerLossRound(t *testing.T, seed uint64) int {
	rng := rand.New(rand.NewPCG(seed, 2))
	mfs := newMemFS(seed)
	mfs.crashAt = 1 + rng.IntN(400)
	opts := Options{Prealloc: testPrealloc, FS: mfs, SegmentSize: 1 << 10, CompactMin: 2 << 10}
	var (
		mu    sync.Mutex
		sent  = map[uint64]string{} // answered sends
		acked = map[uint64]bool{}   // acks issued
	)
	if st, err := Open(testDir, opts); err == nil {
		b := broker.New(broker.Options{Store: st, TraceSize: -1})
		if b.CreateQueue(nil, "q") == nil {
			var wg sync.WaitGroup
			for g := range 3 {
				n := 1 + rng.IntN(3)
				wg.Go(func() {
					for i := range 12 {
						ms := make([]wire.Message, n)
						for k := range ms {
							ms[k].Payload = fmt.Appendf(nil, "%d.%d.%d", g, i, k)
						}
						first, err := b.Send(nil, "q", ms)
						if err != nil {
							return
						}
						mu.Lock()
						for k := range ms {
							sent[first+uint64(k)] = string(ms[k].Payload)
						}
						mu.Unlock()
					}
				})
			}
			wg.Go(func() {
				s, err := b.Login("consumer")
				if err != nil || b.Subscribe(s, []string{"q"}) != nil {
					return
				}
				for i := range 40 {
					ds, err := b.Transfer(context.Background(), s, 4, 0)
					if err != nil {
						return
					}
					var ids []uint64
					for k, d := range ds {
						if k%2 == 0 {
							ids = append(ids, d.ID)
						}
					}
					mu.Lock()
					for _, id := range ids {
						acked[id] = true
					}
					mu.Unlock()
					b.Ack(s, wire.Acks{"q": ids})
					if i == 20 {
						st.Compact()
					}
				}
			})
			wg.Wait()
		}
		b.Close()
		mfs.crash()
		st.Close()
	}
	img := mfs.crash()
	st, err := Open(testDir, Options{Prealloc: testPrealloc, FS: img, SegmentSize: 1 << 10, CompactMin: 2 << 10})
	if err != nil {
		t.Fatalf("seed %d (crash at operation %d): reopening after the crash: %v", seed, mfs.crashAt, err)
	}
	defer st.Close()
	q := recoveredQueue(st.Recovered(), "q")
	present := map[uint64]bool{}
	if q != nil {
		var last uint64
		for _, m := range messagesOf(q) {
			if m.ID <= last {
				t.Fatalf("seed %d: ids out of order: %d after %d", seed, m.ID, last)
			}
			last = m.ID
			if p, ok := sent[m.ID]; ok && p != string(m.Payload) {
				t.Fatalf("seed %d: message %d is %q, was sent as %q", seed, m.ID, m.Payload, p)
			}
			present[m.ID] = true
		}
	}
	for id, p := range sent {
		if !acked[id] && !present[id] {
			t.Fatalf("seed %d (crash at operation %d): acknowledged message %d (%q) lost", seed, mfs.crashAt, id, p)
		}
		if q != nil && id > q.NextID {
			t.Fatalf("seed %d: next id %d is below sent id %d", seed, q.NextID, id)
		}
	}
	if len(sent) > 0 && q == nil {
		t.Fatalf("seed %d: queue lost", seed)
	}
	mfs.mu.Lock()
	defer mfs.mu.Unlock()
	return mfs.overwrites
}
