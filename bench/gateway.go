package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"msw/broker"
	"msw/broker/natsbackend"
	"msw/lib"
)

// Scenario 19 (issue 16): msw-switch as a gateway over a three-node
// JetStream cluster (msw-switch --backend --replicas 3), in this process:
// RPC and ingest through one gateway and through two (the caller or one
// sender on gateway A, the server or the other sender on gateway B),
// beside the in-memory switch, against NATS used directly on the same
// cluster: core request/reply (the caller on node 1, the responder on
// node 2) and JetStream's fast batch publish into a stream like the
// gateways' (three replicas, file storage, work queue).

// gatewayCluster is a three-node JetStream cluster on loopback.
type gatewayCluster struct {
	nodes []*natsserver.Server
	urls  []string // each node's client URL
}

// startGatewayCluster runs the cluster, each node with its own store
// directory under the run's work directory, and waits until JetStream has
// a leader that sees every node.
func startGatewayCluster(n int) (*gatewayCluster, error) {
	ports := make([]int, 2*n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[n+i]))
	}
	c := &gatewayCluster{}
	for i := range n {
		dir, err := os.MkdirTemp(cfg.work, "nats-node-")
		if err != nil {
			c.close()
			return nil, err
		}
		s, err := natsserver.NewServer(&natsserver.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: ports[i],
			JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true,
			Cluster: natsserver.ClusterOpts{Name: "msw-bench", Host: "127.0.0.1", Port: ports[n+i]},
			Routes:  natsserver.RoutesFromStr(strings.Join(routes, ",")),
		})
		if err != nil {
			c.close()
			return nil, err
		}
		go s.Start()
		c.nodes = append(c.nodes, s)
		c.urls = append(c.urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		leader, current := false, true
		for _, s := range c.nodes {
			current = current && s.JetStreamIsCurrent()
			leader = leader || s.JetStreamIsLeader() && len(s.JetStreamClusterPeers()) == n
		}
		if leader && current {
			return c, nil
		}
		if time.Now().After(deadline) {
			c.close()
			return nil, errors.New("nats cluster: no JetStream leader within 30s")
		}
		time.Sleep(50 * time.Millisecond) // polling the cluster's own state: no event to wait on
	}
}

func (c *gatewayCluster) close() {
	for _, s := range c.nodes {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// url lists every node's URL starting with node first, for a client that
// should connect there (and fail over to the others).
func (c *gatewayCluster) url(first int) string {
	var us []string
	for i := range c.urls {
		us = append(us, c.urls[(first+i)%len(c.urls)])
	}
	return strings.Join(us, ",")
}

// connect connects to node i.
func (c *gatewayCluster) connect(i int) (*nats.Conn, error) {
	return nats.Connect(c.urls[i], nats.MaxReconnects(0))
}

// gatewaySwitch is an in-process switch whose persistent queues live in
// the cluster, as msw-switch --backend --replicas 3 runs one.
type gatewaySwitch struct {
	*mswSwitch
	engine *natsbackend.Engine
}

// startGateway runs a gateway connected to node first of c.
func startGateway(c *gatewayCluster, first int) (*gatewaySwitch, error) {
	e, err := natsbackend.Open(natsbackend.Options{URL: c.url(first), Replicas: 3, Name: fmt.Sprintf("bench-gw-%d", first),
		NATS: []nats.Option{nats.DontRandomize()}})
	if err != nil {
		return nil, err
	}
	sw, err := startMsw(broker.Options{Engine: e, KeepAlive: natsbackend.DefaultAckWait / 3})
	if err != nil {
		e.Close()
		return nil, err
	}
	return &gatewaySwitch{mswSwitch: sw, engine: e}, nil
}

func (g *gatewaySwitch) close() {
	if g != nil {
		g.mswSwitch.close()
		g.engine.Close()
	}
}

// clusterRPC is natsRPC on the cluster: the responder on node 2, the
// callers on node 1.
func clusterRPC(c *gatewayCluster, spec rpcSpec) (rpcResult, error) {
	subject := fmt.Sprintf("rpc.%d", rpcSeq.Add(1))
	sc, err := c.connect(1)
	if err != nil {
		return rpcResult{}, err
	}
	defer sc.Close()
	if _, err := sc.QueueSubscribe(subject, "svc", func(m *nats.Msg) { m.Respond(spec.echo(m.Data)) }); err != nil {
		return rpcResult{}, err
	}
	if err := sc.Flush(); err != nil {
		return rpcResult{}, err
	}
	cc, err := c.connect(0)
	if err != nil {
		return rpcResult{}, err
	}
	defer cc.Close()
	// The subscription must be known on node 1 before the first call.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := cc.Request(subject, spec.payload, time.Second); err == nil {
			break
		} else if time.Now().After(deadline) {
			return rpcResult{}, fmt.Errorf("first request: %w", err)
		}
		time.Sleep(10 * time.Millisecond) // the route carries the interest soon

	}
	return runCallers(spec.callers, func(ctx context.Context) error {
		m, err := cc.RequestWithContext(ctx, subject, spec.payload)
		if err == nil && len(m.Data) != len(spec.payload) {
			err = fmt.Errorf("reply of %d bytes, want %d", len(m.Data), len(spec.payload))
		}
		return err
	})
}

