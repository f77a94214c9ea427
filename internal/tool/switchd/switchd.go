package switchd

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
	"msw/compat"
	"msw/internal/tool"
	"msw/internal/wire"
	"msw/server"
)

const switchUsage = `
Usage: msw-switch [options]
       msw-switch --shutdown [-s ADDR]

Run the message switch: named queues held in memory, served over HTTP on
each --listen address (default 127.0.0.1:8080). With --data DIR its
persistent queues and their messages are kept in a log in DIR and survive
a restart, kill -9 and power loss. With --backend they live in a NATS
JetStream cluster instead, and several switches serve the same queues.
Logs one line per lifecycle event to stderr; -v adds one per request.
SIGINT and SIGTERM stop it cleanly, as does 'msw-switch --shutdown'.
Open the listening address in a browser (http://127.0.0.1:8080/) for a live view of its
queues, services and trace; the page only reads unless --ui-writes.
`

var switchGroups = []tool.OptionGroup{
	tool.Group("Serving", "listen", "compat", "socket-mode", "allow-host", "ready-file", "ui-writes", "verbose"),
	tool.Group("Durability", "data", "fsync", "cache", "repair"),
	tool.Group("Scaling out", "backend", "replicas", "backend-ack-wait", "backend-creds", "backend-ca"),
	tool.Group("Limits", "max-payload", "max-wait", "session-grace", "trace-size"),
	tool.Group("Stopping a running switch", "shutdown", "switch", "wait", "client-id"),
}

// listenList is a repeatable --listen flag.
type listenList []string

func (l *listenList) String() string { return strings.Join(*l, ",") }
func (l *listenList) Type() string   { return "address" }
func (l *listenList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// Run is the body of msw-switch.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := tool.NewCommand("msw-switch", switchUsage, stdout, stderr)
	var (
		listens    listenList
		compats    listenList
		allowHosts listenList
		verbose    bool
		maxPayload = "16MiB"
		grace      = tool.DurationValue(broker.DefaultGrace)
		maxWait    = tool.DurationValue(broker.DefaultMaxWait)
		traceSize  = broker.DefaultTraceSize
		socketMode = "0600"
		readyFile  string
		shutdown   bool
		uiWrites   bool
		sf         tool.SwitchFlags
		dur        durability
		be         backend
	)
	fs := c.Flags
	fs.Var(&listens, "listen", "`address` to serve: host:port or unix:/path (repeatable; default "+server.DefaultAddr+")")
	fs.Func("compat", "also serve the original message-switch's protocol on this `address`: unix:/path or a loopback host:port (repeatable)", func(a string) error {
		compats = append(compats, a)
		return compat.CheckAddr(a)
	})
	fs.BoolVarP(&verbose, "verbose", "v", false, "log every request")
	fs.StringVar(&maxPayload, "max-payload", maxPayload, "largest message payload accepted (`size`: bytes, or with K, M, G)")
	fs.Var(&grace, "session-grace", "`duration` a session outlives its last connection")
	fs.Var(&maxWait, "max-wait", "longest `duration` a transfer or trace long-poll may wait")
	fs.IntVar(&traceSize, "trace-size", traceSize, "`N` events kept in the trace ring (0 turns tracing off)")
	fs.StringVar(&socketMode, "socket-mode", socketMode, "permission `mode` of Unix sockets (octal)")
	fs.Var(&allowHosts, "allow-host", "extra Host `name` that browsers may use (repeatable)")
	fs.StringVar(&readyFile, "ready-file", "", "write the first listening address to this `file` once serving")
	fs.BoolVar(&uiWrites, "ui-writes", false, "let the web page on / destroy queues and ack messages (each after a confirmation); without it the page only reads")
	fs.BoolVar(&shutdown, "shutdown", false, "ask the running switch at -s to stop, then exit")
	dur.register(fs)
	be.register(fs)
	sf.Register(fs, tool.DefaultWait)
	if ok, code := c.Parse(args, switchGroups); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return c.UsageError("unexpected argument %q", fs.Arg(0))
	}
	if shutdown {
		return askShutdown(c, &sf)
	}
	mp, err := tool.ParseSize(maxPayload)
	if err != nil {
		return c.UsageError("--max-payload: %v", err)
	}
	mode, err := strconv.ParseUint(socketMode, 8, 32)
	if err != nil || mode > 0o777 {
		return c.UsageError("--socket-mode %q: want an octal mode such as 0600", socketMode)
	}
	if len(listens) == 0 {
		listens = listenList{server.DefaultAddr}
	}
	if traceSize == 0 {
		traceSize = -1
	}

	logger := log.New(stderr, "msw-switch: ", 0)
	store, cache, code := dur.open(c, logger)
	if code != tool.ExitOK {
		return code
	}
	if store != nil {
		defer store.Close()
	}
	engine, code := be.open(c, logger, dur.dir != "")
	if code != tool.ExitOK {
		return code
	}
	if engine != nil {
		defer engine.Close()
	}
	ctx, stop := tool.SignalContext()
	defer stop()
	metrics := server.NewMetrics()
	b := broker.New(broker.Options{
		MaxPayload: mp,
		Grace:      time.Duration(grace),
		MaxWait:    time.Duration(maxWait),
		TraceSize:  traceSize,
		OnReply:    metrics.ObserveReply,
		Store:      dur.store(store),
		CacheBytes: cache,
		Engine:     be.engine(engine),
		KeepAlive:  be.keepAlive(),
	})
	if store != nil {
		g := b.Gauges(nil)
		logger.Printf("data in %s, fsync %s: %d queues, %d messages", dur.dir, dur.fsync, g.Queues, g.Ready+g.InFlight)
	}
	srv := server.New(b, server.Options{Log: logger, Verbose: verbose, AllowHosts: allowHosts, OnShutdown: stop, Metrics: metrics, UIWrites: uiWrites})

	cs := compat.New(b, srv, compat.Options{Log: logger, OnShutdown: stop})
	listeners, err := listenAll(listens, compats, iofs.FileMode(mode))
	if err != nil {
		return c.Failf("%v", err)
	}
	return serve(ctx, c, logger, srv, cs, listeners, len(listens), readyFile)
}

