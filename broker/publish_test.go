package broker

import (
	"errors"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"

	"msw/internal/wire"
)

// matchCases is the table of pattern matching both the index and
// wire.MatchTopic keep: wildcards at each position, and the edges.
var matchCases = []struct {
	pattern, topic string
	want           bool
}{
	{"news", "news", true},
	{"news", "news.uk", false},
	{"news.uk", "news", false},
	{"news.sports.uk", "news.sports.uk", true},
	{"news.sports.uk", "news.sports.fr", false},
	{"*", "news", true},
	{"*", "news.uk", false},
	{"*.sports.uk", "news.sports.uk", true},
	{"*.sports.uk", "sports.uk", false},
	{"news.*.uk", "news.sports.uk", true},
	{"news.*.uk", "news.sports.fr", false},
	{"news.*.uk", "news.uk", false},
	{"news.sports.*", "news.sports.uk", true},
	{"news.sports.*", "news.sports", false},
	{"*.*.*", "a.b.c", true},
	{"*.*.*", "a.b", false},
	{">", "news", true},
	{">", "news.sports.uk", true},
	{"news.>", "news.uk", true},
	{"news.>", "news.sports.uk", true},
	{"news.>", "news", false}, // > is one token or more
	{"news.>", "sports.uk", false},
	{"*.>", "news.uk", true},
	{"*.>", "news", false},
	{"news.*.>", "news.sports.uk.london", true},
	{"news.*.>", "news.sports", false},
	{"News.uk", "news.uk", false}, // tokens are case-sensitive
}

func TestMatchTopic(t *testing.T) {
	for _, tc := range matchCases {
		if err := wire.ValidatePattern(tc.pattern); err != nil {
			t.Fatalf("pattern %q: %v", tc.pattern, err)
		}
		if err := wire.ValidateTopic(tc.topic); err != nil {
			t.Fatalf("topic %q: %v", tc.topic, err)
		}
		if got := wire.MatchTopic(tc.pattern, tc.topic); got != tc.want {
			t.Errorf("MatchTopic(%q, %q) = %v; want %v", tc.pattern, tc.topic, got, tc.want)
		}
		var tr bindingTrie
		q := &Queue{name: "q"}
		tr.add(tc.pattern, q)
		got := len(tr.matching(tc.topic)) > 0
		if got != tc.want {
			t.Errorf("index: %q matches %q = %v; want %v", tc.pattern, tc.topic, got, tc.want)
		}
		if !tr.remove(tc.pattern, q) || len(tr.root.children) != 0 {
			t.Errorf("index: removing %q left %v", tc.pattern, tr.root.children)
		}
	}
}

func TestValidateTopicAndPattern(t *testing.T) {
	for _, bad := range []string{"", ".", "news.", ".news", "news..uk", "news.*", "news.>", "new s", "news/uk", strings.Repeat("a", wire.MaxNameLen+1)} {
		if err := wire.ValidateTopic(bad); !errors.Is(err, wire.ErrBadTopic) {
			t.Errorf("ValidateTopic(%q) = %v; want ErrBadTopic", bad, err)
		}
	}
	for _, bad := range []string{"", "news..uk", "news.>.uk", ">.news", "news.s*", "news.>>", "news.#"} {
		if err := wire.ValidatePattern(bad); !errors.Is(err, wire.ErrBadTopic) {
			t.Errorf("ValidatePattern(%q) = %v; want ErrBadTopic", bad, err)
		}
	}
	for _, good := range []string{"a", "_x", "news-1.uk:2@host", "1.2.3"} {
		if err := wire.ValidateTopic(good); err != nil {
			t.Errorf("ValidateTopic(%q) = %v", good, err)
		}
	}
}

func bindAll(t *testing.T, b *Broker, q string, patterns ...string) {
	t.Helper()
	if err := b.CreateQueue(nil, q); err != nil {
		t.Fatal(err)
	}
	if err := b.Bind(nil, q, patterns); err != nil {
		t.Fatalf("Bind(%s, %v) = %v", q, patterns, err)
	}
}

func peekAll(t *testing.T, b *Broker, q string) string {
	t.Helper()
	ds, err := b.Peek(q, 100)
	if err != nil {
		t.Fatal(err)
	}
	return payloads(ds)
}

