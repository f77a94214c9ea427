package natsbackend

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"msw/broker"
)

// The gateways of one cluster find each other and gather diagnostics and
// trace over plain NATS subjects (docs/scale-out.md):
//
//	msw.gw.hello        a gateway starting says its id; the others answer
//	                    theirs, so each knows every gateway alive
//	msw.gw.bye          a gateway stopping says its id
//	msw.gw.diag         a request for each gateway's snapshot; each answers
//	                    on the request's inbox (cluster_diag.go)
//	msw.gw.trace.want   someone follows the trace: every gateway publishes
//	                    its events for the next traceWantFor
//	msw.gw.trace.<id>   a gateway's trace events, in batches (cluster_trace.go)
const (
	helloSubject     = "msw.gw.hello"
	byeSubject       = "msw.gw.bye"
	diagSubject      = "msw.gw.diag"
	traceWantSubject = "msw.gw.trace.want"
	tracePrefix      = "msw.gw.trace.ev."
)

// ClusterOptions configure a Cluster. Zero fields take the defaults.
type ClusterOptions struct {
	// ID names this gateway to the users of msw-diag and msw-tail; it
	// should be unique in the cluster (msw-switch uses its host name and
	// listening port).
	ID string
	// GatherWait is how long a gathering waits for the gateways that have
	// not answered; default DefaultGatherWait.
	GatherWait time.Duration
	// TraceSize is how many gathered trace events the gateway keeps for
	// its readers; default broker.DefaultTraceSize.
	TraceSize int
}

// DefaultGatherWait is how long a gathering waits for slow gateways. A
// gateway's snapshot asks the cluster for the counts of every cluster
// queue (two JetStream API requests each): with many queues it takes a
// while.
const DefaultGatherWait = 2 * time.Second

// Cluster is one gateway's part in gathering the diagnostics and trace of
// every gateway of the cluster: it answers the others with what its
// broker holds and, asked by msw-diag or msw-tail, gathers from them all.
// It implements server.Cluster.
type Cluster struct {
	e    *Engine
	b    *broker.Broker
	o    ClusterOptions
	inst string // this run of the gateway (its start time): its trace's sequence numbers start again with it

	subs []*nats.Subscription

	mu    sync.Mutex // leaf
	known map[string]bool
	trace *traceFeed // cluster_trace.go
}

// hello is the body of msw.gw.hello and msw.gw.bye, and of the answers to
// a hello.
type hello struct {
	ID string `json:"id"`
}

// NewCluster starts this gateway's part: it says hello to the others and
// answers their requests with what b holds, until Close.
func NewCluster(e *Engine, b *broker.Broker, o ClusterOptions) (*Cluster, error) {
	if o.ID == "" {
		o.ID = e.o.Name
	}
	if o.GatherWait <= 0 {
		o.GatherWait = DefaultGatherWait
	}
	if o.TraceSize <= 0 {
		o.TraceSize = broker.DefaultTraceSize
	}
	c := &Cluster{e: e, b: b, o: o, inst: strconv.FormatInt(time.Now().UnixNano(), 36), known: map[string]bool{o.ID: true}}
	c.trace = newTraceFeed(c)
	for subject, h := range map[string]nats.MsgHandler{
		helloSubject:     c.onHello,
		byeSubject:       c.onBye,
		diagSubject:      c.onDiag,
		traceWantSubject: c.trace.onWant,
	} {
		sub, err := e.nc.Subscribe(subject, h)
		if err != nil {
			c.Close()
			return nil, failed("subscribe", subject, err)
		}
		c.subs = append(c.subs, sub)
	}
	me, _ := json.Marshal(hello{ID: o.ID})
	inbox := e.nc.NewRespInbox()
	sub, err := e.nc.Subscribe(inbox, c.onHello) // the others' answers
	if err == nil {
		c.subs = append(c.subs, sub)
		err = e.nc.PublishRequest(helloSubject, inbox, me)
	}
	if err != nil {
		c.Close()
		return nil, failed("announce gateway", o.ID, err)
	}
	return c, nil
}

// ID is this gateway's id.
func (c *Cluster) ID() string { return c.o.ID }

// Close says goodbye to the other gateways and stops answering them.
func (c *Cluster) Close() {
	c.trace.stop()
	for _, s := range c.subs {
		s.Unsubscribe()
	}
	me, _ := json.Marshal(hello{ID: c.o.ID})
	c.e.nc.Publish(byeSubject, me)
	c.e.nc.Flush()
}

// onHello learns of a gateway and, if it asks, answers with this one.
func (c *Cluster) onHello(m *nats.Msg) {
	var h hello
	if json.Unmarshal(m.Data, &h) != nil || h.ID == "" {
		return
	}
	c.mu.Lock()
	c.known[h.ID] = true
	c.mu.Unlock()
	if m.Reply != "" && h.ID != c.o.ID {
		me, _ := json.Marshal(hello{ID: c.o.ID})
		m.Respond(me)
	}
}

// onBye forgets a gateway that stopped.
func (c *Cluster) onBye(m *nats.Msg) {
	var h hello
	if json.Unmarshal(m.Data, &h) != nil || h.ID == c.o.ID {
		return
	}
	c.mu.Lock()
	delete(c.known, h.ID)
	c.mu.Unlock()
}

// gateways returns the ids of the gateways known alive, sorted.
func (c *Cluster) gateways() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.known))
	for id := range c.known {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// answered records who answered a gathering: a gateway that answered is
// known; a known one that did not is forgotten (it died without saying
// so), and named missing this once.
func (c *Cluster) answered(got map[string]bool) (answered, missing []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range got {
		c.known[id] = true
		answered = append(answered, id)
	}
	for id := range c.known {
		if !got[id] {
			missing = append(missing, id)
			delete(c.known, id)
		}
	}
	slices.Sort(answered)
	slices.Sort(missing)
	return answered, missing
}

// String describes the gateway for logs.
func (c *Cluster) String() string { return fmt.Sprintf("gateway %s", c.o.ID) }
