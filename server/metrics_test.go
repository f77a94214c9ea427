package server_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"msw/broker"
	"msw/internal/switchtest"
	"msw/internal/wire"
	"msw/lib"
	"msw/server"
)

// startSwitch runs a broker and server on a free loopback port, wired as
// msw-switch wires them, and returns its address.
func startSwitch(t *testing.T) string {
	m := server.NewMetrics()
	return switchtest.Start(t, "", broker.Options{OnReply: m.ObserveReply}, server.Options{Metrics: m}).Addr
}

func newClient(t *testing.T, addr, id string) *lib.Client {
	return switchtest.Client(t, addr, lib.Options{ClientID: id})
}

// scrape fetches /metrics and parses it with the Prometheus text parser.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// byQueue returns a per-queue gauge family as a map from queue label to value.
func byQueue(t *testing.T, fams map[string]*dto.MetricFamily, name string) map[string]float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no %s in /metrics", name)
	}
	out := map[string]float64{}
	for _, m := range f.GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "queue" {
				out[lp.GetValue()] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func single(t *testing.T, fams map[string]*dto.MetricFamily, name string) *dto.Metric {
	t.Helper()
	f := fams[name]
	if f == nil || len(f.GetMetric()) != 1 {
		t.Fatalf("want one %s in /metrics, got %v", name, f)
	}
	return f.GetMetric()[0]
}

// TestMetricsMatchListing drives plain and RPC-shaped traffic through a
// switch and checks that /metrics parses, that its per-queue depth and
// in-flight gauges match the queue listing (transient queues summed into
// one series), and that the totals and the RPC histogram moved.
func TestMetricsMatchListing(t *testing.T) {
	addr := startSwitch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	sender := newClient(t, addr, "sender")
	for _, q := range []string{"work", "idle", "svc"} {
		if err := sender.CreateQueue(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, body := range []string{"one", "two", "three"} {
		if _, err := sender.Send(ctx, "work", lib.Message{Payload: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}

	// One receiver takes a message of "work" and keeps it in flight.
	worker := newClient(t, addr, "worker")
	if err := worker.Subscribe(ctx, "work"); err != nil {
		t.Fatal(err)
	}
	if ds, err := worker.Transfer(ctx, lib.TransferOptions{Max: 1, Timeout: 5 * time.Second}); err != nil || len(ds) != 1 {
		t.Fatalf("transfer: %v, %d messages", err, len(ds))
	}

	// An RPC: the caller's request, answered and acked by a server.
	caller := newClient(t, addr, "caller")
	replyTo, err := caller.CreateTransient(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := caller.Send(ctx, "svc", lib.Message{Payload: []byte("ping"), CorrelationID: "c1", ReplyTo: replyTo}); err != nil {
		t.Fatal(err)
	}
	srv := newClient(t, addr, "server")
	if err := srv.Subscribe(ctx, "svc"); err != nil {
		t.Fatal(err)
	}
	reqs, err := srv.Transfer(ctx, lib.TransferOptions{Max: 1, Timeout: 5 * time.Second})
	if err != nil || len(reqs) != 1 {
		t.Fatalf("server transfer: %v, %d messages", err, len(reqs))
	}
	if _, err := srv.Send(ctx, reqs[0].ReplyTo, lib.Message{Payload: []byte("pong"), CorrelationID: reqs[0].CorrelationID}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Ack(ctx, lib.Acks{"svc": {reqs[0].ID}}); err != nil {
		t.Fatal(err)
	}
	// A second caller whose reply queue holds a message nobody collects.
	caller2 := newClient(t, addr, "caller2")
	reply2, err := caller2.CreateTransient(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sender.Send(ctx, reply2, lib.Message{Payload: []byte("late")}); err != nil {
		t.Fatal(err)
	}

	fams := scrape(t, addr)
	queues, err := sender.List(ctx, lib.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	depth := byQueue(t, fams, "msw_queue_depth")
	inflight := byQueue(t, fams, "msw_queue_in_flight")
	wantDepth, wantInflight := map[string]float64{}, map[string]float64{}
	for _, qi := range queues {
		name := qi.Name
		if qi.Kind == "transient" {
			name = server.TransientLabel
		}
		wantDepth[name] += float64(qi.Depth)
		wantInflight[name] += float64(qi.InFlight)
	}
	if len(wantDepth) != 4 { // work, idle, svc, (transient)
		t.Fatalf("listing has %d queue series, want 4: %v", len(wantDepth), queues)
	}
	for name, want := range wantDepth {
		if depth[name] != want {
			t.Errorf("msw_queue_depth{queue=%q} = %v; listing says %v", name, depth[name], want)
		}
		if inflight[name] != wantInflight[name] {
			t.Errorf("msw_queue_in_flight{queue=%q} = %v; listing says %v", name, inflight[name], wantInflight[name])
		}
	}
	if len(depth) != len(wantDepth) {
		t.Errorf("msw_queue_depth has series %v; want those of %v", depth, wantDepth)
	}
	if depth["work"] != 2 || inflight["work"] != 1 || depth[server.TransientLabel] != 2 {
		t.Errorf("depth %v, in flight %v; want work 2 ready + 1 in flight, transient 2 (reply and late)", depth, inflight)
	}

	counters := map[string]float64{
		"msw_messages_sent_total":      6, // three to work, request, reply, late
		"msw_messages_delivered_total": 2, // one of work, the request
		"msw_messages_acked_total":     1, // the request
	}
	for name, want := range counters {
		if got := single(t, fams, name).GetCounter().GetValue(); got != want {
			t.Errorf("%s = %v; want %v", name, got, want)
		}
	}
	if got := single(t, fams, "msw_sessions").GetGauge().GetValue(); got != 5 {
		t.Errorf("msw_sessions = %v; want 5", got)
	}
	var bytes int64
	for _, qi := range queues {
		bytes += qi.Bytes
	}
	if got := single(t, fams, "msw_bytes_held").GetGauge().GetValue(); got != float64(bytes) || bytes < int64(len("onetwothreeponglate")) {
		t.Errorf("msw_bytes_held = %v; listing says %d, at least the payloads one, two, three, pong, late", got, bytes)
	}
	h := single(t, fams, "msw_rpc_processing_seconds").GetHistogram()
	if h.GetSampleCount() != 1 || h.GetSampleSum() <= 0 {
		t.Errorf("msw_rpc_processing_seconds: %d samples, sum %v; want one positive", h.GetSampleCount(), h.GetSampleSum())
	}
}

// TestMetricsTransientBounded checks that many callers' reply queues make
// one series, not one each.
func TestMetricsTransientBounded(t *testing.T) {
	addr := startSwitch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 20 {
		c := newClient(t, addr, "caller")
		if _, err := c.CreateTransient(ctx, ""); err != nil {
			t.Fatal(err, i)
		}
	}
	fams := scrape(t, addr)
	depth := byQueue(t, fams, "msw_queue_depth")
	if len(depth) != 1 || depth[server.TransientLabel] != 0 {
		t.Errorf("msw_queue_depth series = %v; want only %q", depth, server.TransientLabel)
	}
	for _, m := range fams["msw_queues"].GetMetric() {
		if m.GetLabel()[0].GetValue() == "transient" && m.GetGauge().GetValue() != 20 {
			t.Errorf("msw_queues{kind=transient} = %v; want 20", m.GetGauge().GetValue())
		}
	}
}

// TestMetricsDeepestQueues: past MaxSeriesQueues queues, /metrics has
// series of the deepest (and of the transient queues, summed) and sums
// every other queue as OtherLabel.
func TestMetricsDeepestQueues(t *testing.T) {
	sw := switchtest.Start(t, "", broker.Options{TraceSize: -1}, server.Options{Metrics: server.NewMetrics()})
	n := server.MaxSeriesQueues + 50
	// MaxSeriesQueues-1 queues, scattered, hold 2 messages; the other 51
	// hold 1.
	deep := func(i int) bool { return i%21 != 0 && i != 1 }
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("q%04d", i)
		if err := sw.Broker.CreateQueue(nil, name); err != nil {
			t.Fatal(err)
		}
		depth := 1
		if deep(i) {
			depth = 2
		}
		if _, err := sw.Broker.Send(nil, name, make([]wire.Message, depth)); err != nil {
			t.Fatal(err)
		}
	}
	depths := byQueue(t, scrape(t, sw.Addr), "msw_queue_depth")
	if len(depths) != server.MaxSeriesQueues+1 { // the kept ones, transient and other
		t.Errorf("%d queue series; want %d", len(depths), server.MaxSeriesQueues+1)
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("q%04d", i)
		if d, ok := depths[name]; ok != deep(i) || ok && d != 2 {
			t.Errorf("%s: series %v, depth %v; want a series only for the deepest", name, ok, d)
		}
	}
	if depths[server.OtherLabel] != 51 || depths[server.TransientLabel] != 0 {
		t.Errorf("%q %v, %q %v; want 51 and 0", server.OtherLabel, depths[server.OtherLabel], server.TransientLabel, depths[server.TransientLabel])
	}
}