func TestPublishFansOutToMatchingQueues(t *testing.T) {
	skipOnEngine(t, "topics and bindings need the switch's own queues")
	b := newTestBroker(t, Options{})
	bindAll(t, b, "all-news", "news.>")
	bindAll(t, b, "uk", "*.*.uk")
	bindAll(t, b, "sports", "sports.>")
	bindAll(t, b, "twice", "news.>", "news.sports.uk", "news.sports.uk")
	s := login(t, b, "pub")
	for _, tc := range []struct {
		topic, payload string
		want           int
	}{
		{"news.sports.uk", "1", 3},
		{"news.weather", "2", 2},
		{"sports.uk", "3", 1},
		{"weather", "4", 0},
	} {
		n, err := b.Publish(s, tc.topic, msgs(tc.payload))
		if err != nil || n != tc.want {
			t.Errorf("Publish(%s) = %d, %v; want %d queues", tc.topic, n, err, tc.want)
		}
	}
	for q, want := range map[string]string{"all-news": "1,2", "uk": "1", "sports": "3", "twice": "1,2"} {
		if got := peekAll(t, b, q); got != want {
			t.Errorf("%s holds %q; want %q", q, got, want)
		}
	}
	qi, err := b.Info("twice")
	if err != nil || !slices.Equal(qi.Bindings, []string{"news.>", "news.sports.uk"}) {
		t.Errorf("Info(twice).Bindings = %v, %v", qi.Bindings, err)
	}
	if got := b.Bindings(); len(got) != 5 || got[0] != (wire.Binding{Queue: "all-news", Pattern: "news.>"}) {
		t.Errorf("Bindings() = %v", got)
	}
	// Each copy is a message of its own queue: acking one leaves the others.
	ds := mustTransferFrom(t, b, "all-news")
	if err := b.Ack(nil, wire.Acks{"all-news": {ds[0].ID}}); err != nil {
		t.Fatal(err)
	}
	if got := peekAll(t, b, "uk"); got != "1" {
		t.Errorf("after an ack in all-news, uk holds %q", got)
	}
}

func mustTransferFrom(t *testing.T, b *Broker, q string) []wire.Delivery {
	t.Helper()
	s := login(t, b, "reader-"+q)
	if err := b.Subscribe(s, []string{q}); err != nil {
		t.Fatal(err)
	}
	return mustTransfer(t, b, s, 1, 0)
}

func TestPublishKeepsOrderAndFields(t *testing.T) {
	skipOnEngine(t, "topics and bindings need the switch's own queues")
	b := newTestBroker(t, Options{})
	bindAll(t, b, "a", "t")
	bindAll(t, b, "b", "t")
	ms := msgs("x", "y", "z")
	ms[1].ReplyTo = "replies"
	if n, err := b.Publish(nil, "t", ms); err != nil || n != 2 {
		t.Fatalf("Publish = %d, %v", n, err)
	}
	for _, q := range []string{"a", "b"} {
		ds, _ := b.Peek(q, 10)
		if payloads(ds) != "x,y,z" || ds[1].CorrelationID != "cy" || ds[1].ReplyTo != "replies" || ds[0].ID+2 != ds[2].ID {
			t.Errorf("%s: %+v", q, ds)
		}
	}
}

// TestPublishedCopiesKnowTheirTopic: every copy of a published message,
// peeked or taken (read back from the log when its payload was left on
// disk), says the topic it was published to, beside its correlation id
// and reply-to; a message sent to the queue itself has none.
func TestPublishedCopiesKnowTheirTopic(t *testing.T) {
	skipOnEngine(t, "topics and bindings need the switch's own queues")
	b := newTestBroker(t, Options{})
	bindAll(t, b, "a", "news.>")
	bindAll(t, b, "b", "news.*.uk")
	ms := msgs("goal", "")
	ms[0].ReplyTo = "replies"
	if n, err := b.Publish(nil, "news.sports.uk", ms); err != nil || n != 2 {
		t.Fatalf("Publish = %d, %v", n, err)
	}
	mustSend(t, b, nil, "a", "plain")
	for _, q := range []string{"a", "b"} {
		peeked, _ := b.Peek(q, 10)
		var taken []wire.Delivery
		for len(taken) < len(peeked) {
			taken = append(taken, mustTransferFrom(t, b, q)...)
		}
		for _, ds := range [][]wire.Delivery{peeked, taken} {
			for i, d := range ds {
				want := "news.sports.uk"
				if i == 2 {
					want = "" // the plain send
				}
				if d.Topic != want {
					t.Errorf("%s: message %d %q has topic %q; want %q", q, i, d.Payload, d.Topic, want)
				}
			}
			if len(ds) < 2 || string(ds[0].Payload) != "goal" || ds[0].CorrelationID != "cgoal" || ds[0].ReplyTo != "replies" ||
				len(ds[1].Payload) != 0 || ds[1].CorrelationID != "c" || ds[1].ReplyTo != "" {
				t.Errorf("%s: fields of the copies: %+v", q, ds)
			}
		}
	}
}