// clusterDurableRPC is what a gateway does for a call, done with the
// NATS client directly by someone who knows it: the caller publishes the
// request into a work-queue stream like a gateway's queue (three
// replicas, file storage) and waits for its PubAck; the responder
// consumes the stream (Consume, the client's pipelined pulls) and
// answers on the caller's inbox, named in a header, then acks. Callers
// on node 1, the responder on node 2.
func clusterDurableRPC(c *gatewayCluster, spec rpcSpec) (rpcResult, error) {
	name := fmt.Sprintf("BENCH_RPC_%d", rpcSeq.Add(1))
	subject := "bench.rpc." + name
	sc, err := c.connect(1)
	if err != nil {
		return rpcResult{}, err
	}
	defer sc.Close()
	sjs, err := jetstream.New(sc)
	if err != nil {
		return rpcResult{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := sjs.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}, Storage: jetstream.FileStorage,
		Replicas: 3, Retention: jetstream.WorkQueuePolicy})
	if err != nil {
		return rpcResult{}, err
	}
	defer sjs.DeleteStream(context.Background(), name)
	cons, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "svc", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: -1})
	if err != nil {
		return rpcResult{}, err
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		sc.Publish(m.Headers().Get("Bench-Reply"), spec.echo(m.Data()))
		m.Ack()
	})
	if err != nil {
		return rpcResult{}, err
	}
	defer cc.Stop()

	nc, err := c.connect(0)
	if err != nil {
		return rpcResult{}, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return rpcResult{}, err
	}
	inbox := nc.NewRespInbox()
	var mu sync.Mutex
	waiting := map[string]chan []byte{}
	sub, err := nc.Subscribe(inbox+".*", func(m *nats.Msg) {
		mu.Lock()
		ch := waiting[m.Subject]
		delete(waiting, m.Subject)
		mu.Unlock()
		if ch != nil {
			ch <- m.Data
		}
	})
	if err != nil {
		return rpcResult{}, err
	}
	defer sub.Unsubscribe()
	var seq atomic.Int64
	call := func(ctx context.Context) error {
		reply := fmt.Sprintf("%s.%d", inbox, seq.Add(1))
		ch := make(chan []byte, 1)
		mu.Lock()
		waiting[reply] = ch
		mu.Unlock()
		m := nats.NewMsg(subject)
		m.Data = spec.payload
		m.Header.Set("Bench-Reply", reply)
		if _, err := js.PublishMsg(ctx, m); err != nil {
			return err
		}
		select {
		case data := <-ch:
			if len(data) != len(spec.payload) {
				return fmt.Errorf("reply of %d bytes, want %d", len(data), len(spec.payload))
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// One call first, untimed: the stream and its consumer were just
	// made, and the first message waits for their replicas to elect
	// leaders and for the consumer's first pull, which can outlast a
	// whole measured window (one caller then completed no call in it,
	// and the scenario's every row was lost).
	if err := call(ctx); err != nil {
		return rpcResult{}, fmt.Errorf("first call: %w", err)
	}
	return runCallers(spec.callers, call)
}

// gatewayIngestCount is how many messages an ingest through a gateway
// moves: every one is replicated three times, on one machine.
func gatewayIngestCount() int {
	if cfg.quick {
		return 20_000
	}
	return 100_000
}

// gatewayIngest sends the messages into a new queue with SendBatch,
// split among one client of each switch given (all sending at once), and
// checks that the cluster holds them all.
func gatewayIngest(sws ...*mswSwitch) (time.Duration, error) {
	ms := theMessages()[:gatewayIngestCount()]
	queue := fmt.Sprintf("ingest-%d", queueSeq.Add(1))
	ctx := context.Background()
	clients := make([]*lib.Client, len(sws))
	for i, sw := range sws {
		clients[i] = sw.client("tcp")
		defer clients[i].Close()
	}
	if err := clients[0].CreateQueue(ctx, queue); err != nil {
		return 0, err
	}
	defer sws[0].b.DestroyQueue(nil, queue, false)
	errs := make([]error, len(sws))
	var wg sync.WaitGroup
	t0 := time.Now()
	for i, cl := range clients {
		part := ms[i*len(ms)/len(sws) : (i+1)*len(ms)/len(sws)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = cl.SendBatch(ctx, queue, part)
		}()
	}
	wg.Wait()
	d := time.Since(t0)
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	// Every send was answered once stored; the consumer's count of them
	// (the queue's depth) follows the stream's a moment later.
	for deadline := time.Now().Add(10 * time.Second); ; {
		qi, err := sws[0].b.Info(queue)
		if err == nil && qi.Depth == len(ms) {
			return d, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("after ingest: depth %d, want %d (%v)", qi.Depth, len(ms), err)
		}
		time.Sleep(20 * time.Millisecond) // polling the cluster's count: no event to wait on
	}
}

// clusterIngest publishes the messages with one fast batch into a fresh
// stream like a gateway's queue: three replicas, file storage, work
// queue. If the cluster refuses batches it falls back to asynchronous
// publishes, and says so.
func clusterIngest(c *gatewayCluster) (d time.Duration, how string, err error) {
	ms := theMessages()[:gatewayIngestCount()]
	nc, err := c.connect(0)
	if err != nil {
		return 0, "", err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(natsPublishPending))
	if err != nil {
		return 0, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	name := fmt.Sprintf("BENCH_GW_%d", queueSeq.Add(1))
	subject := "bench.gw." + name
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}, Storage: jetstream.FileStorage,
		Replicas: 3, Retention: jetstream.WorkQueuePolicy, AllowBatchPublish: true})
	if err != nil {
		return 0, "", err
	}
	defer js.DeleteStream(context.Background(), name)
	payloads := make([][]byte, len(ms))
	for i := range ms {
		payloads[i] = ms[i].Payload
	}
	how = "fast batch"
	t0 := time.Now()
	if natsAsyncIngest {
		how, err = "PublishAsync", natsPublishAsync(js, subject, payloads)
	} else if err = natsFastBatch(nc, subject, payloads); err != nil {
		s.Purge(ctx)
		how = "PublishAsync (fast batch: " + err.Error() + ")"
		t0 = time.Now()
		err = natsPublishAsync(js, subject, payloads)
	}
	if err != nil {
		return 0, how, err
	}
	d = time.Since(t0)
	info, err := s.Info(ctx)
	if err != nil || info.State.Msgs != uint64(len(ms)) {
		return 0, how, fmt.Errorf("after ingest: stream holds %d, want %d (%v)", info.State.Msgs, len(ms), err)
	}
	return d, how, nil
}

