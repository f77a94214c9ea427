// Package natsbackend is the broker's Engine over a NATS JetStream
// cluster: msw-switch --backend nats://... keeps its persistent queues
// there, so that several switches (gateways) serve the same queues and a
// cluster node can die. The mapping is written down in docs/scale-out.md:
// a queue is a work-queue stream with one shared durable pull consumer, a
// message's id is its stream sequence, a transfer is a pull, an ack an
// ack, a release a negative ack; transient queues stay in the gateway
// that owns them and are reached over a plain NATS subject. A send that
// a transfer on some gateway is waiting for is handed to it over plain
// NATS instead of stored, the sender keeping a copy until it is settled
// (direct.go, handoff.go).
package natsbackend

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"msw/broker"
	"msw/internal/wire"
)

// Options configure an Engine. Zero fields take the defaults below.
type Options struct {
	// URL is one or more server URLs, separated by commas
	// (nats://host1:4222,nats://host2:4222).
	URL string
	// Replicas is each queue's stream replication; default 1. A queue
	// survives the loss of a node only with 3 (or more) on a cluster.
	Replicas int
	// AckWait is how long a delivered message may go unacknowledged
	// before the cluster redelivers it; default 30s. Gateways keep the
	// messages their sessions hold alive well within it.
	AckWait time.Duration
	// Timeout bounds each request to the cluster; default 5s.
	Timeout time.Duration
	// Name is the connection's name, as the cluster's monitoring shows it.
	Name string
	// NATS are further connection options: credentials, TLS.
	NATS []nats.Option
}

// Defaults for Options.
const (
	DefaultAckWait = 30 * time.Second
	DefaultTimeout = 5 * time.Second
)

// Engine keeps an msw switch's persistent queues in a JetStream cluster.
type Engine struct {
	o  Options
	nc *nats.Conn
	js jetstream.JetStream

	mu        sync.Mutex // leaf
	consumers map[string]jetstream.Consumer
	own       *ownSends
	direct    *direct
	acks      *acks
	reqs      *requests
	fast      *fastBatches
	forms     forms
}

var _ broker.Engine = (*Engine)(nil)

// Open connects to the cluster. The connection reconnects by itself, to
// any server of the cluster, for as long as the engine is open.
func Open(o Options) (*Engine, error) {
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.AckWait <= 0 {
		o.AckWait = DefaultAckWait
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	opts := append([]nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(o.Timeout),
	}, o.NATS...)
	nc, err := nats.Connect(o.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats backend %s: %w", o.URL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats backend %s: %w", o.URL, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats backend %s: jetstream: %w", o.URL, err)
	}
	e := &Engine{o: o, nc: nc, js: js, consumers: make(map[string]jetstream.Consumer), own: newOwnSends(),
		forms: forms{m: make(map[string]streamForm)}}
	for _, start := range []func() error{e.startRequests, e.startAcks, e.startFastBatches, e.startDirect} {
		if err := start(); err != nil {
			nc.Close()
			return nil, fmt.Errorf("nats backend %s: %w", o.URL, err)
		}
	}
	return e, nil
}

// Close drops the connection. Messages still held are redelivered by the
// cluster after the ack wait; the copies of messages this gateway handed
// directly and has not heard settled are stored first (direct.go).
func (e *Engine) Close() {
	e.direct.close()
	e.nc.Close()
}

// AckWait returns the ack wait in force, for choosing a keep-alive.
func (e *Engine) AckWait() time.Duration { return e.o.AckWait }

// ctx returns a context bounded by the request timeout.
func (e *Engine) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), e.o.Timeout)
}

// createAttempts is how many times a queue's creation is tried when the
// cluster does not answer within the timeout. A replicated stream is a
// Raft group of its own: on a loaded cluster its election can take longer
// than one request's timeout, and the request may have been carried out
// all the same. Both steps are idempotent, so trying again is safe.
const createAttempts = 3

// replicated runs fn, a replicated write that is safe to repeat, with a
// fresh timeout each time the cluster did not answer in time.
func (e *Engine) replicated(fn func(ctx context.Context) error) error {
	var err error
	for range createAttempts {
		ctx, cancel := e.ctx()
		err = fn(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			return err
		}
	}
	return err
}

// failed wraps an error of the cluster as the broker's storage error.
func failed(what, queue string, err error) error {
	return fmt.Errorf("%w: nats backend: %s %s: %v", broker.ErrStorage, what, queue, err)
}

// noQueue is the broker's error for a queue the cluster does not have.
func noQueue(queue string) error { return fmt.Errorf("%w: %s", broker.ErrNoSuchQueue, queue) }

