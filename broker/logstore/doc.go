// Package logstore is the switch's durable store (msw-switch --data DIR):
// a log of checksummed records in numbered segment files, behind the
// broker's Store interface.
//
// # Files
//
// DIR holds segments (0000000000000001.log, ...), at most one snapshot
// (N.snap, everything up to segment N), and LOCK, which a running switch
// holds with flock(2) so that a second one refuses the directory. Each
// file starts with an 8-byte magic string; then come records, each a
// 4-byte length, a 4-byte CRC-32C of the body, and the body (record.go).
// A batch of messages is one record: after a crash it comes back whole or
// not at all.
//
// # Writing
//
// Appends encode their record into a buffer under a short lock, in the
// order the broker calls them, and return a commit position. Writing the
// buffer, and writing and syncing it, are rounds led by whichever waiter
// gets there first, for everything buffered so far, the others woken
// together when it ends (commit.go): 64 concurrent senders share one
// write and one fsync. A new segment is made,
// its header synced and the directory synced before any record goes in;
// the old one is cut to its records and synced first. A failed write or
// sync cuts the file back to what is known good and fails every record
// after it.
//
// The segment being written is kept filled with zeros a few MiB ahead of
// its records, synced (prealloc.go), and records are written at their
// offsets into that room and synced with fdatasync: the file's size does
// not change, so a sync has no metadata to journal. On replay, zeros from
// a record's place to the end of the last segment are the end of the log.
//
// # Reading
//
// Open replays the snapshot and the segments after it into an index of
// what is live (index.go, replay.go): queues, their next ids and
// properties, and for each live message where its record lies and how
// often it was delivered. A torn tail (the last file ends inside a record
// and no good record follows) is cut and logged; any other bad record
// refuses the open with file and offset, unless Repair. Replay keeps
// what the broker needs of each message it decodes compactly (kept.go),
// with payloads up to CacheBytes; the rest are read back, checksum
// verified, when the broker delivers them (Store.Read). The broker takes
// the kept messages one at a time (RecoveredMessages), so that a start
// holds them once in the store's form and once in its own, never as a
// third, decoded copy.
//
// # Reclaiming
//
// When the files pass twice the live data (and CompactMin), the store
// seals the current segment, writes a snapshot of the live state as of the
// seal, syncs and renames it, and removes the files it replaces
// (compact.go). Appends go on into the next segment meanwhile. A record
// whose messages are all live and never delivered is carried into the
// snapshot as it is (its checksum verified); the others are decoded and
// their live messages written anew.
//
// # Testing
//
// Every file operation goes through FS, so tests run the log on a file
// system that loses power at a chosen operation (memfs_test.go).
package logstore
