// Package natstest runs a NATS JetStream cluster inside a test process:
// each node on loopback ports of its own with its own store directory,
// for the tests of msw-switch's --backend nats.
package natstest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"msw/internal/testutil"
)

// ElectionWait bounds the waits for a node to start and for the cluster
// to elect a leader, at start, after a restart and after a node is
// killed. NATS's Raft waits 4
// to 9 s before it calls an election, and a split vote starts another;
// under the race detector on a loaded machine a first election has taken
// more than 10 s.
const ElectionWait = 60 * time.Second

// Cluster is a JetStream cluster of in-process nodes.
type Cluster struct {
	// URL lists every node's client URL, separated by commas, as
	// msw-switch --backend takes it.
	URL string

	tb       tb
	accounts int
	next     atomic.Int64 // NextAccountURL's count
	opts     []*server.Options
	nodes    []*server.Server // nil while killed
}

// tb is what a cluster needs of a test: testing.TB, or the owner of a
// cluster shared by a whole test run (StartShared).
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
	TempDir() string
	Cleanup(func())
}

// Start runs a cluster of n nodes and waits until it has elected its
// JetStream leader. The cluster stops when the test ends.
func Start(tb testing.TB, n int) *Cluster { return StartAccounts(tb, n, 0) }

// StartAccounts is Start with accounts isolated from each other, each
// with JetStream of its own (AccountURL), so that tests sharing one
// cluster may use the same queue names.
func StartAccounts(tb testing.TB, n, accounts int) *Cluster {
	tb.Helper()
	return start(tb, n, accounts)
}

func start(tb tb, n, accounts int) *Cluster {
	tb.Helper()
	ports := freePorts(tb, 2*n)
	var routes, urls []string
	for i := 0; i < n; i++ {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[n+i]))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	c := &Cluster{URL: strings.Join(urls, ","), tb: tb, nodes: make([]*server.Server, n), accounts: accounts}
	for i := 0; i < n; i++ {
		if accounts > 0 {
			c.opts = append(c.opts, accountOptions(tb, i, ports[i], ports[n+i], routes, accounts))
			continue
		}
		c.opts = append(c.opts, &server.Options{
			ServerName:         fmt.Sprintf("n%d", i+1),
			Host:               "127.0.0.1",
			Port:               ports[i],
			JetStream:          true,
			JetStreamMaxMemory: 64 << 20,
			JetStreamMaxStore:  1 << 30,
			StoreDir:           tb.TempDir(),
			Cluster: server.ClusterOpts{
				Name: "msw-test",
				Host: "127.0.0.1",
				Port: ports[n+i],
			},
			Routes: server.RoutesFromStr(strings.Join(routes, ",")),
			NoLog:  true,
			NoSigs: true,
		})
	}
	for i := range c.nodes {
		c.start(i)
	}
	tb.Cleanup(func() {
		for i := range c.nodes {
			c.Kill(i)
		}
	})
	c.WaitReady()
	return c
}

