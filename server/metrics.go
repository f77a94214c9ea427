package server

import (
	"container/heap"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"msw/broker"
	"msw/internal/wire"
)

// TransientLabel is the queue label under which every transient queue is
// counted: reply queues come and go with each caller, and one series each
// would grow without bound.
const TransientLabel = wire.HistoryTransient

// rpcBuckets are the RPC processing time buckets, in seconds: from a
// tenth of a millisecond (a reply from a server already polling) to a
// minute (a server that was not running when the call was made).
var rpcBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
}

// Metrics are the measurements the switch takes as it runs, besides what
// it reads from the broker when scraped. Make one before the broker so its
// ObserveReply can be the broker's OnReply, and pass it in Options.
type Metrics struct {
	rpc prometheus.Histogram
}

// NewMetrics returns an empty set of metrics.
func NewMetrics() *Metrics {
	return &Metrics{rpc: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "msw_rpc_processing_seconds",
		Help:    "Time from a request's enqueue to the reply sent by the server holding it.",
		Buckets: rpcBuckets,
	})}
}

// ObserveReply records one RPC's processing time; it is meant as
// broker.Options.OnReply.
func (m *Metrics) ObserveReply(d time.Duration) {
	m.rpc.Observe(d.Seconds())
}

// metricsHandler serves GET /metrics in the Prometheus text format. The
// broker's figures are read when scraped, so counting costs the message
// path nothing beyond the atomic counters it keeps anyway.
func (s *Server) metricsHandler() http.Handler {
	m := s.opts.Metrics
	if m == nil {
		m = NewMetrics()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		m.rpc,
		newBrokerCollector(s.b),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: s.opts.Log})
}

// brokerCollector reads the broker's counters and gauges at scrape time.
type brokerCollector struct {
	b *broker.Broker

	start                                       *prometheus.Desc
	sent, delivered, acked, redelivered, withdr *prometheus.Desc
	sessStarted, sessEnded                      *prometheus.Desc
	queues, sessions, conns                     *prometheus.Desc
	ready, inflight, bytes                      *prometheus.Desc
	qDepth, qInflight, qBytes, qSubs            *prometheus.Desc
	durable, logBytes, lastFsync, fsyncs        *prometheus.Desc
	diskOnly                                    *prometheus.Desc
	// queue policies (broker/policy.go)
	expired, deadLettered, dropped, rejected *prometheus.Desc
	qMaxDepth, qMaxBytes, qExpired, qDead    *prometheus.Desc
}

