package switchd

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"msw/broker"
	"msw/compat"
	"msw/internal/gctune"
	"msw/internal/tool"
	"msw/internal/wire"
	"msw/lib"
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
SIGINT and SIGTERM stop it cleanly, and it exits 130 or 143 as every
command a signal interrupts does; after 'msw-switch --shutdown' it exits 0.
Open the listening address in a browser (http://127.0.0.1:8080/) for a live view of its
queues, services and trace; the page only reads unless --ui-writes.
`

var switchGroups = []tool.OptionGroup{
	tool.Group("Serving", "listen", "compat", "socket-mode", "socket-group", "allow-host", "ready-file", "ui-writes", "verbose"),
	tool.Group("Who may connect", "token-file", "tls-cert", "tls-key", "insecure-listen", "compat-insecure", "tls-ca"),
	tool.Group("Durability", "data", "fsync", "cache", "repair"),
	tool.Group("Scaling out", "backend", "replicas", "backend-ack-wait", "backend-creds", "backend-ca"),
	tool.Group("Limits", "max-payload", "max-memory", "max-conns", "max-sessions", "max-queues", "max-wait", "session-grace", "trace-size"),
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

		tlsCert, tlsKey, socketGroup string
		insecure, compatInsecure     bool
		maxMemory                    = defaultMaxMemory()
		maxConns                     = server.DefaultConns()
		maxSessions                  = broker.DefaultMaxSessions
		maxQueues                    = broker.DefaultMaxQueues
	)
	fs := c.Flags
	fs.Var(&listens, "listen", "`address` to serve: host:port or unix:/path (repeatable; default "+lib.EnvSwitch+", else "+server.DefaultAddr+")")
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
	fs.StringVar(&socketGroup, "socket-group", "", "give Unix sockets to this `group` (name or number); use with --socket-mode 0660")
	fs.StringVar(&tlsCert, "tls-cert", "", "serve TCP with TLS using this certificate `file` (PEM; clients: https:// addresses)")
	fs.StringVar(&tlsKey, "tls-key", "", "the private key `file` of --tls-cert (PEM)")
	fs.BoolVar(&compatInsecure, "compat-insecure", false, "with --token-file, still serve --compat on loopback TCP, where the original protocol lets any local user in without the token")
	fs.BoolVar(&insecure, "insecure-listen", false, "let a non-loopback --listen go without a token or TLS: anyone who reaches the port may read, delete and stop everything")
	fs.StringVar(&maxMemory, "max-memory", maxMemory, "most bytes the switch's messages may hold, each counted with 128 B of overhead (`size`; default half the machine's memory); a send past it gets 507 memory_full")
	fs.IntVar(&maxConns, "max-conns", maxConns, "most open client connections (`N`; default 10000, or the open-file limit less 128 if lower); past it a connection gets 429")
	fs.IntVar(&maxSessions, "max-sessions", maxSessions, "most sessions at once (`N`); past it a login gets 429")
	fs.IntVar(&maxQueues, "max-queues", maxQueues, "most queues at once (`N`); past it a create gets 429")
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
	mm, err := tool.ParseSize(maxMemory)
	if err != nil {
		return c.UsageError("--max-memory: %v", err)
	}
	from := "--listen"
	if len(listens) == 0 {
		from, listens = lib.EnvSwitch, listenList{os.Getenv(lib.EnvSwitch)}
		if listens[0] == "" {
			from, listens = "the default address", listenList{server.DefaultAddr}
		}
	}
	for _, addr := range listens {
		if _, err := wire.ParseAddr(addr); err != nil {
			return c.UsageError("%s: %v", from, err)
		}
	}
	// --token-file (from SwitchFlags) is the token the switch demands,
	// and the one --shutdown sends.
	var token string
	if sf.TokenFile != "" {
		if token, err = readToken(sf.TokenFile); err != nil {
			return c.UsageError("--token-file: %v", err)
		}
	}
	tlsConf, err := loadTLS(tlsCert, tlsKey)
	if err != nil {
		return c.UsageError("%v", err)
	}
	for _, l := range listens {
		if exposed(l) && token == "" && tlsConf == nil && !insecure {
			return c.Failf("--listen %s reaches beyond this machine: give --token-file and/or --tls-cert/--tls-key (or --insecure-listen to let anyone who reaches it do anything)", l)
		}
	}
	if token != "" {
		for _, a := range compats {
			if err := compat.CheckLocked(a, compatInsecure); err != nil {
				return c.Failf("%v", err)
			}
		}
	}
	if traceSize == 0 {
		traceSize = -1
	}

	setMemoryLimit(int64(mm))
	defer gctune.Start(gctune.DefaultHeadroom)() // unless GOGC is set
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
		MaxMemory:   int64(mm),
		MaxSessions: maxSessions,
		MaxQueues:   maxQueues,
		MaxPayload:  mp,
		Grace:       time.Duration(grace),
		MaxWait:     time.Duration(maxWait),
		TraceSize:   traceSize,
		OnReply:     metrics.ObserveReply,
		Store:       dur.store(store),
		CacheBytes:  cache,
		Engine:      be.engine(engine),
		KeepAlive:   be.keepAlive(),
	})
	if store != nil {
		g := b.Gauges(nil)
		logger.Printf("data in %s, fsync %s: %d queues, %d messages", dur.dir, dur.fsync, g.Queues, g.Ready+g.InFlight)
	}
	gw, err := be.cluster(engine, b, listens, traceSize)
	if err != nil {
		return c.Failf("%v", err)
	}
	if gw != nil {
		defer gw.Close()
		logger.Printf("gateway %s: msw-diag and msw-tail here show every gateway of the cluster", gw.ID())
	}
	srv := server.New(b, server.Options{Log: logger, Verbose: verbose, AllowHosts: allowHosts, OnShutdown: stop, Metrics: metrics, UIWrites: uiWrites,
		Token: token, TLS: tlsConf, Limits: server.Limits{MaxConns: maxConns}, Cluster: serverCluster(gw)})

	cs := compat.New(b, srv, compat.Options{Log: logger, OnShutdown: stop})
	listeners, err := listenAll(listens, compats, iofs.FileMode(mode))
	if err != nil {
		return c.Failf("%v", err)
	}
	for i, l := range listeners {
		if ua, ok := l.Addr().(*net.UnixAddr); ok {
			if socketGroup != "" {
				if err := chgrpSocket(ua.Name, socketGroup); err != nil {
					closeAll(listeners)
					return c.Failf("%v", err)
				}
			}
			continue
		}
		if i >= len(listens) { // a --compat on loopback TCP
			if token != "" {
				logger.Printf("WARNING: --compat-insecure: %s serves the original protocol, which has no token: any local user may read and delete every message and stop the switch through it", compats[i-len(listens)])
			}
			continue
		}
		if exposed(listens[i]) && token == "" && tlsConf == nil {
			logger.Printf("WARNING: --insecure-listen: %s is open to anyone who can reach it, with no token and no TLS: they may read and delete every message and stop the switch", listens[i])
		}
		if tlsConf != nil {
			listeners[i] = tlsListener{l}
		}
	}
	return serve(ctx, c, logger, srv, cs, listeners, append(listens[:len(listens):len(listens)], compats...), len(listens), readyFile)
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
			closeAll(listeners)
			return nil, fmt.Errorf("listen %s: %v", addr, err)
		}
		listeners = append(listeners, l)
	}
	return listeners, nil
}

func closeAll(listeners []net.Listener) {
	for _, l := range listeners {
		l.Close()
	}
}

// memoryHeadroom is what the switch may use beyond --max-memory: its
// connections' buffers, requests being decoded, the trace, the runtime.
const memoryHeadroom = 256 << 20

// setMemoryLimit tells the Go runtime to collect harder as the switch
// nears --max-memory plus its headroom, so that its resident memory
// stays near what it holds instead of growing to twice that between
// collections. GOMEMLIMIT, if set, is left as the operator gave it.
func setMemoryLimit(maxMemory int64) {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(maxMemory + memoryHeadroom)
	}
}

// defaultMaxMemory is half the machine's memory, or 1 GiB if unknown.
func defaultMaxMemory() string {
	if m := physicalMemory(); m > 0 {
		return strconv.FormatInt(m/2>>20, 10) + "MiB"
	}
	return "1GiB"
}

// serve serves msw's protocol on the first nOwn listeners and the
// original's on the rest until ctx ends or one fails, writes the first
// one's address (as given, with the port it got) to readyFile (if set) once serving, and shuts both
// servers down at the end.
func serve(ctx context.Context, c *tool.Command, logger *log.Logger, srv *server.Server, cs *compat.Server, listeners []net.Listener, given []string, nOwn int, readyFile string) int {
	errc := make(chan error, len(listeners))
	for i, l := range listeners {
		if i >= nOwn {
			logger.Printf("listening on %s (message-switch protocol)", listenerAddr(l, given[i]))
			go func() { errc <- cs.Serve(l) }()
			continue
		}
		logger.Printf("listening on %s", listenerAddr(l, given[i]))
		go func() { errc <- srv.Serve(l) }()
	}
	if readyFile != "" {
		if err := writeFileAtomic(readyFile, listenerAddr(listeners[0], given[0])+"\n"); err != nil {
			srv.Shutdown(context.Background())
			return c.Failf("--ready-file: %v", err)
		}
	}
	code := tool.ExitOK
	select {
	case <-ctx.Done():
		// A signal stops the switch in order as a shutdown request
		// does, but exits as the shell reports a process the signal
		// ended: 130 for SIGINT, 143 for SIGTERM.
		if errors.Is(context.Cause(ctx), tool.ErrInterrupted) {
			code = tool.InterruptStatus()
		}
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

// listenerAddr renders a listener's address as it was given (localhost
// stays localhost), with the port it got if it asked for any (port 0).
func listenerAddr(l net.Listener, given string) string {
	if ua, ok := l.Addr().(*net.UnixAddr); ok {
		return wire.Addr{Network: "unix", Address: ua.Name}.String()
	}
	hostport := l.Addr().String()
	a, err := wire.ParseAddr(given)
	host, _, err2 := net.SplitHostPort(a.Address)
	if ta, ok := l.Addr().(*net.TCPAddr); ok && err == nil && err2 == nil {
		hostport = net.JoinHostPort(host, strconv.Itoa(ta.Port))
	}
	if _, ok := l.(tlsListener); ok {
		return "https://" + hostport
	}
	return hostport
}

// tlsListener marks a TCP listener the server speaks TLS on.
type tlsListener struct{ net.Listener }

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
	sigCtx, stop := tool.SignalContext()
	defer stop()
	ctx, cancel := context.WithTimeout(sigCtx, time.Duration(max(sf.Wait, tool.WaitValue(tool.DefaultWait)))+5*time.Second)
	defer cancel()
	if err := cl.Shutdown(ctx); err != nil {
		return c.Fail(err)
	}
	fmt.Fprintf(c.Stderr, "%s: asked the switch at %s to stop\n", c.Name, cl.Addr())
	return tool.ExitOK
}