// freePorts returns n loopback ports free at the time of asking, taken
// below the kernel's ephemeral range (32768 up, on Linux): a port handed
// out by listening on port 0 may be taken again, once closed, as the
// local port of any outgoing connection of the test run before its node
// listens on it; a port below that range can only be taken by another
// listener choosing it on purpose.
func freePorts(tb tb, n int) []int {
	tb.Helper()
	var ls []net.Listener
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries == 1000 {
			tb.Fatalf("natstest: no %d free loopback ports found in 20000-32767", n)
		}
		port := 20000 + rand.IntN(12768)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ls = append(ls, l)
		ports = append(ports, port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func (c *Cluster) start(i int) {
	c.tb.Helper()
	s, err := server.NewServer(c.opts[i])
	if err != nil {
		c.tb.Fatalf("nats node %d: %v", i+1, err)
	}
	go s.Start()
	// A node is ready once its JetStream has started, which takes more
	// than 10 s on a loaded machine under the race detector.
	if !s.ReadyForConnections(ElectionWait) {
		s.Shutdown()
		c.tb.Fatalf("nats node %d (client port %d, cluster port %d): not ready for connections within %v",
			i+1, c.opts[i].Port, c.opts[i].Cluster.Port, ElectionWait)
	}
	c.nodes[i] = s
}

// Kill stops node i (from 0) at once, as a crash would; its store stays.
func (c *Cluster) Kill(i int) {
	if s := c.nodes[i]; s != nil {
		c.nodes[i] = nil
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// Restart starts node i again on its ports and store, and waits until the
// cluster has a JetStream leader that sees every node.
func (c *Cluster) Restart(i int) {
	c.tb.Helper()
	c.start(i)
	c.WaitReady()
}

// WaitReady waits until every running node sees a JetStream leader and
// all the cluster's peers.
func (c *Cluster) WaitReady() {
	c.tb.Helper()
	var leader bool
	var routes, peers []int
	ready := testutil.Within(ElectionWait, func() bool {
		leader = false
		routes, peers = routes[:0], peers[:0]
		for _, s := range c.nodes {
			if s == nil {
				continue
			}
			routes = append(routes, s.NumRoutes())
			if !s.JetStreamIsCurrent() {
				return false
			}
			if s.JetStreamIsLeader() {
				// Only the leader knows the peers.
				peers = append(peers, len(s.JetStreamClusterPeers()))
				leader = len(s.JetStreamClusterPeers()) == len(c.nodes)
			}
		}
		return leader
	})
	if !ready {
		c.tb.Fatalf("nats cluster ready: not reached within %v (routes per running node %v; peers seen by a leader %v of %d)",
			ElectionWait, routes, peers, len(c.nodes))
	}
}

// Leader returns the index of the node that leads JetStream now, or -1.
func (c *Cluster) Leader() int {
	for i, s := range c.nodes {
		if s != nil && s.JetStreamIsLeader() {
			return i
		}
	}
	return -1
}

// accountOptions are node i's options with the given number of accounts,
// from a configuration file: accounts with JetStream have no other
// form as plain options.
func accountOptions(tb tb, i, port, clusterPort int, routes []string, accounts int) *server.Options {
	tb.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "server_name: n%d\nlisten: \"127.0.0.1:%d\"\n", i+1, port)
	fmt.Fprintf(&b, "jetstream { store_dir: %q, max_memory_store: 64MB, max_file_store: 1GB }\n", tb.TempDir())
	fmt.Fprintf(&b, "cluster { name: msw-test, listen: \"127.0.0.1:%d\", routes: [%s] }\n", clusterPort, strings.Join(routes, ", "))
	b.WriteString("accounts {\n")
	for a := 1; a <= accounts; a++ {
		fmt.Fprintf(&b, "  T%d: { jetstream: enabled, users: [{user: t%d, password: t%d}] }\n", a, a, a)
	}
	b.WriteString("}\n")
	path := filepath.Join(tb.TempDir(), "node.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		tb.Fatalf("%v", err)
	}
	o, err := server.ProcessConfigFile(path)
	if err != nil {
		tb.Fatalf("nats node %d: %v", i+1, err)
	}
	o.NoLog, o.NoSigs = true, true
	return o
}

// AccountURL is URL for account a (from 1) of a cluster started with
// StartAccounts.
func (c *Cluster) AccountURL(a int) string {
	if a < 1 || a > c.accounts {
		c.tb.Fatalf("natstest: account %d of %d", a, c.accounts)
	}
	return strings.ReplaceAll(c.URL, "nats://", fmt.Sprintf("nats://t%d:t%d@", a, a))
}

// NextAccountURL is AccountURL of the account after the one it returned
// last, from the first again after the last: for tests sharing a cluster
// that each take an account of their own.
func (c *Cluster) NextAccountURL() string {
	return c.AccountURL(1 + int((c.next.Add(1)-1)%int64(c.accounts)))
}
