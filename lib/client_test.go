package lib_test

import (
	"context"
	"errors"
	"log"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"msw/broker"
	"msw/internal/switchtest"
	"msw/internal/testutil"
	"msw/lib"
	"msw/server"
)

// runSwitch serves a fresh broker on addr (a unix: path or 127.0.0.1:0)
// and returns the address clients use and a function that stops it.
func runSwitch(t *testing.T, addr string, opts broker.Options) (string, func()) {
	sw := switchtest.Start(t, addr, opts, switchLog(t))
	return sw.Addr, sw.Stop
}

// switchLog has a switch's log lines show with the test.
func switchLog(t *testing.T) server.Options {
	return server.Options{Log: log.New(testutil.LogWriter(t, "switch: "), "", 0)}
}

func newClient(t *testing.T, addr string, wait time.Duration) *lib.Client {
	return switchtest.Client(t, addr, lib.Options{ClientID: t.Name(), Wait: wait})
}

func TestSendTransferAck(t *testing.T) {
	addr, _ := runSwitch(t, "127.0.0.1:0", broker.Options{})
	ctx := context.Background()
	c := newClient(t, addr, 0)
	if err := c.CreateQueue(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	first, err := c.SendBatch(ctx, "q", []lib.Message{{Payload: []byte("a")}, {Payload: []byte{0}, CorrelationID: "c", ReplyTo: "q", Status: 2}})
	if err != nil || first != 1 {
		t.Fatalf("SendBatch = %d, %v", first, err)
	}
	if err := c.Subscribe(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	ds, err := c.Transfer(ctx, lib.TransferOptions{Timeout: time.Second})
	if err != nil || len(ds) != 2 {
		t.Fatalf("Transfer = %d messages, %v", len(ds), err)
	}
	if d := ds[1]; string(d.Payload) != "\x00" || d.CorrelationID != "c" || d.ReplyTo != "q" || d.Status != 2 || d.Origin != t.Name() || d.ID != 2 {
		t.Errorf("second delivery = %+v", d)
	}
	ds, err = c.Transfer(ctx, lib.TransferOptions{Acks: lib.Acks{"q": {1, 2}}})
	if err != nil || len(ds) != 0 {
		t.Fatalf("Transfer with acks = %v, %v", ds, err)
	}
	qi, err := c.Info(ctx, "q")
	if err != nil || qi.Depth != 0 || qi.InFlight != 0 {
		t.Errorf("after acks: %+v, %v", qi, err)
	}
}

func TestBigBatchIsSplitAndOrdered(t *testing.T) {
	addr, _ := runSwitch(t, "127.0.0.1:0", broker.Options{})
	ctx := context.Background()
	c := newClient(t, addr, 0)
	c.CreateQueue(ctx, "q")
	payload := strings.Repeat("x", 100<<10)
	ms := make([]lib.Message, 100) // 10 MiB: more than one request
	for i := range ms {
		ms[i] = lib.Message{Payload: []byte(payload), CorrelationID: string(rune('A' + i%26))}
	}
	if _, err := c.SendBatch(ctx, "q", ms); err != nil {
		t.Fatal(err)
	}
	c.Subscribe(ctx, "q")
	var got []lib.Delivery
	for len(got) < len(ms) {
		ds, err := c.Transfer(ctx, lib.TransferOptions{Timeout: time.Second})
		if err != nil || len(ds) == 0 {
			t.Fatalf("Transfer after %d: %v", len(got), err)
		}
		got = append(got, ds...)
	}
	for i, d := range got {
		if d.ID != uint64(i+1) || d.CorrelationID != ms[i].CorrelationID {
			t.Fatalf("message %d: id %d corr %q; want %d %q", i, d.ID, d.CorrelationID, i+1, ms[i].CorrelationID)
		}
	}
}

func TestUnreachableNamesTheAddress(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	c := newClient(t, addr, 0)
	_, err := c.List(context.Background(), lib.ListOptions{All: true})
	if !errors.Is(err, lib.ErrUnreachable) {
		t.Fatalf("List = %v; want ErrUnreachable", err)
	}
	if want := "switch at " + addr + " not reachable: connection refused"; err.Error() != want {
		t.Errorf("error = %q; want %q", err, want)
	}
	c2 := newClient(t, "unix:"+t.TempDir()+"/none", 0)
	if err := c2.Ping(context.Background()); err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("unix Ping = %v; want no such file", err)
	}
}

func TestWaitRetriesUntilTheSwitchIsUp(t *testing.T) {
	sock := "unix:" + t.TempDir() + "/sock"
	c := newClient(t, sock, 20*time.Second)
	errc := make(chan error, 1)
	go func() { errc <- c.CreateQueue(context.Background(), "late") }()
	select {
	case err := <-errc:
		t.Fatalf("CreateQueue returned %v before the switch existed", err)
	case <-time.After(100 * time.Millisecond): // it must still be retrying
	}
	runSwitch(t, sock, broker.Options{})
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("CreateQueue after the switch came up = %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("client never reached the switch")
	}
}

func TestBadAddress(t *testing.T) {
	for _, a := range []string{"nohost", "ftp://x:1", "unix:"} {
		if _, err := lib.New(lib.Options{Addr: a}); err == nil {
			t.Errorf("lib.New(%q) = nil error", a)
		}
	}
	for _, a := range []string{"", "127.0.0.1:1", ":1", "http://localhost:1/", "unix:/tmp/x"} {
		if _, err := lib.New(lib.Options{Addr: a}); err != nil {
			t.Errorf("lib.New(%q) = %v", a, err)
		}
	}
}

// TestRestartRestoresSession: after the switch restarts (losing every
// queue), the client's next request logs in again and restores its
// queues, transient queue and subscriptions by itself.
func TestRestartRestoresSession(t *testing.T) {
	sock := "unix:" + t.TempDir() + "/sock"
	_, stop := runSwitch(t, sock, broker.Options{})
	ctx := context.Background()
	c := newClient(t, sock, 10*time.Second)
	c.CreateQueue(ctx, "work")
	tmp, err := c.CreateTransient(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(ctx, "work", tmp); err != nil {
		t.Fatal(err)
	}
	epoch := c.Epoch()
	stop()
	runSwitch(t, sock, broker.Options{})

	other := newClient(t, sock, 0)
	// The restored client must be listening again before the send: poll
	// with a short transfer (which triggers the re-login).
	ds, err := c.Transfer(ctx, lib.TransferOptions{Timeout: 10 * time.Millisecond})
	if err != nil || len(ds) != 0 {
		t.Fatalf("first transfer after restart = %v, %v", ds, err)
	}
	if c.Epoch() == epoch {
		t.Errorf("Epoch unchanged after the switch restarted")
	}
	if _, err := other.Send(ctx, "work", lib.Message{Payload: []byte("w")}); err != nil {
		t.Fatalf("send to restored queue: %v", err)
	}
	if _, err := other.Send(ctx, tmp, lib.Message{Payload: []byte("t")}); err != nil {
		t.Fatalf("send to restored transient queue: %v", err)
	}
	var got []string
	for len(got) < 2 {
		ds, err := c.Transfer(ctx, lib.TransferOptions{Timeout: 5 * time.Second})
		if err != nil || len(ds) == 0 {
			t.Fatalf("transfer = %v, %v (got %v)", ds, err, got)
		}
		for _, d := range ds {
			got = append(got, d.Queue+":"+string(d.Payload))
		}
	}
	if strings.Join(got, " ") != "work:w "+tmp+":t" && strings.Join(got, " ") != tmp+":t work:w" {
		t.Errorf("got %v", got)
	}
}

func TestCloseGivesBackAndRemovesTransient(t *testing.T) {
	addr, _ := runSwitch(t, "127.0.0.1:0", broker.Options{})
	ctx := context.Background()
	c := newClient(t, addr, 0)
	c.CreateQueue(ctx, "q")
	c.Send(ctx, "q", lib.Message{Payload: []byte("m")})
	tmp, _ := c.CreateTransient(ctx, "")
	c.Subscribe(ctx, "q")
	if ds, _ := c.Transfer(ctx, lib.TransferOptions{}); len(ds) != 1 {
		t.Fatalf("took %d; want 1", len(ds))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	o := newClient(t, addr, 0)
	qi, _ := o.Info(ctx, "q")
	if qi.Depth != 1 || qi.InFlight != 0 {
		t.Errorf("after Close: depth %d in flight %d; want 1, 0", qi.Depth, qi.InFlight)
	}
	if _, err := o.Info(ctx, tmp); !lib.IsCode(err, lib.CodeNoSuchQueue) {
		t.Errorf("transient after Close: %v; want no_such_queue", err)
	}
}

// TestAcksNeverCrossARestart: message ids are only good for the life of
// the switch that gave them out. After a restart the new switch numbers
// its messages from 1 again, so a request naming messages taken before
// must not reach it as it was: it would delete messages nobody has seen.
func TestAcksNeverCrossARestart(t *testing.T) {
	sock := "unix:" + t.TempDir() + "/sock"
	_, stop := runSwitch(t, sock, broker.Options{})
	ctx := context.Background()
	taker := newClient(t, sock, 10*time.Second)
	acker := newClient(t, sock, 10*time.Second)
	for _, c := range []*lib.Client{taker, acker} {
		c.CreateQueue(ctx, "q")
		c.Subscribe(ctx, "q")
	}
	taker.SendBatch(ctx, "q", []lib.Message{{Payload: []byte("old1")}, {Payload: []byte("old2")}})
	old1, err1 := taker.Transfer(ctx, lib.TransferOptions{Max: 1})
	old2, err2 := acker.Transfer(ctx, lib.TransferOptions{Max: 1})
	if err1 != nil || err2 != nil || len(old1) != 1 || len(old2) != 1 {
		t.Fatalf("Transfers = %v %v, %v %v", old1, err1, old2, err2)
	}
	stop()
	runSwitch(t, sock, broker.Options{})
	other := newClient(t, sock, 0)
	other.CreateQueue(ctx, "q")
	other.SendBatch(ctx, "q", []lib.Message{{Payload: []byte("new1")}, {Payload: []byte("new2")}, {Payload: []byte("new3")}})

	// The first request after the restart carries acks of old messages:
	// they are dropped, and the new messages all arrive.
	ds, err := taker.Transfer(ctx, lib.TransferOptions{Acks: lib.Acks{"q": {old1[0].ID, old2[0].ID}}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, string(d.Payload))
	}
	if strings.Join(got, " ") != "new1 new2 new3" {
		t.Errorf("after the restart got %v; want every new message (none deleted by a stale ack)", got)
	}
	// A plain Ack of an old message fails instead of deleting a new one.
	if err := acker.Ack(ctx, lib.Acks{"q": {old2[0].ID}}); !errors.Is(err, lib.ErrSwitchRestarted) {
		t.Errorf("Ack of a message from before the restart = %v; want ErrSwitchRestarted", err)
	}
	if qi, _ := other.Info(ctx, "q"); qi.InFlight != 3 {
		t.Errorf("in flight = %d; want the 3 new messages, still held", qi.InFlight)
	}
}

// TestAckAfterAnotherRequestLoggedIn: an Ack of a message taken before
// a restart fails even when its first attempt goes to the new switch,
// the client having logged in there for another request in between. It
// must not delete the new switch's message of the same id.
func TestAckAfterAnotherRequestLoggedIn(t *testing.T) {
	sock := "unix:" + t.TempDir() + "/sock"
	_, stop := runSwitch(t, sock, broker.Options{})
	ctx := context.Background()
	c := newClient(t, sock, 10*time.Second)
	c.CreateQueue(ctx, "q")
	c.Subscribe(ctx, "q")
	c.SendBatch(ctx, "q", []lib.Message{{Payload: []byte("old1")}, {Payload: []byte("old2")}})
	old, err := c.Transfer(ctx, lib.TransferOptions{Max: 2})
	if err != nil || len(old) != 2 {
		t.Fatalf("Transfer = %v, %v", old, err)
	}
	before := c.Epoch()
	stop()
	runSwitch(t, sock, broker.Options{})
	other := newClient(t, sock, 0)
	other.CreateQueue(ctx, "q")
	other.SendBatch(ctx, "q", []lib.Message{{Payload: []byte("new1")}, {Payload: []byte("new2")}})
	// Another request of the client logs it in to the new switch.
	if err := c.Subscribe(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	epoch := c.Epoch()
	if epoch == before {
		t.Fatalf("Subscribe after the restart did not log in again")
	}
	if err := c.Ack(ctx, lib.Acks{"q": {old[0].ID}}); !errors.Is(err, lib.ErrSwitchRestarted) {
		t.Errorf("Ack of a message from before the restart = %v; want ErrSwitchRestarted", err)
	}
	if err := c.Release(ctx, lib.Acks{"q": {old[1].ID}}); !errors.Is(err, lib.ErrSwitchRestarted) {
		t.Errorf("Release of a message from before the restart = %v; want ErrSwitchRestarted", err)
	}
	if c.Epoch() != epoch {
		t.Errorf("the refused requests logged in again")
	}
	if qi, _ := other.Info(ctx, "q"); qi.Depth != 2 {
		t.Errorf("depth = %d; want the 2 new messages, none deleted by a stale ack", qi.Depth)
	}
	// Messages taken in the new life are acked as usual.
	ds, err := c.Transfer(ctx, lib.TransferOptions{Max: 1, Timeout: 5 * time.Second})
	if err != nil || len(ds) != 1 {
		t.Fatalf("Transfer after the restart = %v, %v", ds, err)
	}
	if err := c.Ack(ctx, lib.Acks{"q": {ds[0].ID}}); err != nil {
		t.Errorf("Ack of a message taken after the restart = %v", err)
	}
}

func TestBadQueueNamesRefusedBeforeSending(t *testing.T) {
	addr, _ := runSwitch(t, "127.0.0.1:0", broker.Options{})
	c := newClient(t, addr, 0)
	for _, name := range []string{"", ".", "..", "a/b", "a b"} {
		err := c.CreateQueue(context.Background(), name)
		if !lib.IsCode(err, lib.CodeBadQueueName) {
			t.Errorf("CreateQueue(%q) = %v; want a bad_queue_name error", name, err)
		}
	}
}

// TestAckWaitingThroughARestart: an Ack that waits for a switch that went
// away must not be carried out by the next one, even when the client has
// meanwhile logged in to that switch and taken a new message with the
// old one's id. The Ack's wait is held (Options.Waiting blocks) until
// the client's Transfer has done just that.
func TestAckWaitingThroughARestart(t *testing.T) {
	sock := "unix:" + t.TempDir() + "/sock"
	_, stop := runSwitch(t, sock, broker.Options{})
	ctx := context.Background()
	waiting, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	c := switchtest.Client(t, sock, lib.Options{ClientID: t.Name(), Wait: 30 * time.Second,
		Waiting: func(string, string) {
			once.Do(func() { close(waiting) })
			<-release
		}})
	c.CreateQueue(ctx, "q")
	c.Subscribe(ctx, "q")
	c.Send(ctx, "q", lib.Message{Payload: []byte("old")})
	old, err := c.Transfer(ctx, lib.TransferOptions{Max: 1})
	if err != nil || len(old) != 1 {
		t.Fatalf("Transfer = %v, %v", old, err)
	}
	stop()
	acked := make(chan error, 1)
	go func() { acked <- c.Ack(ctx, lib.Acks{"q": {old[0].ID}}) }()
	<-waiting // the Ack has failed against the switch that went, and waits

	runSwitch(t, sock, broker.Options{})
	other := newClient(t, sock, 0)
	other.CreateQueue(ctx, "q")
	other.Send(ctx, "q", lib.Message{Payload: []byte("new")})
	ds, err := c.Transfer(ctx, lib.TransferOptions{Timeout: 5 * time.Second})
	if err != nil || len(ds) != 1 || ds[0].ID != old[0].ID {
		t.Fatalf("Transfer after the restart = %v, %v; want the new message with the old one's id %d", ds, err, old[0].ID)
	}
	close(release)
	if err := <-acked; !errors.Is(err, lib.ErrSwitchRestarted) {
		t.Errorf("Ack of a message taken before the restart = %v; want ErrSwitchRestarted", err)
	}
	if qi, err := other.Info(ctx, "q"); err != nil || qi.InFlight != 1 {
		t.Errorf("in flight = %d (%v); want the new message, still held", qi.InFlight, err)
	}
}
