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
	// HelloEvery is how often a running gateway says hello again; default
	// DefaultHelloEvery. The first repeats come sooner (helloFirst,
	// doubling): a hello sent before the other gateways' interest reached
	// this gateway's NATS server is lost, and a gateway forgotten after a
	// gathering it answered too late is learnt again.
	HelloEvery time.Duration
}

// DefaultHelloEvery is how often a gateway says hello again.
const DefaultHelloEvery = 30 * time.Second

// helloFirst is the wait before a gateway's first repeated hello.
const helloFirst = 100 * time.Millisecond

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

	subs      []*nats.Subscription
	quit      chan struct{} // closed by Close: stops the hellos
	closeOnce sync.Once
	hello     []byte // this gateway's hello
	inbox     string // where the others answer it

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
	if o.HelloEvery <= 0 {
		o.HelloEvery = DefaultHelloEvery
	}
	c := &Cluster{e: e, b: b, o: o, inst: strconv.FormatInt(time.Now().UnixNano(), 36), known: map[string]bool{o.ID: true}, quit: make(chan struct{})}
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
	c.hello, _ = json.Marshal(hello{ID: o.ID})
	c.inbox = e.nc.NewRespInbox()
	sub, err := e.nc.Subscribe(c.inbox, c.onHello) // the others' answers
	if err == nil {
		c.subs = append(c.subs, sub)
		// The server has the subscriptions before anyone is asked to
		// answer on them.
		if err = e.nc.Flush(); err == nil {
			err = c.sayHello()
		}
	}
	if err != nil {
		c.Close()
		return nil, failed("announce gateway", o.ID, err)
	}
	go c.helloAgain()
	return c, nil
}

// sayHello tells the other gateways this one runs; they answer on c.inbox.
func (c *Cluster) sayHello() error {
	return c.e.nc.PublishRequest(helloSubject, c.inbox, c.hello)
}

// helloAgain repeats the hello until Close: after helloFirst, then at
// twice the wait each time, HelloEvery at most. Interest in a subject
// spreads through a NATS cluster a moment after a subscription is made,
// so a first hello can miss a gateway that started at the same time.
func (c *Cluster) helloAgain() {
	wait := min(helloFirst, c.o.HelloEvery)
	for {
		t := time.NewTimer(wait)
		select {
		case <-c.quit:
			t.Stop()
			return
		case <-t.C:
		}
		c.sayHello() // a lost hello is repeated by the next
		wait = min(2*wait, c.o.HelloEvery)
	}
}

// ID is this gateway's id.
func (c *Cluster) ID() string { return c.o.ID }

// Close says goodbye to the other gateways and stops answering them.
func (c *Cluster) Close() {
	c.closeOnce.Do(func() { close(c.quit) })
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