func newBrokerCollector(b *broker.Broker) *brokerCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("msw_"+name, help, labels, nil)
	}
	return &brokerCollector{
		b:           b,
		start:       d("start_time_seconds", "When the switch started, in seconds since the Unix epoch."),
		sent:        d("messages_sent_total", "Messages enqueued since the switch started."),
		delivered:   d("messages_delivered_total", "Messages handed to receivers (redeliveries included)."),
		acked:       d("messages_acked_total", "Messages acknowledged and deleted."),
		redelivered: d("messages_redelivered_total", "Messages given back to their queue for another delivery."),
		withdr:      d("messages_withdrawn_total", "Messages withdrawn by their sender before delivery."),
		sessStarted: d("sessions_started_total", "Client sessions started."),
		sessEnded:   d("sessions_ended_total", "Client sessions ended."),
		queues:      d("queues", "Queues that exist, by kind.", "kind"),
		sessions:    d("sessions", "Live client sessions."),
		conns:       d("connections", "Client connections carrying a session."),
		ready:       d("messages_ready", "Messages waiting for delivery, in all queues."),
		inflight:    d("messages_in_flight", "Messages delivered and not yet acknowledged, in all queues."),
		bytes:       d("bytes_held", "Payload bytes held, in all queues."),
		qDepth:      d("queue_depth", "Messages waiting for delivery, per queue; transient queues are summed under queue=\""+TransientLabel+"\".", "queue"),
		qInflight:   d("queue_in_flight", "Messages delivered and not yet acknowledged, per queue; transient queues summed.", "queue"),
		qBytes:      d("queue_bytes", "Payload bytes held, per queue; transient queues summed.", "queue"),
		qSubs:       d("queue_subscribers", "Sessions subscribed, per queue; transient queues summed.", "queue"),
		durable:     d("durable", "1 if persistent queues are kept on disk (--data), else 0."),
		logBytes:    d("log_bytes", "Bytes of the durable log on disk."),
		lastFsync:   d("last_fsync_seconds", "How long the durable log's last fsync took."),
		fsyncs:      d("fsyncs_total", "Fsyncs of the durable log."),
		diskOnly:    d("messages_disk_only", "Messages whose payload is held on disk only."),

		expired:      d("messages_expired_total", "Messages removed unconsumed by their queue's ttl."),
		deadLettered: d("messages_dead_lettered_total", "Messages moved to a dead-letter queue after max-deliveries."),
		dropped:      d("messages_dropped_total", "Messages dropped by a queue's drop-oldest overflow."),
		rejected:     d("messages_rejected_total", "Messages refused because their queue was full (queue_full)."),
		qMaxDepth:    d("queue_max_depth", "A persistent queue's max-depth policy, for queues that have one.", "queue"),
		qMaxBytes:    d("queue_max_bytes", "A persistent queue's max-bytes policy, for queues that have one.", "queue"),
		qExpired:     d("queue_expired_total", "Messages of a persistent queue removed by its ttl, for queues with a ttl.", "queue"),
		qDead:        d("queue_dead_lettered_total", "Messages of a persistent queue moved to its dead-letter queue, for queues with max-deliveries.", "queue"),
	}
}

func (c *brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.start, c.sent, c.delivered, c.acked, c.redelivered, c.withdr,
		c.sessStarted, c.sessEnded, c.queues, c.sessions, c.conns,
		c.ready, c.inflight, c.bytes, c.qDepth, c.qInflight, c.qBytes, c.qSubs,
		c.durable, c.logBytes, c.lastFsync, c.fsyncs, c.diskOnly,
		c.expired, c.deadLettered, c.dropped, c.rejected,
		c.qMaxDepth, c.qMaxBytes, c.qExpired, c.qDead,
	} {
		ch <- d
	}
}

// queueFigures are one series' worth of per-queue gauges.
type queueFigures struct {
	depth, inflight, subs int
	bytes                 int64
}

// figuresOf is a queue's own figures.
func figuresOf(qi *wire.QueueInfo) queueFigures {
	return queueFigures{qi.Depth, qi.InFlight, qi.Subscribers, qi.Bytes}
}

// add sums g into f.
func (f *queueFigures) add(g queueFigures) {
	f.depth += g.depth
	f.inflight += g.inflight
	f.subs += g.subs
	f.bytes += g.bytes
}

func (c *brokerCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	ct := &c.b.Counters
	counter(c.sent, ct.Sent.Load())
	counter(c.delivered, ct.Delivered.Load())
	counter(c.acked, ct.Acked.Load())
	counter(c.redelivered, ct.Redelivered.Load())
	counter(c.withdr, ct.Withdrawn.Load())
	counter(c.sessStarted, ct.SessionsStarted.Load())
	counter(c.sessEnded, ct.SessionsEnded.Load())
	counter(c.expired, ct.Expired.Load())
	counter(c.deadLettered, ct.DeadLettered.Load())
	counter(c.dropped, ct.Dropped.Load())
	counter(c.rejected, ct.Rejected.Load())
	gauge(c.start, float64(c.b.Started().UnixNano())/1e9)
	ss := c.b.StoreStats()
	durable := 0.0
	if ss.Durable {
		durable = 1
	}
	gauge(c.durable, durable)
	gauge(c.logBytes, float64(ss.LogBytes))
	gauge(c.lastFsync, ss.LastSync.Seconds())
	counter(c.fsyncs, ss.Syncs)
	gauge(c.diskOnly, float64(ss.DiskOnly))

	var transient queueFigures
	var nTransient int
	deep := deepest{max: MaxSeriesQueues - 1}
	st := c.b.Gauges(func(qi wire.QueueInfo) {
		if qi.Kind == wire.KindTransient {
			nTransient++
			transient.add(figuresOf(&qi))
			return
		}
		deep.offer(&qi)
	})
	gauge(c.queues, float64(deep.seen), wire.KindPersistent)
	gauge(c.queues, float64(nTransient), wire.KindTransient)
	gauge(c.sessions, float64(st.Sessions))
	gauge(c.conns, float64(st.Connections))
	gauge(c.ready, float64(st.Ready))
	gauge(c.inflight, float64(st.InFlight))
	gauge(c.bytes, float64(st.Bytes))

	queue := func(name string, f queueFigures) {
		gauge(c.qDepth, float64(f.depth), name)
		gauge(c.qInflight, float64(f.inflight), name)
		gauge(c.qBytes, float64(f.bytes), name)
		gauge(c.qSubs, float64(f.subs), name)
	}
	// The transient series is always there, so dashboards need no special
	// case for a switch without callers.
	queue(TransientLabel, transient)
	for _, e := range deep.h {
		queue(e.Name, figuresOf(e))
		c.policyFigures(ch, e)
	}
	if deep.seen > deep.max {
		queue(OtherLabel, deep.other)
	}
}

