package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"msw/broker"
	"msw/internal/gctune"
	"msw/lib"
	"msw/server"
)

// mswSwitch is an in-process switch listening on loopback TCP and on a
// Unix socket.
type mswSwitch struct {
	b         *broker.Broker
	srv       *server.Server
	listeners []net.Listener
	tcp, unix string
}

var switchSeq atomic.Int64

func startMsw(opts broker.Options) (*mswSwitch, error) {
	// The collector tuned as msw-switch tunes it (unless GOGC is set);
	// the run's NATS server and every client share this process, and so
	// the same collector. Once per process: later calls change nothing.
	gctune.Start(gctune.DefaultHeadroom)
	m := &mswSwitch{b: broker.New(opts)}
	// No trim: it would collect and release the whole process's heap
	// while msw is quiet, in the middle of NATS's measurement (or of
	// another switch's).
	m.srv = server.New(m.b, server.Options{KeepMemory: true})
	sock := filepath.Join(cfg.work, fmt.Sprintf("msw-%d.sock", switchSeq.Add(1)))
	for _, addr := range []string{"127.0.0.1:0", "unix:" + sock} {
		l, err := server.Listen(addr, 0o600)
		if err != nil {
			m.close()
			return nil, err
		}
		m.listeners = append(m.listeners, l)
		go m.srv.Serve(l)
	}
	m.tcp = m.listeners[0].Addr().String()
	m.unix = "unix:" + sock
	return m, nil
}

// commandSwitch builds the msw commands and starts a switch for them to
// reach; the caller closes it.
func commandSwitch() (bin string, sw *mswSwitch, err error) {
	if bin, err = buildCommands(); err != nil {
		return "", nil, err
	}
	if sw, err = startMsw(broker.Options{}); err != nil {
		return "", nil, err
	}
	return bin, sw, nil
}

// addr returns the address clients use over the given transport.
func (m *mswSwitch) addr(transport string) string {
	if transport == "unix" {
		return m.unix
	}
	return m.tcp
}

// close shuts the switch down; nil (not started) is fine.
func (m *mswSwitch) close() {
	if m == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m.srv.Shutdown(ctx)
	for _, l := range m.listeners {
		l.Close()
	}
}

var clientSeq atomic.Int64

// client returns a new library client for the switch.
func (m *mswSwitch) client(transport string) *lib.Client {
	c, err := lib.New(lib.Options{Addr: m.addr(transport), ClientID: fmt.Sprintf("bench-%d", clientSeq.Add(1)), Wait: 5 * time.Second})
	if err != nil {
		panic(err) // addresses are our own
	}
	return c
}

// natsServer is an in-process NATS server with JetStream on a temporary
// store directory.
type natsServer struct {
	s   *natsserver.Server
	url string
}

func startNATS(storeDir string) (*natsServer, error) {
	return startNATSSync(storeDir, false)
}

// startNATSSync is startNATS; with syncAlways its file streams sync
// every write.
func startNATSSync(storeDir string, syncAlways bool) (*natsServer, error) {
	opts := &natsserver.Options{
		Host:       "127.0.0.1",
		Port:       -1,
		JetStream:  true,
		StoreDir:   storeDir,
		NoLog:      true,
		NoSigs:     true,
		SyncAlways: syncAlways,
	}
	s, err := natsserver.NewServer(opts)
	if err != nil {
		return nil, err
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("nats server not ready")
	}
	return &natsServer{s: s, url: s.ClientURL()}, nil
}

func (n *natsServer) connect() (*nats.Conn, error) {
	return nats.Connect(n.url, nats.MaxReconnects(0))
}

// jetStream connects and opens JetStream on the connection; the caller
// closes the connection.
func (n *natsServer) jetStream(opts ...jetstream.JetStreamOpt) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := n.connect()
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc, opts...)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

func (n *natsServer) close() {
	n.s.Shutdown()
	n.s.WaitForShutdown()
}

var sharedNATS *natsServer

// theNATS returns the run's NATS server, started on first use.
func theNATS() (*natsServer, error) {
	if sharedNATS != nil {
		return sharedNATS, nil
	}
	dir, err := os.MkdirTemp(cfg.work, "nats-")
	if err != nil {
		return nil, err
	}
	n, err := startNATS(dir)
	if err != nil {
		return nil, err
	}
	sharedNATS = n
	return n, nil
}

// startSystems starts a switch, if msw is measured, and returns it and,
// if NATS is measured, the run's NATS server. The caller closes the
// switch (nil when not started).
func startSystems() (*mswSwitch, *natsServer, error) {
	var sw *mswSwitch
	var err error
	if cfg.on("tcp") || cfg.on("unix") {
		if sw, err = startMsw(broker.Options{}); err != nil {
			return nil, nil, err
		}
	}
	var ns *natsServer
	if cfg.on("nats") {
		if ns, err = theNATS(); err != nil {
			sw.close()
			return nil, nil, err
		}
	}
	return sw, ns, nil
}

// order returns the systems to measure this round, rotated by round so
// that none always goes first.
func order(round int, systems ...string) []string {
	var on []string
	for _, s := range systems {
		if cfg.on(s) || (s != "tcp" && s != "unix" && s != "nats") {
			on = append(on, s)
		}
	}
	if len(on) == 0 {
		return nil
	}
	k := round % len(on)
	return append(on[k:len(on):len(on)], on[:k]...)
}

// rateRounds measures cfg.rounds rounds of msw over TCP and the Unix
// socket (msw, given the transport) and of NATS (nats), in an order
// rotated every round, and adds work/duration of each to row under tcp,
// unix and ref. after, if set, runs after every measurement. An error
// names the system it came from.
func rateRounds(row *Row, work float64, msw func(transport string) (time.Duration, error), nats func() (time.Duration, error), after func()) error {
	for round := range cfg.rounds {
		for _, sys := range order(round, "tcp", "unix", "nats") {
			var d time.Duration
			var err error
			rec := sys
			if sys == "nats" {
				rec = "ref"
				d, err = nats()
			} else {
				d, err = msw(sys)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", sys, err)
			}
			row.add(rec, work/d.Seconds())
			if after != nil {
				after()
			}
		}
	}
	return nil
}
