package switchd

import (
	"log"
	"os"
	"runtime/debug"

	"github.com/spf13/pflag"

	"msw/broker"
	"msw/broker/logstore"
	"msw/internal/tool"
)

// durability holds msw-switch's --data, --fsync, --repair and --cache.
type durability struct {
	dir    string
	fsync  string
	repair bool
	cache  string
}

func (d *durability) register(fs *pflag.FlagSet) {
	d.fsync, d.cache = "always", "64MiB"
	fs.StringVar(&d.dir, "data", "", "keep persistent queues and their messages in `dir` (default: memory only)")
	fs.StringVar(&d.fsync, "fsync", d.fsync, "with --data, when a send is on disk (`mode`): always (synced before its answer), interval=D or never")
	fs.BoolVar(&d.repair, "repair", false, "with --data, cut the log at a corrupt record instead of refusing to start")
	fs.StringVar(&d.cache, "cache", d.cache, "with --data, message bytes held in memory; past them a backlog stays on disk (`size`: bytes, or with K, M, G)")
}

// open checks the flags and, with --data, opens the log: the store (nil
// without --data), the cache size, and an exit code other than ExitOK when
// the flags or the log are bad.
func (d *durability) open(c *tool.Command, logger *log.Logger) (*logstore.Store, int64, int) {
	mode, err := logstore.ParseFsync(d.fsync)
	if err != nil {
		return nil, 0, c.UsageError("--fsync: %v", err)
	}
	cache, err := tool.ParseSize(d.cache)
	if err != nil {
		return nil, 0, c.UsageError("--cache: %v", err)
	}
	if d.dir == "" {
		return nil, int64(cache), tool.ExitOK
	}
	st, err := logstore.Open(d.dir, logstore.Options{Fsync: mode, Repair: d.repair, Logf: logger.Printf, CacheBytes: int64(cache)})
	if err != nil {
		return nil, 0, c.Failf("--data %s: %v", d.dir, err)
	}
	d.fsync = mode.String()
	limitMemory(int64(cache))
	return st, int64(cache), tool.ExitOK
}

// durableHeadroom is what a durable switch's soft memory limit allows
// beside --cache: the headers and log index of a backlog of a million
// messages (about 200 MiB) and the buffers of the batches in flight.
const durableHeadroom = 384 << 20

// limitMemory lowers the runtime's soft memory limit (set from
// --max-memory) to the cache plus durableHeadroom, unless GOMEMLIMIT sets
// one. A durable switch bounds
// what it holds (payloads past --cache stay on disk), but the collector's
// default pacing lets garbage grow as large as the live heap before it
// collects: with the headers of a large backlog live, that was a peak of
// hundreds of MiB of nothing. The limit makes the collector run sooner
// only when the process nears it, so a small switch pays nothing; it is
// soft, so a live heap above it still runs, collected more often.
func limitMemory(cache int64) {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(min(debug.SetMemoryLimit(-1), cache+durableHeadroom))
	}
}

// store is the broker's store: the log, or nil (memory) without --data.
func (d *durability) store(st *logstore.Store) broker.Store {
	if st == nil {
		return nil
	}
	return st
}
