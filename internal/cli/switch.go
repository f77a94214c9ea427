package cli

import (
	"context"
	"fmt"
	"io"
	iofs "io/fs"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"msw/broker"
	"msw/broker/logstore"
	"msw/server"
)

const switchUsage = `
Usage: msw-switch [options]
       msw-switch --shutdown [-s ADDR]

Run the message switch: named queues held in memory, served over HTTP on
each --listen address (default 127.0.0.1:8080). With --data DIR its
persistent queues and their messages are kept in a log in DIR and survive
a restart, kill -9 and power loss. Logs one line per lifecycle event to
stderr; -v adds one per request. SIGINT and SIGTERM stop it cleanly, as
does 'msw-switch --shutdown'.
`

// listenList is a repeatable --listen flag.
type listenList []string

func (l *listenList) String() string { return strings.Join(*l, ",") }
func (l *listenList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// Switch is the body of msw-switch.
func Switch(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("msw-switch", switchUsage, stdout, stderr)
	var (
		listens    listenList
		allowHosts listenList
		verbose    bool
		maxPayload = "16MiB"
		grace      = durationValue(broker.DefaultGrace)
		maxWait    = durationValue(broker.DefaultMaxWait)
		traceSize  = broker.DefaultTraceSize
		socketMode = "0600"
		readyFile  string
		shutdown   bool
		sf         switchFlags
		dataDir    string
		fsyncMode  = "always"
		repair     bool
		cacheSize  = "64MiB"
	)
	fs := c.flags
	fs.Var(&listens, "listen", "`address` to serve: host:port or unix:/path (repeatable; default "+server.DefaultAddr+")")
	fs.BoolVar(&verbose, "v", false, "log every request")
	fs.StringVar(&maxPayload, "max-payload", maxPayload, "largest message payload accepted (`size`: bytes, or with K, M, G)")
	fs.Var(&grace, "session-grace", "how long a session outlives its last connection")
	fs.Var(&maxWait, "max-wait", "longest a transfer or trace long-poll may wait")
	fs.IntVar(&traceSize, "trace-size", traceSize, "events kept in the trace ring (0 turns tracing off)")
	fs.StringVar(&socketMode, "socket-mode", socketMode, "permission `mode` of Unix sockets (octal)")
	fs.Var(&allowHosts, "allow-host", "extra Host `name` that browsers may use (repeatable)")
	fs.StringVar(&readyFile, "ready-file", "", "write the first listening address to this `file` once serving")
	fs.BoolVar(&shutdown, "shutdown", false, "ask the running switch at -s to stop, then exit")
	fs.StringVar(&dataDir, "data", "", "keep persistent queues and their messages in `dir` (default: memory only)")
	fs.StringVar(&fsyncMode, "fsync", fsyncMode, "with --data, when a send is on disk (`mode`): always (synced before its answer), interval=D or never")
	fs.BoolVar(&repair, "repair", false, "with --data, cut the log at a corrupt record instead of refusing to start")
	fs.StringVar(&cacheSize, "cache", cacheSize, "with --data, message bytes held in memory; past them a backlog stays on disk (`size`: bytes, or with K, M, G)")
	sf.register(fs, DefaultWait)
	if ok, code := c.parse(args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return c.usageError("unexpected argument %q", fs.Arg(0))
	}
	if shutdown {
		return askShutdown(c, &sf)
	}
	mp, err := parseSize(maxPayload)
	if err != nil {
		return c.usageError("--max-payload: %v", err)
	}
	mode, err := strconv.ParseUint(socketMode, 8, 32)
	if err != nil || mode > 0o777 {
		return c.usageError("--socket-mode %q: want an octal mode such as 0600", socketMode)
	}
	if len(listens) == 0 {
		listens = listenList{server.DefaultAddr}
	}
	if traceSize == 0 {
		traceSize = -1
	}
	fsyncOpt, err := logstore.ParseFsync(fsyncMode)
	if err != nil {
		return c.usageError("--fsync: %v", err)
	}
	cache, err := parseSize(cacheSize)
	if err != nil {
		return c.usageError("--cache: %v", err)
	}

	logger := log.New(stderr, "msw-switch: ", 0)
	var store broker.Store
	if dataDir != "" {
		st, err := logstore.Open(dataDir, logstore.Options{Fsync: fsyncOpt, Repair: repair, Logf: logger.Printf, CacheBytes: int64(cache)})
		if err != nil {
			return c.failf("--data %s: %v", dataDir, err)
		}
		defer st.Close()
		store = st
	}
	ctx, stop := signalContext()
	defer stop()
	metrics := server.NewMetrics()
	b := broker.New(broker.Options{
		MaxPayload: mp,
		Grace:      time.Duration(grace),
		MaxWait:    time.Duration(maxWait),
		TraceSize:  traceSize,
		OnReply:    metrics.ObserveReply,
		Store:      store,
		CacheBytes: int64(cache),
	})
	if store != nil {
		g := b.Gauges(nil)
		logger.Printf("data in %s, fsync %s: %d queues, %d messages", dataDir, fsyncOpt, g.Queues, g.Ready+g.InFlight)
	}
	srv := server.New(b, server.Options{Log: logger, Verbose: verbose, AllowHosts: allowHosts, OnShutdown: stop, Metrics: metrics})

	var listeners []net.Listener
	for _, addr := range listens {
		l, err := server.Listen(addr, iofs.FileMode(mode))
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return c.failf("listen %s: %v", addr, err)
		}
		listeners = append(listeners, l)
	}
	errc := make(chan error, len(listeners))
	for _, l := range listeners {
		logger.Printf("listening on %s", listenerAddr(l))
		go func() { errc <- srv.Serve(l) }()
	}
	if readyFile != "" {
		if err := writeFileAtomic(readyFile, listenerAddr(listeners[0])+"\n"); err != nil {
			srv.Shutdown(context.Background())
			return c.failf("--ready-file: %v", err)
		}
	}
	code := ExitOK
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil {
			logger.Printf("serving: %v", err)
			code = ExitFailure
		}
	}
	logger.Printf("stopping")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	for _, l := range listeners {
		if ua, ok := l.Addr().(*net.UnixAddr); ok {
			os.Remove(ua.Name)
		}
	}
	logger.Printf("stopped")
	return code
}

// listenerAddr renders a listener's address as clients give it.
func listenerAddr(l net.Listener) string {
	if ua, ok := l.Addr().(*net.UnixAddr); ok {
		return "unix:" + ua.Name
	}
	return l.Addr().String()
}

func writeFileAtomic(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func askShutdown(c *command, sf *switchFlags) int {
	cl, err := sf.client(c.name)
	if err != nil {
		return c.usageError("%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(max(sf.wait, waitValue(DefaultWait)))+5*time.Second)
	defer cancel()
	if err := cl.Shutdown(ctx); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stderr, "%s: asked the switch at %s to stop\n", c.name, cl.Addr())
	return ExitOK
}