func TestBindUnbindAndErrors(t *testing.T) {
	skipOnEngine(t, "topics and bindings need the switch's own queues")
	b := newTestBroker(t, Options{})
	bindAll(t, b, "q", "a.*")
	if err := b.Bind(nil, "q", []string{"a..b"}); !errors.Is(err, ErrBadTopic) {
		t.Errorf("Bind(bad pattern) = %v; want ErrBadTopic", err)
	}
	if err := b.Bind(nil, "nosuch", []string{"a"}); !errors.Is(err, ErrNoSuchQueue) {
		t.Errorf("Bind(no such queue) = %v; want ErrNoSuchQueue", err)
	}
	if _, err := b.Publish(nil, "a.*", msgs("x")); !errors.Is(err, ErrBadTopic) {
		t.Errorf("Publish to a pattern = %v; want ErrBadTopic", err)
	}
	if err := b.Unbind(nil, "q", []string{"a.*", "not.bound"}); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Publish(nil, "a.b", msgs("x")); n != 0 || err != nil {
		t.Errorf("after Unbind, Publish = %d, %v; want 0", n, err)
	}
	if len(b.bindings.root.children) != 0 {
		t.Errorf("index not empty after unbinding all: %v", b.bindings.root.children)
	}
}

func TestDestroyDropsBindings(t *testing.T) {
	skipOnEngine(t, "topics and bindings need the switch's own queues")
	b := newTestBroker(t, Options{})
	bindAll(t, b, "q", "a.>", "b")
	s := login(t, b, "sub")
	tmp, err := b.CreateTransient(s, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Bind(s, tmp, []string{"a.>"}); err != nil {
		t.Fatal(err)
	}
	if n, _ := b.Publish(nil, "a.x", msgs("1")); n != 2 {
		t.Fatalf("Publish = %d; want 2", n)
	}
	if err := b.DestroyQueue(nil, "q", false); err != nil {
		t.Fatal(err)
	}
	b.EndSession(s)
	if n, err := b.Publish(nil, "a.x", msgs("2")); n != 0 || err != nil {
		t.Errorf("after destroy, Publish = %d, %v; want 0", n, err)
	}
	if err := b.CreateQueue(nil, "q"); err != nil {
		t.Fatal(err)
	}
	if qi, _ := b.Info("q"); len(qi.Bindings) != 0 {
		t.Errorf("a re-created queue has bindings %v", qi.Bindings)
	}
	if len(b.bindings.root.children) != 0 {
		t.Errorf("index not empty: %v", b.bindings.root.children)
	}
}

func TestPublishTrace(t *testing.T) {
	skipOnEngine(t, "topics and bindings need the switch's own queues")
	b := newTestBroker(t, Options{})
	bindAll(t, b, "a", "t.*")
	bindAll(t, b, "b", "t.>")
	s := login(t, b, "pub")
	if _, err := b.Publish(s, "t.x", msgs("hello")); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	var pub wire.TraceEvent
	for _, ev := range b.Trace(t.Context(), 0, 0, 0).Events {
		if ev.Kind == wire.EventPublish || ev.Kind == wire.EventSend {
			kinds = append(kinds, ev.Kind+":"+ev.Queue)
		}
		if ev.Kind == wire.EventPublish {
			pub = ev
		}
	}
	if strings.Join(kinds, " ") != "publish:t.x send:a send:b" {
		t.Errorf("trace: %v", kinds)
	}
	if pub.Copies != 2 || pub.From != "pub" || pub.Preview != "hello" || pub.MessageID != 0 {
		t.Errorf("publish event: %+v", pub)
	}
}

// TestPublishCopyBytes measures the heap one more bound queue costs per
// published message: the copies share the message's bytes, so an extra
// copy is one message header in its queue's ring.
func TestPublishCopyBytes(t *testing.T) {
	skipOnEngine(t, "it measures the memory switch, done in the run over memory; the heap of the in-process cluster would count")
	const n = 1 << 14 // the rings fill exactly, so no slack is counted
	heap := func(queues int) int64 {
		b := New(Options{TraceSize: -1})
		for i := range queues {
			q := "q" + string(rune('a'+i))
			b.CreateQueue(nil, q)
			b.Bind(nil, q, []string{"t"})
		}
		ms := []wire.Message{{Payload: make([]byte, 100)}}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range n {
			b.Publish(nil, "t", ms)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(b)
		return int64(after.HeapAlloc) - int64(before.HeapAlloc)
	}
	// The heap is the process's: what goroutines other tests left behind
	// free or allocate meanwhile counts too (once, under load, the eleven
	// queues measured less than the one). The least of three tries is
	// the copies' own cost.
	perCopy := math.Inf(1)
	var one int64
	for range 3 {
		o, eleven := heap(1), heap(11)
		if c := float64(eleven-o) / float64(10*n); c >= 0 && c < perCopy {
			perCopy, one = c, o
		}
	}
	t.Logf("heap per extra copy: %.1f B (one queue: %.1f B per message of 100 B)", perCopy, float64(one)/n)
	if perCopy > 64 {
		t.Errorf("an extra copy costs %.1f B; want at most 64", perCopy)
	}
}

// TestPublishHeld checks that a publish's copies count against the
// switch's memory as sent messages do, and that taking them all off
// their queues gives every byte back.
func TestPublishHeld(t *testing.T) {
	skipOnEngine(t, "topics and bindings need the switch's own queues")
	b := newTestBroker(t, Options{})
	bindAll(t, b, "a", "t.>")
	bindAll(t, b, "b", "t.*")
	if _, err := b.Publish(nil, "t.x", msgs("12345")); err != nil {
		t.Fatal(err)
	}
	// What the same message costs sent to one queue.
	one := newTestBroker(t, Options{})
	one.CreateQueue(nil, "q")
	if _, err := one.Send(nil, "q", msgs("12345")); err != nil {
		t.Fatal(err)
	}
	// Each copy is charged the message's bytes, with the topic stored in
	// front of them (its length byte and "t.x"), as the copy gives back
	// when it leaves.
	if h, want := b.Held(), 2*(one.Held()+1+int64(len("t.x"))); h != want || one.Held() == 0 {
		t.Errorf("after publishing one message to 2 queues, Held() = %d; want %d", h, want)
	}
	for _, q := range []string{"a", "b"} {
		ds := mustTransferFrom(t, b, q)
		if err := b.Ack(nil, wire.Acks{q: {ds[0].ID}}); err != nil {
			t.Fatal(err)
		}
	}
	if h := b.Held(); h != 0 {
		t.Errorf("after both copies were acked, Held() = %d; want 0", h)
	}
}

// TestPublishRefusedWhenMemoryFull checks that a publish whose copies
// would take the switch past MaxMemory is refused, whole.
func TestPublishRefusedWhenMemoryFull(t *testing.T) {
	skipOnEngine(t, "topics and bindings need the switch's own queues")
	b := newTestBroker(t, Options{MaxMemory: 3 * wire.MessageOverhead})
	bindAll(t, b, "a", "t")
	bindAll(t, b, "b", "t")
	if _, err := b.Publish(nil, "t", msgs("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish(nil, "t", msgs("y")); !errors.Is(err, ErrMemoryFull) {
		t.Errorf("a publish past MaxMemory: %v; want ErrMemoryFull", err)
	}
	if got := peekAll(t, b, "a") + "/" + peekAll(t, b, "b"); got != "x/x" {
		t.Errorf("queues hold %q; want x/x", got)
	}
}

// TestPublishUnderPolicy checks that a queue's bounds hold for published
// copies as for sends: a full queue under reject refuses the publish,
// whole, and one under drop-oldest makes room.
func TestPublishUnderPolicy(t *testing.T) {
	skipOnEngine(t, "topics and bindings need the switch's own queues")
	b := newTestBroker(t, Options{})
	bindAll(t, b, "strict", "t")
	bindAll(t, b, "latest", "t")
	if err := b.SetPolicy(nil, "strict", wire.Policy{MaxDepth: 2}); err != nil {
		t.Fatal(err)
	}
	if err := b.SetPolicy(nil, "latest", wire.Policy{MaxDepth: 1, Overflow: wire.OverflowDropOldest}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"1", "2"} {
		if _, err := b.Publish(nil, "t", msgs(p)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Publish(nil, "t", msgs("3")); !errors.Is(err, ErrQueueFull) {
		t.Errorf("a publish past strict's max-depth: %v; want ErrQueueFull", err)
	}
	if got := peekAll(t, b, "strict") + "/" + peekAll(t, b, "latest"); got != "1,2/2" {
		t.Errorf("queues hold %q; want 1,2/2", got)
	}
	if qi, _ := b.Info("latest"); qi.Dropped != 1 {
		t.Errorf("latest dropped %d; want 1", qi.Dropped)
	}
}