// policyFigures sends the policy series of a persistent queue: only
// those its policy sets, so that queues without one add nothing.
func (c *brokerCollector) policyFigures(ch chan<- prometheus.Metric, qi *wire.QueueInfo) {
	for _, f := range []struct {
		d       *prometheus.Desc
		t       prometheus.ValueType
		v       float64
		present bool
	}{
		{c.qMaxDepth, prometheus.GaugeValue, float64(qi.MaxDepth), qi.MaxDepth > 0},
		{c.qMaxBytes, prometheus.GaugeValue, float64(qi.MaxBytes), qi.MaxBytes > 0},
		{c.qExpired, prometheus.CounterValue, float64(qi.Expired), qi.TTL != ""},
		{c.qDead, prometheus.CounterValue, float64(qi.DeadLettered), qi.MaxDeliveries > 0},
	} {
		if f.present {
			ch <- prometheus.MustNewConstMetric(f.d, f.t, f.v, qi.Name)
		}
	}
}

// OtherLabel is the queue label of the queues past MaxSeriesQueues,
// summed: /metrics stays bounded however many queues the switch holds.
const OtherLabel = "(other)"

// MaxSeriesQueues is the most queues /metrics has series of; past it,
// the deepest are kept and the rest summed as OtherLabel.
const MaxSeriesQueues = 1000

// deepest keeps the deepest max persistent queues seen, in a min-heap
// by depth, and sums the rest as other: picking them visits each queue
// once and copies only those that enter the heap (sorting every queue's
// name by its map entry took 0.6 s of CPU for 200,000 queues).
type deepest struct {
	max   int
	seen  int
	h     []*wire.QueueInfo
	other queueFigures
}

// offer counts a queue in: kept if it is among the deepest so far, the
// shallowest kept one (or itself) summed into other.
func (d *deepest) offer(qi *wire.QueueInfo) {
	d.seen++
	if len(d.h) < d.max {
		c := *qi
		heap.Push(d, &c)
		return
	}
	if d.max == 0 || qi.Depth <= d.h[0].Depth {
		d.other.add(figuresOf(qi))
		return
	}
	d.other.add(figuresOf(d.h[0]))
	*d.h[0] = *qi // reuse the shallowest's copy
	heap.Fix(d, 0)
}

// heap.Interface, shallowest first.
func (d *deepest) Len() int           { return len(d.h) }
func (d *deepest) Less(i, j int) bool { return d.h[i].Depth < d.h[j].Depth }
func (d *deepest) Swap(i, j int)      { d.h[i], d.h[j] = d.h[j], d.h[i] }
func (d *deepest) Push(x any)         { d.h = append(d.h, x.(*wire.QueueInfo)) }
func (d *deepest) Pop() any {
	x := d.h[len(d.h)-1]
	d.h = d.h[:len(d.h)-1]
	return x
}