func scenarioGateway() ([]Row, error) {
	c, err := startGatewayCluster(3)
	if err != nil {
		return nil, err
	}
	defer c.close()
	a, err := startGateway(c, 0)
	if err != nil {
		return nil, err
	}
	defer a.close()
	b, err := startGateway(c, 1)
	if err != nil {
		return nil, err
	}
	defer b.close()
	mem, err := startMsw(broker.Options{})
	if err != nil {
		return nil, err
	}
	defer mem.close()

	const scen = "19 gateway"
	// What each system is, as the rows name it after the figure.
	names := map[string]string{"1gw": "1 gateway", "2gw": "2 gateways", "mem": "in-memory switch", "js": "JetStream work queue directly"}
	var rows []Row
	for _, n := range []int{1, 16} {
		spec := rpcSpec{callers: n, responders: 1, payload: payload100}
		rpc := map[string]func() (rpcResult, error){
			"1gw": func() (rpcResult, error) { return mswRPCBetween(a.mswSwitch, a.mswSwitch, "tcp", spec) },
			"2gw": func() (rpcResult, error) { return mswRPCBetween(a.mswSwitch, b.mswSwitch, "tcp", spec) },
			"mem": func() (rpcResult, error) { return mswRPC(mem, "tcp", spec) },
			"js":  func() (rpcResult, error) { return clusterDurableRPC(c, spec) },
			"ref": func() (rpcResult, error) { return clusterRPC(c, spec) },
		}
		rr := map[string]*rpcRows{}
		for _, sys := range []string{"1gw", "2gw", "mem", "js"} {
			rr[sys] = newRPCRows(scen, fmt.Sprintf("rpc %d caller(s), %s", n, names[sys]), "NATS request/reply on the cluster")
		}
		for round := range cfg.rounds {
			var ref rpcResult
			for _, sys := range order(round, "1gw", "2gw", "mem", "js", "ref") {
				res, err := rpc[sys]()
				if err != nil {
					return rows, fmt.Errorf("rpc %s, %d callers: %w", names[sys], n, err)
				}
				if sys == "ref" {
					ref = res
				} else {
					rr[sys].add("tcp", res)
				}
			}
			for _, r := range rr { // one reference, measured once a round
				r.add("ref", ref)
			}
		}
		for _, sys := range []string{"1gw", "2gw"} {
			if n > 1 {
				rr[sys].rate.Target, rr[sys].rate.check = "gateway/NATS ≥ 0.5", ratioAtLeast(0.5)
			}
		}
		for _, sys := range []string{"1gw", "2gw", "mem", "js"} {
			rows = append(rows, rr[sys].rate, rr[sys].p50)
		}
	}

	n := gatewayIngestCount()
	var how string
	ingest := map[string]func() (d time.Duration, err error){
		"1gw": func() (time.Duration, error) { return gatewayIngest(a.mswSwitch) },
		"2gw": func() (time.Duration, error) { return gatewayIngest(a.mswSwitch, b.mswSwitch) },
		"mem": func() (time.Duration, error) { return gatewayIngest(mem) },
		"ref": func() (d time.Duration, err error) { d, how, err = clusterIngest(c); return d, err },
	}
	ir := map[string]*Row{}
	for _, sys := range []string{"1gw", "2gw", "mem"} {
		r := newRow(scen, fmt.Sprintf("ingest %s, %s", count(n), names[sys]), unitRate, "JetStream batch publish, R3 file")
		ir[sys] = &r
	}
	for round := range cfg.rounds {
		var ref float64
		for _, sys := range order(round, "1gw", "2gw", "mem", "ref") {
			settle()
			d, err := ingest[sys]()
			if err != nil {
				return rows, fmt.Errorf("ingest %s: %w", sys, err)
			}
			if sys == "ref" {
				ref = float64(n) / d.Seconds()
			} else {
				ir[sys].add("tcp", float64(n)/d.Seconds())
			}
		}
		for _, r := range ir {
			r.add("ref", ref)
		}
	}
	for _, sys := range []string{"1gw", "2gw"} {
		ir[sys].Target, ir[sys].check = "gateway/NATS ≥ 0.5", ratioAtLeast(0.5)
		ir[sys].Note = "NATS: " + how
	}
	return append(rows, *ir["1gw"], *ir["2gw"], *ir["mem"]), nil
}
