package natsbackend_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"msw/broker/natsbackend"
	"msw/internal/natstest"
	"msw/lib"
)

// sendBatchAndTake sends n messages with one SendBatch through gateway g
// and takes them back: each arrives once, in the order sent, with the
// consecutive ids the send's answer begins (nobody else sends to the
// queue), its correlation id and reply-to if it had them (a third and a
// fifth of them: the others share one header in a fast batch), and the
// sender as origin.
func sendBatchAndTake(t *testing.T, g *gateway, queue string, n int) {
	t.Helper()
	ctx := ctxT(t)
	sender := "batch-" + queue
	cl := client(t, g, sender)
	if err := cl.CreateQueue(ctx, queue); err != nil {
		t.Fatal(err)
	}
	ms := make([]lib.Message, n)
	for i := range ms {
		ms[i].Payload = fmt.Appendf(nil, "m%d", i)
		if i%3 == 0 {
			ms[i].CorrelationID = fmt.Sprintf("c%d", i)
		}
		if i%5 == 0 {
			ms[i].ReplyTo = fmt.Sprintf("r%d", i)
		}
	}
	first, err := cl.SendBatch(ctx, queue, ms)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Subscribe(ctx, queue); err != nil {
		t.Fatal(err)
	}
	// Each transfer's messages are acked before the next: held long
	// under a loaded machine, the ack wait of the tests' queues (2 s)
	// could bring one back before the gateway kept it alive.
	for i := 0; i < n; {
		ds, err := cl.Transfer(ctx, lib.TransferOptions{Max: 500, Timeout: 5 * time.Second})
		if err != nil || len(ds) == 0 {
			t.Fatalf("transfer after %d of %d: %d, %v", i, n, len(ds), err)
		}
		acks := lib.Acks{}
		for _, d := range ds {
			if i >= n || string(d.Payload) != string(ms[i].Payload) || d.CorrelationID != ms[i].CorrelationID ||
				d.ReplyTo != ms[i].ReplyTo || d.Origin != sender || d.ID != first+uint64(i) {
				want := lib.Message{}
				if i < n {
					want = ms[i]
				}
				t.Fatalf("delivery %d: %q (correlation %q, reply-to %q, origin %q), id %d; want %q (%q, %q, %q), id %d",
					i, d.Payload, d.CorrelationID, d.ReplyTo, d.Origin, d.ID, want.Payload, want.CorrelationID, want.ReplyTo, sender, first+uint64(i))
			}
			acks[queue] = append(acks[queue], d.ID)
			i++
		}
		if err := cl.Ack(ctx, acks); err != nil {
			t.Fatal(err)
		}
	}
	if ds, err := cl.Transfer(ctx, lib.TransferOptions{Max: 1}); err != nil || len(ds) != 0 {
		t.Fatalf("after taking all %d: %d more, %v", n, len(ds), err)
	}
}

// TestSendBatchAsFastBatch: a send of many messages goes to the cluster
// as one fast batch (more than two flow windows of it), and comes back
// whole, in order, with the ids the send answered.
func TestSendBatchAsFastBatch(t *testing.T) {
	c := natstest.Start(t, 3)
	a := startGateway(t, c, "a")
	sendBatchAndTake(t, a, "fast", 2500)
}

// TestSendBatchToStreamWithoutBatches: a queue whose stream takes no
// batches (made by a gateway from before they were used) gets a batch
// send as single publishes, each message once; so does one whose stream
// stops taking them after the gateway saw it take one (the stream
// refuses the batch: the gateway learns it then).
func TestSendBatchToStreamWithoutBatches(t *testing.T) {
	c := natstest.Start(t, 3)
	a := startGateway(t, c, "a")
	nc, err := nats.Connect(c.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	config := func(queue string, batches bool) jetstream.StreamConfig {
		stream, err := natsbackend.StreamOf(queue)
		if err != nil {
			t.Fatal(err)
		}
		return jetstream.StreamConfig{
			Name: stream, Subjects: []string{natsbackend.QueueSubject(queue)},
			Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Replicas: 3,
			AllowBatchPublish: batches,
		}
	}
	if _, err := js.CreateStream(ctxT(t), config("old", false)); err != nil {
		t.Fatal(err)
	}
	sendBatchAndTake(t, a, "old", 300)

	sendBatchAndTake(t, a, "turned", 300) // a batch, taken
	if _, err := js.UpdateStream(ctxT(t), config("turned", false)); err != nil {
		t.Fatal(err)
	}
	for range 2 { // refused, then known to refuse
		sendBatchAndTake(t, a, "turned", 300)
	}
}
