package logstore

import (
	"testing"

	"msw/broker"
)

// seedFrames are well-formed records of every kind.
func seedFrames() [][]byte {
	var out [][]byte
	add := func(kind byte, queue string, fill func(e *encoder)) {
		var e encoder
		e.frame(kind, queue, fill)
		out = append(out, e.b)
	}
	add(kindCreate, "jobs", func(e *encoder) { e.uvarint(7) })
	add(kindDestroy, "jobs", nil)
	add(kindMessages, "jobs", func(e *encoder) {
		e.messages(kindMessages, []broker.StoredMessage{
			{ID: 8, Enqueued: 1e18, Payload: []byte("hello"), CorrelationID: "c1", ReplyTo: "r", Origin: "me"},
			{ID: 9, Deliveries: 3, Status: 2},
		})
	})
	add(kindDeliver, "jobs", func(e *encoder) { e.ids([]uint64{8, 9}) })
	add(kindAck, "jobs", func(e *encoder) { e.ids([]uint64{8}) })
	add(kindMeta, "jobs", func(e *encoder) { encodeMeta(e, "ttl", []byte("1m")) })
	add(kindMeta, "jobs", func(e *encoder) { encodeMeta(e, "ttl", nil) })
	add(kindEnd, "", nil)
	add(kindPublished, "jobs", func(e *encoder) {
		e.messages(kindPublished, []broker.StoredMessage{{ID: 10, Payload: []byte("goal"), Topic: "news.sports.uk"}, {ID: 11}})
	})
	return out
}

func FuzzDecodeRecord(f *testing.F) {
	for _, fr := range seedFrames() {
		f.Add(fr)
		f.Add(fr[:len(fr)-1])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := readFrame(data)
		if err != nil {
			return
		}
		if fr.size > len(data) || fr.size != frameHeader+len(fr.body) {
			t.Fatalf("frame of %d bytes in %d", fr.size, len(data))
		}
		decodeRecord(fr.body)
		// A body decodes the same whatever its checksum said.
		decodeRecord(data)
	})
}

// FuzzReplay opens a log whose only segment holds the fuzzed bytes: it
// never panics, and with Repair it always opens.
func FuzzReplay(f *testing.F) {
	var log []byte
	log = append(log, segmentMagic...)
	for _, fr := range seedFrames()[:6] {
		log = append(log, fr...)
	}
	f.Add(log)
	f.Add(log[:len(log)-5])
	f.Add([]byte(segmentMagic))
	f.Add([]byte("mswl"))
	f.Add([]byte("not a log at all"))
	f.Fuzz(func(t *testing.T, data []byte) {
		mfs := newMemFS(1)
		mfs.set(segPath, data)
		if st, err := Open(testDir, Options{Prealloc: testPrealloc, FS: mfs.clone()}); err == nil {
			takeRecovered(st)
			st.Close()
		}
		st, err := Open(testDir, Options{Prealloc: testPrealloc, FS: mfs, Repair: true})
		if err != nil {
			t.Fatalf("repair did not open: %v", err)
		}
		takeRecovered(st)
		st.Close()
	})
}

// takeRecovered takes what a store recovered as the broker does: every
// queue's messages, one at a time.
func takeRecovered(st *Store) {
	for _, q := range st.Recovered() {
		if q.Messages.Each != nil {
			q.Messages.Each(func(*broker.StoredMessage) {})
		}
	}
}
