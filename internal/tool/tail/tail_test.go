package tail

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"msw/internal/tool"
	"msw/internal/tool/tooltest"
	"msw/internal/wire"
	"msw/lib"
)

// everyKind is one event of each kind, some with odd text in them.
func everyKind() []lib.TraceEvent {
	t0 := time.Unix(1700000000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	return []lib.TraceEvent{
		{Seq: 1, Time: at(0), Kind: wire.EventSessionStart, From: "caller#1;x"},
		{Seq: 2, Time: at(1), Kind: wire.EventQueueCreate, Queue: "tmp-1", From: "caller#1;x"},
		{Seq: 3, Time: at(2), Kind: wire.EventQueueCreate, Queue: "svc"},
		{Seq: 4, Time: at(3), Kind: wire.EventSend, Queue: "svc", From: "caller#1;x", MessageID: 1, ReplyTo: "tmp-1", Size: 20, Preview: `say "hi"; 100% <b>\n`},
		{Seq: 5, Time: at(4), Kind: wire.EventDeliver, Queue: "svc", From: "caller#1;x", To: "server", MessageID: 1, Size: 20, Preview: `say "hi"; 100% <b>\n`},
		{Seq: 6, Time: at(5), Kind: wire.EventRedeliver, Queue: "svc", From: "server", MessageID: 1, Size: 20},
		{Seq: 7, Time: at(6), Kind: wire.EventDeliver, Queue: "svc", From: "caller#1;x", To: "server", MessageID: 1, Size: 20},
		{Seq: 8, Time: at(9), Kind: wire.EventSend, Queue: "tmp-1", From: "server", MessageID: 1, Size: 2, Preview: "ok", Reply: true, ProcessingMicros: 6000},
		{Seq: 9, Time: at(10), Kind: wire.EventAck, Queue: "svc", From: "server", MessageID: 1, Size: 20},
		{Seq: 10, Time: at(11), Kind: wire.EventSend, Queue: "svc", MessageID: 2, Size: 0},
		{Seq: 11, Time: at(12), Kind: wire.EventWithdraw, Queue: "svc", MessageID: 2},
		{Seq: 12, Time: at(13), Kind: wire.EventQueueDestroy, Queue: "tmp-1", From: "caller#1;x"},
		{Seq: 13, Time: at(14), Kind: wire.EventQueueDestroy, Queue: "svc"},
		{Seq: 14, Time: at(15), Kind: wire.EventSessionEnd, From: "caller#1;x"},
		{Seq: 15, Time: at(16), Kind: "something_new", From: "server"},
	}
}

var (
	mermaidArrow  = regexp.MustCompile(`^    p[0-9]+(->>|-->>|-\)|-x)p[0-9]+: `)
	mermaidEntity = regexp.MustCompile(`#[a-z0-9]+;`)
)

func TestMermaidOneArrowPerEvent(t *testing.T) {
	events := everyKind()
	var b bytes.Buffer
	writeMermaid(&b, events, false)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if lines[0] != "sequenceDiagram" {
		t.Fatalf("first line %q", lines[0])
	}
	arrows := 0
	for _, l := range lines[1:] {
		switch {
		case mermaidArrow.MatchString(l):
			arrows++
			if text := mermaidEntity.ReplaceAllString(strings.SplitN(l, ": ", 2)[1], ""); strings.ContainsAny(text, "#;<>\"%") {
				t.Errorf("unescaped text in %q", l)
			}
		case strings.HasPrefix(l, "    participant p"):
		default:
			t.Errorf("unexpected line %q", l)
		}
	}
	if arrows != len(events) {
		t.Errorf("%d arrows for %d events:\n%s", arrows, len(events), b.String())
	}
	if !strings.Contains(b.String(), "participant p0 as caller#35;1#59;x\n") {
		t.Errorf("participant names not escaped:\n%s", b.String())
	}
}

var mscgenArc = regexp.MustCompile(`^  p[0-9]+ (->|>>|=>|=>>|-x|:>) p[0-9]+ \[label="([^"\\]|\\")*"\];$`)

func TestMscgenOneArcPerEvent(t *testing.T) {
	events := everyKind()
	var b bytes.Buffer
	writeMscgen(&b, events, true)
	out := b.String()
	if !strings.HasPrefix(out, "msc {\n") || !strings.HasSuffix(out, "}\n") {
		t.Fatalf("not an msc block:\n%s", out)
	}
	arcs := 0
	for _, l := range strings.Split(out, "\n") {
		if mscgenArc.MatchString(l) {
			arcs++
		}
	}
	if arcs != len(events) {
		t.Errorf("%d arcs for %d events:\n%s", arcs, len(events), out)
	}
	if strings.Contains(out, `\n`) {
		t.Errorf("a backslash would make mscgen break the label:\n%s", out)
	}
}

func TestTailRows(t *testing.T) {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	o := &eventWriter{w: w}
	events := everyKind()
	o.measure(events)
	for _, ev := range events {
		o.write(ev)
	}
	w.Flush()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != len(events) {
		t.Fatalf("%d rows for %d events:\n%s", len(lines), len(events), b.String())
	}
	for i, want := range map[int]string{
		0:  "+0.000s  session_start  caller#1;x",
		3:  `+0.003s  send           caller#1;x → svc           #1              say "hi"; 100% <b>\n`,
		4:  "+0.004s  deliver        caller#1;x → svc → server  #1",
		7:  "+0.009s  reply          server → tmp-1             #1  took 6.0ms  ok",
		9:  "+0.011s  send           (anonymous) → svc          #2              (empty)",
		14: "+0.016s  something_new  server",
	} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("row %d:\n got %q\nwant %q...", i, lines[i], want)
		}
	}
	// The payload column starts at the same place in every row that has one.
	col := utf8.RuneCountInString(lines[7][:strings.LastIndex(lines[7], "ok")])
	if got := utf8.RuneCountInString(lines[3][:strings.Index(lines[3], `say "hi"`)]); got != col {
		t.Errorf("payload columns at %d and %d:\n%s", got, col, b.String())
	}
}

