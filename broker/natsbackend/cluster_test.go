package natsbackend_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"msw/broker"
	"msw/broker/natsbackend"
	"msw/internal/natstest"
	"msw/internal/switchtest"
	"msw/internal/testutil"
	"msw/internal/tool/diag"
	"msw/internal/tool/tail"
	"msw/internal/tool/tooltest"
	"msw/internal/wire"
	"msw/lib"
	"msw/server"
)

// clusterGateway is a gateway that gathers diagnostics and trace from
// the cluster's other gateways, as msw-switch --backend runs one.
type clusterGateway struct {
	*gateway
	cluster *natsbackend.Cluster
}

// startClusterGateway runs a gateway named id on c. A gathering waits
// half a second for a gateway that does not answer; the gateway says
// hello again every quarter second.
func startClusterGateway(t *testing.T, c *natstest.Cluster, id string) *clusterGateway {
	t.Helper()
	e, err := natsbackend.Open(natsbackend.Options{URL: c.URL, Replicas: 3, AckWait: testAckWait, Name: id})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	// The broker the cluster part answers from is the switch's: it is
	// bound once the switch runs (the server asks it only then).
	lazy := &lazyCluster{}
	sw := switchtest.Start(t, "", broker.Options{Engine: e, KeepAlive: testAckWait / 4}, server.Options{Cluster: lazy, Metrics: server.NewMetrics()})
	cl, err := natsbackend.NewCluster(e, sw.Broker, natsbackend.ClusterOptions{ID: id, GatherWait: 500 * time.Millisecond, HelloEvery: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	lazy.p.Store(cl)
	t.Cleanup(cl.Close)
	return &clusterGateway{gateway: &gateway{Switch: sw, engine: e}, cluster: cl}
}

// waitKnown waits until every gateway of gws knows every other: interest
// in the hello subject reaches the cluster's other NATS servers a moment
// after a gateway subscribes, so a gateway's first hello may be lost.
func waitKnown(t *testing.T, gws ...*clusterGateway) {
	t.Helper()
	var ids []string
	for _, g := range gws {
		ids = append(ids, g.cluster.ID())
	}
	slices.Sort(ids)
	for _, g := range gws {
		testutil.Eventually(t, g.cluster.ID()+" knowing "+strings.Join(ids, ", "), func() bool {
			return slices.Equal(g.cluster.Gateways(), ids)
		})
	}
}

// TestGatewaysLearnEachOtherAgain: a gateway that forgot another (it
// answered a gathering too late, or its first hello was lost) learns it
// again from its repeated hello.
func TestGatewaysLearnEachOtherAgain(t *testing.T) {
	c := natstest.Start(t, 3)
	a := startClusterGateway(t, c, "gw-a")
	b := startClusterGateway(t, c, "gw-b")
	waitKnown(t, a, b)
	a.cluster.Forget("gw-b")
	waitKnown(t, a, b)
}

// lazyCluster lets a test give the server its cluster part after the
// switch (whose broker the part answers from) has started.
type lazyCluster struct {
	p atomic.Pointer[natsbackend.Cluster]
}

func (l *lazyCluster) Snapshot(ctx context.Context, maxMessages int) wire.Snapshot {
	return l.p.Load().Snapshot(ctx, maxMessages)
}

func (l *lazyCluster) Trace(ctx context.Context, after uint64, max int, timeout time.Duration) wire.TraceResponse {
	return l.p.Load().Trace(ctx, after, max, timeout)
}

// TestClusterDiag: msw-diag asked of gateway A shows a session held by
// gateway B, names the gateways that answered, and names B missing once
// it died.
func TestClusterDiag(t *testing.T) {
	c := natstest.Start(t, 3)
	a := startClusterGateway(t, c, "gw-a")
	b := startClusterGateway(t, c, "gw-b")
	waitKnown(t, a, b)
	ctx := ctxT(t)
	onB := client(t, b.gateway, "worker-on-b")
	if err := onB.CreateQueue(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	if err := onB.Subscribe(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	reply, err := onB.CreateTransient(ctx, "")
	if err != nil {
		t.Fatal(err)
	}

	onA := client(t, a.gateway, "looker")
	snap, err := onA.Diagnostics(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Cluster == nil || snap.Cluster.Gateway != "gw-a" || !slices.Equal(snap.Cluster.Answered, []string{"gw-a", "gw-b"}) || len(snap.Cluster.Missing) != 0 {
		t.Errorf("cluster: %+v", snap.Cluster)
	}
	i := slices.IndexFunc(snap.Sessions, func(s lib.SessionInfo) bool { return s.ClientID == "worker-on-b" })
	if i < 0 || snap.Sessions[i].Gateway != "gw-b" || !slices.Equal(snap.Sessions[i].Subscribed, []string{"jobs"}) {
		t.Errorf("sessions: %+v", snap.Sessions)
	}
	queues := map[string]lib.QueueSnapshot{}
	for _, q := range snap.Queues {
		queues[q.Name] = q
	}
	if q, ok := queues["jobs"]; !ok || q.Subscribers != 1 {
		t.Errorf("queue jobs: %+v (present %v)", q, ok)
	}
	if q, ok := queues[reply]; !ok || q.Kind != "transient" || q.Owner != "worker-on-b" {
		t.Errorf("B's transient queue %s: %+v (present %v)", reply, q, ok)
	}

	code, out, errs := tooltest.Run(diag.Run, "-s", a.Addr, "-v")
	if code != 0 || errs != "" {
		t.Fatalf("msw-diag: exit %d, stderr %q", code, errs)
	}
	for _, want := range []string{"Cluster: gathered by gateway gw-a from 2 gateways: gw-a, gw-b.", "worker-on-b (session ", ", on gateway gw-b"} {
		if !strings.Contains(out, want) {
			t.Errorf("msw-diag output lacks %q:\n%s", want, out)
		}
	}

	// /metrics stays each gateway's own, but a cluster queue's depth is
	// the cluster's: two sends through B count on A, which never used the
	// queue.
	if _, err := onB.SendBatch(ctx, "jobs", []lib.Message{{Payload: []byte("1")}, {Payload: []byte("2")}}); err != nil {
		t.Fatal(err)
	}
	// (The consumer's count follows the stream's a moment later.)
	testutil.Eventually(t, "gw-a's /metrics showing the depth of jobs", func() bool {
		return strings.Contains(scrape(t, a.Addr), `msw_queue_depth{queue="jobs"} 2`+"\n")
	})
	if want := `msw_queue_subscribers{queue="jobs"} 0`; !strings.Contains(scrape(t, a.Addr), want+"\n") {
		t.Errorf("gw-a's /metrics lacks %q", want)
	}

	b.crash() // no goodbye: A finds out by asking
	snap, err = onA.Diagnostics(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(snap.Cluster.Answered, []string{"gw-a"}) || !slices.Equal(snap.Cluster.Missing, []string{"gw-b"}) {
		t.Errorf("after B died: %+v", snap.Cluster)
	}
	if slices.ContainsFunc(snap.Sessions, func(s lib.SessionInfo) bool { return s.Gateway == "gw-b" }) {
		t.Errorf("B's sessions still listed: %+v", snap.Sessions)
	}
}

// scrape reads a switch's /metrics.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s, %v", resp.Status, err)
	}
	return string(body)
}

// TestClusterTail: msw-tail following gateway A prints a send made
// through gateway B, marked with B, and a send through A.
func TestClusterTail(t *testing.T) {
	c := natstest.Start(t, 3)
	a := startClusterGateway(t, c, "gw-a")
	b := startClusterGateway(t, c, "gw-b")
	waitKnown(t, a, b)
	ctx := ctxT(t)
	onB := client(t, b.gateway, "sender-b")
	onA := client(t, a.gateway, "sender-a")
	if err := onB.CreateQueue(ctx, "traced"); err != nil {
		t.Fatal(err)
	}

	type result struct {
		code      int
		out, errs string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errs := tooltest.Run(tail.Run, "-s", a.Addr, "-f", "-n", "all", "--queue", "traced", "--count", "3")
		done <- result{code, out, errs}
	}()
	for _, s := range []struct {
		cl      *lib.Client
		payload string
	}{{onB, "from b"}, {onA, "from a"}} {
		if _, err := s.cl.Send(ctx, "traced", lib.Message{Payload: []byte(s.payload)}); err != nil {
			t.Fatal(err)
		}
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(testutil.WaitLimit):
		t.Fatalf("msw-tail following gw-a did not print 3 events of queue traced within %v", testutil.WaitLimit)
	}
	if r.code != 0 || r.errs != "" {
		t.Fatalf("msw-tail: exit %d, stderr %q, stdout:\n%s", r.code, r.errs, r.out)
	}
	// The queue's creation, then both sends, each marked where it happened.
	for _, want := range []string{"sender-b → traced @gw-b", "sender-a → traced @gw-a", "from b", "from a"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("msw-tail output lacks %q:\n%s", want, r.out)
		}
	}

	// The library's view: every event names its gateway, and paging on
	// from Next waits for the next event from anywhere.
	tr, err := onA.Trace(ctx, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range tr.Events {
		if ev.Gateway != "gw-a" && ev.Gateway != "gw-b" {
			t.Errorf("event without its gateway: %+v", ev)
		}
	}
	got := make(chan *lib.TraceResponse, 1)
	go func() {
		tctx, cancel := context.WithTimeout(ctx, testutil.WaitLimit)
		defer cancel()
		tr, _ := onA.Trace(tctx, tr.Next, 0, 10*time.Second)
		got <- tr
	}()
	if _, err := onB.Send(ctx, "traced", lib.Message{Payload: []byte("later")}); err != nil {
		t.Fatal(err)
	}
	if later := <-got; later == nil || !slices.ContainsFunc(later.Events, func(ev lib.TraceEvent) bool { return ev.Preview == "later" && ev.Gateway == "gw-b" }) {
		t.Fatalf("a read waiting on gw-a after event %d: %+v", tr.Next, later)
	}
}