// listenAll opens a listener on each address, msw's own first and then
// the --compat ones; on a failure, it closes those it opened.
func listenAll(addrs, compats []string, mode iofs.FileMode) ([]net.Listener, error) {
	var listeners []net.Listener
	for i, addr := range append(addrs[:len(addrs):len(addrs)], compats...) {
		listen := server.Listen
		if i >= len(addrs) {
			listen = compat.Listen
		}
		l, err := listen(addr, mode)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return nil, fmt.Errorf("listen %s: %v", addr, err)
		}
		listeners = append(listeners, l)
	}
	return listeners, nil
}

// serve serves msw's protocol on the first nOwn listeners and the
// original's on the rest until ctx ends or one fails, writes the first
// one's address to readyFile (if set) once serving, and shuts both
// servers down at the end.
func serve(ctx context.Context, c *tool.Command, logger *log.Logger, srv *server.Server, cs *compat.Server, listeners []net.Listener, nOwn int, readyFile string) int {
	errc := make(chan error, len(listeners))
	for i, l := range listeners {
		if i >= nOwn {
			logger.Printf("listening on %s (message-switch protocol)", listenerAddr(l))
			go func() { errc <- cs.Serve(l) }()
			continue
		}
		logger.Printf("listening on %s", listenerAddr(l))
		go func() { errc <- srv.Serve(l) }()
	}
	if readyFile != "" {
		if err := writeFileAtomic(readyFile, listenerAddr(listeners[0])+"\n"); err != nil {
			srv.Shutdown(context.Background())
			return c.Failf("--ready-file: %v", err)
		}
	}
	code := tool.ExitOK
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil {
			logger.Printf("serving: %v", err)
			code = tool.ExitFailure
		}
	}
	logger.Printf("stopping")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cs.Shutdown(sctx)
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
		return wire.Addr{Network: "unix", Address: ua.Name}.String()
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

func askShutdown(c *tool.Command, sf *tool.SwitchFlags) int {
	cl, err := sf.Client(c.Name)
	if err != nil {
		return c.UsageError("%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(max(sf.Wait, tool.WaitValue(tool.DefaultWait)))+5*time.Second)
	defer cancel()
	if err := cl.Shutdown(ctx); err != nil {
		return c.Fail(err)
	}
	fmt.Fprintf(c.Stderr, "%s: asked the switch at %s to stop\n", c.Name, cl.Addr())
	return tool.ExitOK
}