// CreateQueue makes the queue's stream and its consumer; it is not an
// error if they exist.
func (e *Engine) CreateQueue(name string) error {
	stream, err := streamOf(name)
	if err != nil {
		return err
	}
	ctx, cancel := e.ctx()
	defer cancel()
	// Most creates find the queue there (every call and serve creates
	// its queue): one look-up, not a replicated write.
	if c, err := e.js.Consumer(ctx, stream, consumerName); err == nil {
		e.mu.Lock()
		e.consumers[name] = c
		e.mu.Unlock()
		return nil
	}
	cfg := jetstream.StreamConfig{
		Name:        stream,
		Description: "msw queue " + name,
		Subjects:    subjects(name), // with the origin as a token (subjects.go)
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    e.o.Replicas,
		// Sends of many messages go as fast batches (fastbatch.go).
		AllowBatchPublish: true,
	}
	var s jetstream.Stream
	err = e.replicated(func(ctx context.Context) (err error) {
		s, err = e.js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = e.js.Stream(ctx, stream)
		}
		return err
	})
	if err != nil {
		return failed("create", name, err)
	}
	e.forms.know(name, formOf(name, s.CachedInfo().Config))
	var c jetstream.Consumer
	err = e.replicated(func(ctx context.Context) (err error) {
		c, err = s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       consumerName,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       e.o.AckWait,
			MaxDeliver:    -1,
			MaxAckPending: -1,
			MaxWaiting:    4096,
		})
		return err
	})
	if err != nil {
		return failed("create consumer of", name, err)
	}
	e.mu.Lock()
	e.consumers[name] = c
	e.mu.Unlock()
	return nil
}

// DestroyQueue deletes the queue's stream, its messages and consumer.
func (e *Engine) DestroyQueue(name string) error {
	stream, err := streamOf(name)
	if err != nil {
		return err
	}
	e.forget(name)
	e.own.forget(name)
	ctx, cancel := e.ctx()
	defer cancel()
	err = e.js.DeleteStream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return noQueue(name)
	}
	if err != nil {
		return failed("destroy", name, err)
	}
	return nil
}

// QueueExists reports whether the cluster holds the queue.
func (e *Engine) QueueExists(name string) (bool, error) {
	_, err := e.consumer(name)
	if errors.Is(err, broker.ErrNoSuchQueue) {
		return false, nil
	}
	return err == nil, err
}

// consumer returns the queue's consumer, looked up once.
func (e *Engine) consumer(name string) (jetstream.Consumer, error) {
	e.mu.Lock()
	c := e.consumers[name]
	e.mu.Unlock()
	if c != nil {
		return c, nil
	}
	stream, err := streamOf(name)
	if err != nil {
		return nil, err
	}
	ctx, cancel := e.ctx()
	defer cancel()
	c, err = e.js.Consumer(ctx, stream, consumerName)
	if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, noQueue(name)
	}
	if err != nil {
		return nil, failed("look up", name, err)
	}
	e.mu.Lock()
	e.consumers[name] = c
	e.mu.Unlock()
	return c, nil
}

// forget drops a queue's cached consumer, and what it knew of the
// queue's stream's form.
func (e *Engine) forget(name string) {
	e.mu.Lock()
	delete(e.consumers, name)
	e.mu.Unlock()
	e.forms.forget(name)
}

// Queues lists the cluster's queues whose names start with prefix.
func (e *Engine) Queues(prefix string) ([]string, error) {
	ctx, cancel := e.ctx()
	defer cancel()
	l := e.js.StreamNames(ctx, jetstream.WithStreamListSubject(queueSubject+">"))
	var out []string
	for s := range l.Name() {
		if q, ok := queueOf(s); ok && strings.HasPrefix(q, prefix) {
			out = append(out, q)
		}
	}
	if err := l.Err(); err != nil {
		return nil, failed("list", prefix+"*", err)
	}
	return out, nil
}

// Info describes a queue as the cluster sees it: ready messages are the
// consumer's pending ones, in flight those delivered and not yet acked.
func (e *Engine) Info(name string) (wire.QueueInfo, error) {
	c, err := e.consumer(name)
	if err != nil {
		return wire.QueueInfo{}, err
	}
	e.acks.await(name, e.o.Timeout) // what this gateway acked is not in flight
	ctx, cancel := e.ctx()
	defer cancel()
	ci, err := c.Info(ctx)
	if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		e.forget(name)
		return wire.QueueInfo{}, noQueue(name)
	}
	if err != nil {
		return wire.QueueInfo{}, failed("info", name, err)
	}
	qi := wire.QueueInfo{Name: name, Kind: wire.KindPersistent, Durable: true, Depth: int(ci.NumPending), InFlight: ci.NumAckPending + e.direct.heldDirect(name), Created: ci.Created}
	if s, err := e.js.Stream(ctx, ci.Stream); err == nil {
		st := s.CachedInfo().State
		qi.Bytes = int64(st.Bytes)
		if st.Msgs > 0 {
			qi.OldestMessage = st.FirstTime
		}
		// The consumer's counts may trail the stream (and a consumer
		// leader newly elected may count fewer than the last); the
		// stream's leader has every message a send was answered for,
		// and a work-queue stream keeps just those not acked. So the
		// queue holds at least that many: an msw-rm without -f right
		// after a send sees the message and refuses.
		if n := int(st.Msgs) - qi.InFlight; n > qi.Depth {
			qi.Depth = n
		}
	}
	return qi, nil
}
