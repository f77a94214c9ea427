package natsbackend_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"msw/broker/natsbackend"
	"msw/internal/natstest"
	"msw/lib"
)

// stored returns the subject and Msw-Origin header of message id of
// queue's stream, as the cluster holds it.
func stored(t *testing.T, js jetstream.JetStream, queue string, id uint64) (subject, origin string) {
	t.Helper()
	stream, err := natsbackend.StreamOf(queue)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctxT(t), stream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(ctxT(t), id)
	if err != nil {
		t.Fatalf("message %d of %s: %v", id, queue, err)
	}
	return m.Subject, m.Header.Get("Msw-Origin")
}

// jetStream connects to c for looking at its streams directly.
func jetStream(t *testing.T, c *natstest.Cluster) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(c.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// payloads makes n messages m0, m1, ...
func payloads(n int) []lib.Message {
	ms := make([]lib.Message, n)
	for i := range ms {
		ms[i].Payload = fmt.Appendf(nil, "m%d", i)
	}
	return ms
}

// takeAll takes n messages of queue through cl and checks each one's
// origin and delivery count.
func takeAll(t *testing.T, cl *lib.Client, queue string, n int, origin string, count uint32) []lib.Delivery {
	t.Helper()
	ds := take(t, ctxT(t), cl, n)
	for _, d := range ds {
		if d.Queue != queue || d.Origin != origin || d.DeliveryCount != count {
			t.Fatalf("message %d (%q) of %s: origin %q, delivery count %d; want %q, %d",
				d.ID, d.Payload, d.Queue, d.Origin, d.DeliveryCount, origin, count)
		}
	}
	return ds
}

// batchAndOne creates queue through cl, sends it a batch of n and then
// one message alone, and returns the batch's first id and the lone one's.
func batchAndOne(t *testing.T, cl *lib.Client, queue string, n int) (first, last uint64) {
	t.Helper()
	ctx := ctxT(t)
	if err := cl.CreateQueue(ctx, queue); err != nil {
		t.Fatal(err)
	}
	first, err := cl.SendBatch(ctx, queue, payloads(n))
	if err != nil {
		t.Fatal(err)
	}
	if last, err = cl.Send(ctx, queue, lib.Message{Payload: []byte("alone")}); err != nil {
		t.Fatal(err)
	}
	return first, last
}

// TestOriginInSubject: a queue made by a gateway takes a message's
// origin as the last token of its subject, and a batch sent through
// gateway a is stored so, without an Msw-Origin header; it reads back
// with its sender as origin in a peek and a transfer through gateway b,
// and again when given back and delivered a second time through a.
func TestOriginInSubject(t *testing.T) {
	c := natstest.Start(t, 3)
	ga, gb := startGateway(t, c, "a"), startGateway(t, c, "b")
	js := jetStream(t, c)
	ctx := ctxT(t)
	const queue, sender = "orders.in", "sender[7]@host.example" // both escaped
	ca, cb := client(t, ga, sender), client(t, gb, "receiver")
	const n = 200
	first, last := batchAndOne(t, ca, queue, n)
	for _, id := range []uint64{first, first + 1, first + n - 1, last} {
		subject, header := stored(t, js, queue, id)
		if !strings.HasPrefix(subject, natsbackend.QueueSubject(queue)+".") || header != "" {
			t.Errorf("message %d stored on %q with Msw-Origin %q; want the origin in the subject, no header", id, subject, header)
		}
	}

	ps, err := cb.Peek(ctx, queue, 3)
	if err != nil || len(ps) != 3 {
		t.Fatalf("peek through b: %d messages, %v", len(ps), err)
	}
	for _, p := range ps {
		if p.Origin != sender {
			t.Errorf("peek through b: message %d has origin %q; want %q", p.ID, p.Origin, sender)
		}
	}

	if err := cb.Subscribe(ctx, queue); err != nil {
		t.Fatal(err)
	}
	ds := takeAll(t, cb, queue, n+1, sender, 1)
	back := lib.Acks{}
	for _, d := range ds[:10] {
		back[queue] = append(back[queue], d.ID)
	}
	rest := lib.Acks{}
	for _, d := range ds[10:] {
		rest[queue] = append(rest[queue], d.ID)
	}
	if err := cb.Release(ctx, back); err != nil {
		t.Fatal(err)
	}
	if err := cb.Ack(ctx, rest); err != nil {
		t.Fatal(err)
	}
	cc := client(t, ga, "second-receiver")
	if err := cc.Subscribe(ctx, queue); err != nil {
		t.Fatal(err)
	}
	again := takeAll(t, cc, queue, 10, sender, 2)
	if err := cc.Ack(ctx, ackAll(queue, again)); err != nil {
		t.Fatal(err)
	}
}

// TestStreamMadeTheOldWay: a queue whose stream takes its one subject
// alone (made by a gateway from before origins went in the subject)
// gets its messages on that subject, the origin in the header: a batch
// and a single send through gateway a read back with their origin
// through gateway b, and after a redelivery.
func TestStreamMadeTheOldWay(t *testing.T) {
	c := natstest.Start(t, 3)
	ga, gb := startGateway(t, c, "a"), startGateway(t, c, "b")
	js := jetStream(t, c)
	ctx := ctxT(t)
	const queue, sender = "old.way", "old-sender"
	stream, err := natsbackend.StreamOf(queue)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: stream, Subjects: []string{natsbackend.QueueSubject(queue)},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Replicas: 3,
		AllowBatchPublish: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: "msw", AckPolicy: jetstream.AckExplicitPolicy, AckWait: testAckWait,
		MaxDeliver: -1, MaxAckPending: -1, MaxWaiting: 4096,
	}); err != nil {
		t.Fatal(err)
	}
	ca, cb := client(t, ga, sender), client(t, gb, "receiver")
	const n = 200
	first, last := batchAndOne(t, ca, queue, n) // the queue found there
	for _, id := range []uint64{first, first + n - 1, last} {
		subject, header := stored(t, js, queue, id)
		if subject != natsbackend.QueueSubject(queue) || header != sender {
			t.Errorf("message %d stored on %q with Msw-Origin %q; want %q, %q", id, subject, header, natsbackend.QueueSubject(queue), sender)
		}
	}
	if err := cb.Subscribe(ctx, queue); err != nil {
		t.Fatal(err)
	}
	ds := takeAll(t, cb, queue, n+1, sender, 1)
	if err := cb.Release(ctx, ackAll(queue, ds)); err != nil {
		t.Fatal(err)
	}
	again := takeAll(t, cb, queue, n+1, sender, 2)
	if err := cb.Ack(ctx, ackAll(queue, again)); err != nil {
		t.Fatal(err)
	}
}