func TestTailJSONAndCount(t *testing.T) {
	addr, c, ctx := tooltest.Start(t, "sender")
	if err := c.CreateQueue(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"a", "b", "c"} {
		if _, err := c.Send(ctx, "q", lib.Message{Payload: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errs := tooltest.Run(Run, "-s", addr, "--json")
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	var kinds []string
	var seqs []uint64
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev lib.TraceEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		kinds = append(kinds, ev.Kind)
		seqs = append(seqs, ev.Seq)
	}
	if got := strings.Join(kinds, " "); got != "session_start queue_create send send send" {
		t.Errorf("kinds %q", got)
	}
	_, out, _ = tooltest.Run(Run, "-s", addr, "--json", "-n", "2")
	if n := strings.Count(out, "\n"); n != 2 || !strings.Contains(out, `"preview":"c"`) {
		t.Errorf("-n 2:\n%s", out)
	}
	_, out, _ = tooltest.Run(Run, "-s", addr, "--json", "--after", "3", "--count", "1")
	if n := strings.Count(out, "\n"); n != 1 || !strings.Contains(out, `"seq":4`) {
		t.Errorf("--after 3 --count 1:\n%s", out)
	}
}

// TestTailFollow checks that -f prints an event that happens after it has
// printed what was already there.
func TestTailFollow(t *testing.T) {
	addr, c, ctx := tooltest.Start(t, "sender")
	if err := c.CreateQueue(ctx, "q"); err != nil { // session_start, queue_create
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() {
		done <- Run([]string{"-s", addr, "-f", "--json", "--count", "3"}, nil, pw, &errb)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	for i := 0; i < 2; i++ {
		if !lines.Scan() {
			t.Fatalf("msw-tail -f ended before the existing events: %s", errb.String())
		}
	}
	// Everything already recorded is printed: what comes now is followed.
	if _, err := c.Send(ctx, "q", lib.Message{Payload: []byte("later")}); err != nil {
		t.Fatal(err)
	}
	if !lines.Scan() {
		t.Fatalf("msw-tail -f printed nothing more: %s", errb.String())
	}
	if l := lines.Text(); !strings.Contains(l, `"kind":"send"`) || !strings.Contains(l, `"preview":"later"`) {
		t.Errorf("followed event %s", l)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, errb.String())
		}
	case <-ctx.Done():
		t.Fatal("msw-tail -f --count 3 did not stop after 3 events")
	}
}

func TestTailUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--json", "--mermaid"},
		{"--mscgen", "--mermaid"},
		{"-f", "--mscgen"},
		{"--count", "-1"},
		{"extra"},
	} {
		if code, _, errs := tooltest.Run(Run, args...); code != tool.ExitUsage || !strings.Contains(errs, "Try 'msw-tail -h'") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
	}
}
