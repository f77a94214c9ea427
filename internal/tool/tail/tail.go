package tail

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"msw/internal/tool"
	"msw/internal/wire"
	"msw/lib"
)

const tailUsage = `
Usage: msw-tail [options]

Print the switch's last 10 trace events (-n for another number, -n all
for every one it keeps): messages sent, delivered, acked and given back,
queues created and destroyed, sessions started and ended. Each row shows
the time since the first row (the wall-clock time with --timestamps),
the event, who sent to which queue and who received it, an RPC's
processing time on its reply, the message id and the start of its
payload. -f then keeps waiting for new events, like tail -f. --queue and
--client keep the events of some queues or clients only. --json prints
one JSON object per event instead, --mscgen an mscgen chart and
--mermaid a Mermaid sequence diagram of the events (one arrow per
event), to draw a captured conversation.
`

// tailPage is how many events one trace request asks for.
const tailPage = 1000

// tailPoll is how long one follow request waits for new events.
const tailPoll = 30 * time.Second

var tailGroups = []tool.OptionGroup{
	tool.Group("Which events", "follow", "lines", "after", "count", "queue", "client"),
	tool.Group("Output", "timestamps", "json", "mscgen", "mermaid", "verbose"),
	tool.SwitchGroup,
}

// Run is the body of msw-tail.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := tool.NewCommand("msw-tail", tailUsage, stdout, stderr)
	var (
		follow, asJSON, mscgen, mermaid, verbose bool
		stamps                                   bool
		last                                     lastN
		after                                    uint64
		count                                    int
		sel                                      selection
		sf                                       tool.SwitchFlags
	)
	fs := c.Flags
	fs.BoolVarP(&follow, "follow", "f", false, "keep waiting for new events (until interrupted)")
	fs.VarP(&last, "lines", "n", "print the last `N` events already recorded, or 'all' (default 10; charts and --after: all)")
	fs.Uint64Var(&after, "after", 0, "start after the event with this sequence `number` (as --json shows it)")
	fs.IntVar(&count, "count", 0, "stop after printing `N` events (0: no limit)")
	fs.StringArrayVar(&sel.queues, "queue", nil, "only events of this queue (a `name` or glob; repeatable)")
	fs.StringArrayVar(&sel.clients, "client", nil, "only events this client sent or received (a client `id` or glob; repeatable)")
	fs.BoolVar(&stamps, "timestamps", false, "show each event's wall-clock time, not the time since the first row")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object per event")
	fs.BoolVar(&mscgen, "mscgen", false, "print the events as an mscgen chart")
	fs.BoolVar(&mermaid, "mermaid", false, "print the events as a Mermaid sequence diagram")
	fs.BoolVarP(&verbose, "verbose", "v", false, "show whole previews, correlation ids and reply queues")
	sf.Register(fs, tool.DefaultWait)
	if ok, code := c.Parse(args, tailGroups); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return c.UsageError("unexpected argument %q", fs.Arg(0))
	}
	formats := 0
	for _, f := range []bool{asJSON, mscgen, mermaid} {
		if f {
			formats++
		}
	}
	if formats > 1 {
		return c.UsageError("--json, --mscgen and --mermaid exclude each other")
	}
	if follow && (mscgen || mermaid) {
		return c.UsageError("a chart is drawn from the events already recorded: -f does not go with --mscgen or --mermaid")
	}
	if count < 0 {
		return c.UsageError("--count %d: want 0 or more", count)
	}
	if err := sel.check(); err != nil {
		return c.UsageError("%v", err)
	}
	if !fs.Changed("lines") && after == 0 && !mscgen && !mermaid {
		last = lastN{n: tailDefault, set: true}
	}
	cl, ctx, done, err := sf.Connect(c.Name)
	if err != nil {
		return c.UsageError("%v", err)
	}
	defer done()

	events, next, err := readTrace(ctx, cl, after)
	if err != nil {
		return c.Fail(err)
	}
	events = sel.filter(events)
	if last.set && len(events) > last.n {
		events = events[len(events)-last.n:]
	}
	if count > 0 && len(events) > count {
		events = events[:count]
		next = events[count-1].Seq
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	switch {
	case mscgen:
		writeMscgen(w, events, verbose)
		return tool.ExitOK
	case mermaid:
		writeMermaid(w, events, verbose)
		return tool.ExitOK
	}
	out := &eventWriter{w: w, json: asJSON, verbose: verbose, stamps: stamps}
	if !asJSON && !follow {
		out.measure(events)
	}
	for _, ev := range events {
		out.write(ev)
	}
	w.Flush()
	if !follow || (count > 0 && out.n >= count) {
		return tool.ExitOK
	}
	return followTrace(ctx, c, cl, out, next, count, &sel)
}

// followTrace prints the events after next as they come, until ctx ends
// or count events (if > 0) have been printed in all. An unreachable
// switch is said once and waited for.
func followTrace(ctx context.Context, c *tool.Command, cl *lib.Client, out *eventWriter, next uint64, count int, sel *selection) int {
	unreachable := false
	for ctx.Err() == nil {
		tr, err := cl.Trace(ctx, next, tailPage, tailPoll)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if !errors.Is(err, lib.ErrUnreachable) {
				return c.Fail(err)
			}
			if !unreachable {
				fmt.Fprintf(c.Stderr, "%s: %v; still trying\n", c.Name, err)
				unreachable = true
			}
			tool.Sleep(ctx, time.Second)
			continue
		}
		if unreachable {
			fmt.Fprintf(c.Stderr, "%s: the switch answers again\n", c.Name)
			unreachable = false
		}
		if tr.Lost > 0 {
			fmt.Fprintf(c.Stderr, "%s: %d events were lost: the switch's trace ring overflowed before they were read\n", c.Name, tr.Lost)
		}
		for _, ev := range sel.filter(tr.Events) {
			out.write(ev)
			if count > 0 && out.n >= count {
				return tool.ExitOK
			}
		}
		out.w.Flush()
		next = tr.Next
	}
	return tool.InterruptStatus() // only a signal ends following
}

// tailDefault is how many recorded events msw-tail prints without -n.
const tailDefault = 10

// lastN is -n: a count of events, or unset for all of them.
type lastN struct {
	n   int
	set bool
}

func (l *lastN) String() string {
	if l == nil || !l.set {
		return ""
	}
	return strconv.Itoa(l.n)
}

// Type names the value in messages and completions.
func (l *lastN) Type() string { return "N" }

func (l *lastN) Set(s string) error {
	if s == "all" {
		l.n, l.set = 0, false
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return errors.New("want a whole number of events, or all")
	}
	l.n, l.set = n, true
	return nil
}

// readTrace reads the events the switch holds after `after`, page by
// page, and returns them with the sequence number to follow from.
func readTrace(ctx context.Context, cl *lib.Client, after uint64) ([]lib.TraceEvent, uint64, error) {
	var events []lib.TraceEvent
	for {
		tr, err := cl.Trace(ctx, after, tailPage, 0)
		if err != nil {
			return nil, 0, err
		}
		events = append(events, tr.Events...)
		after = tr.Next
		if len(tr.Events) < tailPage {
			return events, after, nil
		}
	}
}

// eventWriter prints events as aligned rows or JSON lines.
type eventWriter struct {
	w       *bufio.Writer
	json    bool
	verbose bool
	stamps  bool      // wall-clock times, not times since base
	base    time.Time // time of the first event printed
	widths  [5]int    // of the padded columns; they only grow
	n       int       // events printed
}

// measure sets the column widths from a batch printed at once, so that
// its rows line up whatever their lengths.
func (o *eventWriter) measure(events []lib.TraceEvent) {
	if len(events) == 0 {
		return
	}
	o.base = events[0].Time
	for _, ev := range events {
		for i, cell := range o.cells(ev) {
			if i < len(o.widths) {
				o.widths[i] = max(o.widths[i], utf8.RuneCountInString(cell))
			}
		}
	}
}

func (o *eventWriter) write(ev lib.TraceEvent) {
	o.n++
	if o.json {
		b, _ := json.Marshal(ev)
		o.w.Write(b)
		o.w.WriteByte('\n')
		return
	}
	if o.base.IsZero() {
		o.base = ev.Time
	}
	cells := o.cells(ev)
	var line strings.Builder
	for i, cell := range cells {
		if i > 0 {
			line.WriteString("  ")
		}
		if i >= len(o.widths) {
			line.WriteString(cell)
			continue
		}
		n := utf8.RuneCountInString(cell)
		o.widths[i] = max(o.widths[i], n)
		pad := strings.Repeat(" ", o.widths[i]-n)
		if i == 0 || i == 3 { // numbers line up on the right
			line.WriteString(pad + cell)
		} else {
			line.WriteString(cell + pad)
		}
	}
	o.w.WriteString(strings.TrimRight(line.String(), " "))
	o.w.WriteByte('\n')
}

// cells are a row's columns: relative time, event, route, message id,
// processing time and payload summary.
func (o *eventWriter) cells(ev lib.TraceEvent) []string {
	rel := ev.Time.Sub(o.base)
	if o.base.IsZero() {
		rel = 0
	}
	id := ""
	if ev.MessageID != 0 {
		id = fmt.Sprintf("#%d", ev.MessageID)
	}
	took := ""
	if ev.Reply {
		took = "took " + shortDuration(time.Duration(ev.ProcessingMicros)*time.Microsecond)
	}
	when := fmt.Sprintf("+%.3fs", rel.Seconds())
	if o.stamps {
		when = ev.Time.Local().Format("2006-01-02 15:04:05.000")
	}
	if ev.Kind == wire.EventPublish {
		took = copiesText(ev.Copies)
	}
	route := eventRoute(ev)
	if ev.Gateway != "" { // a cluster's trace: where it happened
		route += " @" + ev.Gateway
	}
	return []string{
		when,
		eventName(ev),
		route,
		id,
		took,
		o.summary(ev),
	}
}

func (o *eventWriter) summary(ev lib.TraceEvent) string {
	if !isMessageEvent(ev.Kind) {
		return ""
	}
	width := 40
	if o.verbose {
		width = -1
	}
	s := tool.SummarizePayload(ev.Preview, ev.Size, ev.Size > wire.PreviewLen, width)
	if o.verbose {
		if ev.CorrelationID != "" {
			s += "  corr=" + ev.CorrelationID
		}
		if ev.ReplyTo != "" {
			s += "  reply-to=" + ev.ReplyTo
		}
	}
	return s
}

func isMessageEvent(kind string) bool {
	switch kind {
	case wire.EventSend, wire.EventDeliver, wire.EventAck, wire.EventRedeliver, wire.EventWithdraw, wire.EventPublish,
		wire.EventExpire, wire.EventDrop, wire.EventDeadLetter:
		return true
	}
	return false
}

// copiesText says how many queues a publish reached: "to 3 queues".
func copiesText(n int) string {
	if n == 1 {
		return "to 1 queue"
	}
	return fmt.Sprintf("to %d queues", n)
}

// eventName is the event's kind, with a send that answers a request
// called a reply.
func eventName(ev lib.TraceEvent) string {
	if ev.Kind == wire.EventSend && ev.Reply {
		return "reply"
	}
	return ev.Kind
}

// eventRoute says who did what to which queue: "from → queue" for most events,
// "from → queue → to" for a delivery (from being the message's sender),
// just the client for a session event.
func eventRoute(ev lib.TraceEvent) string {
	from := ev.From
	if from == "" {
		from = "(anonymous)"
	}
	if ev.Queue == "" {
		return from
	}
	switch ev.Kind {
	case wire.EventSessionStart, wire.EventSessionEnd:
		return from
	case wire.EventDeliver:
		return from + " → " + ev.Queue + " → " + ev.To
	case wire.EventQueueCreate, wire.EventQueueDestroy:
		if ev.From == "" {
			return ev.Queue
		}
	}
	return from + " → " + ev.Queue
}

// shortDuration prints a processing time with a precision that suits it.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.3fs", d.Seconds())
	}
}

// chartArrow is one event drawn as an arrow between two participants.
type chartArrow struct {
	from, to string // participant names
	style    string // "send", "reply", "deliver", "ack", "drop", "note"
	label    string
}

// chartArrows turns events into arrows, one per event, and lists the
// participants in order of first appearance.
func chartArrows(events []lib.TraceEvent, verbose bool) ([]chartArrow, []string) {
	var arrows []chartArrow
	var parts []string
	seen := map[string]bool{}
	add := func(p string) string {
		if !seen[p] {
			seen[p] = true
			parts = append(parts, p)
		}
		return p
	}
	width := 30
	if verbose {
		width = -1
	}
	for _, ev := range events {
		from := ev.From
		if from == "" {
			from = "(anonymous)"
		}
		id := ""
		if ev.MessageID != 0 {
			id = fmt.Sprintf(" #%d", ev.MessageID)
		}
		payload := ""
		if ev.Size > 0 || ev.Kind == wire.EventSend || ev.Kind == wire.EventPublish {
			payload = ": " + tool.SummarizePayload(ev.Preview, ev.Size, ev.Size > wire.PreviewLen, width)
		}
		a := chartArrow{style: "send"}
		switch ev.Kind {
		case wire.EventSend:
			a.from, a.to = add(from), add(ev.Queue)
			a.label = "send" + id + payload
			if ev.Reply {
				a.style = "reply"
				a.label = "reply" + id + " (took " + shortDuration(time.Duration(ev.ProcessingMicros)*time.Microsecond) + ")" + payload
			}
		case wire.EventPublish:
			// The topic is a participant of its own; the copies follow
			// as sends from the publisher to each queue.
			a.from, a.to = add(from), add(ev.Queue)
			a.label = "publish " + copiesText(ev.Copies) + payload
		case wire.EventDeliver:
			a.from, a.to = add(ev.Queue), add(ev.To)
			a.style, a.label = "deliver", "deliver"+id
		case wire.EventAck:
			a.from, a.to = add(from), add(ev.Queue)
			a.style, a.label = "ack", "ack"+id
		case wire.EventRedeliver:
			a.from, a.to = add(from), add(ev.Queue)
			a.style, a.label = "drop", "give back"+id
		case wire.EventWithdraw:
			a.from, a.to = add(from), add(ev.Queue)
			a.style, a.label = "drop", "withdraw"+id
		case wire.EventQueueCreate, wire.EventQueueDestroy:
			verb := "create"
			if ev.Kind == wire.EventQueueDestroy {
				verb, a.style = "destroy", "drop"
			} else {
				a.style = "note"
			}
			if ev.From == "" {
				a.from = add(ev.Queue)
				a.to = a.from
			} else {
				a.from, a.to = add(from), add(ev.Queue)
			}
			a.label = verb + " " + ev.Queue
		case wire.EventSessionStart, wire.EventSessionEnd:
			a.from = add(from)
			a.to = a.from
			a.style, a.label = "note", "session start"
			if ev.Kind == wire.EventSessionEnd {
				a.style, a.label = "drop", "session end"
			}
		default:
			a.from = add(from)
			a.to = a.from
			a.style, a.label = "note", ev.Kind
		}
		arrows = append(arrows, a)
	}
	return arrows, parts
}

// writeMscgen prints events as an mscgen chart.
func writeMscgen(w io.Writer, events []lib.TraceEvent, verbose bool) {
	arrows, parts := chartArrows(events, verbose)
	ids := map[string]string{}
	fmt.Fprintln(w, "msc {")
	fmt.Fprintln(w, "  hscale = \"2\";")
	if len(parts) > 0 {
		decl := make([]string, len(parts))
		for i, p := range parts {
			ids[p] = fmt.Sprintf("p%d", i)
			decl[i] = fmt.Sprintf("%s [label=\"%s\"]", ids[p], mscgenEscape(p))
		}
		fmt.Fprintf(w, "  %s;\n", strings.Join(decl, ",\n  "))
	}
	arcs := map[string]string{"send": "->", "reply": ">>", "deliver": "=>", "ack": "=>>", "drop": "-x", "note": ":>"}
	for _, a := range arrows {
		fmt.Fprintf(w, "  %s %s %s [label=\"%s\"];\n", ids[a.from], arcs[a.style], ids[a.to], mscgenEscape(a.label))
	}
	fmt.Fprintln(w, "}")
}

// mscgenEscape makes text safe inside an mscgen double-quoted label.
// mscgen reads \n in a label as a line break and has no escape for a
// backslash, so backslashes (those of escaped payload bytes, say) become
// a look-alike character.
func mscgenEscape(s string) string {
	return strings.NewReplacer(`\`, "∖", `"`, `\"`).Replace(s)
}

// writeMermaid prints events as a Mermaid sequence diagram: one arrow per
// event.
func writeMermaid(w io.Writer, events []lib.TraceEvent, verbose bool) {
	arrows, parts := chartArrows(events, verbose)
	ids := map[string]string{}
	fmt.Fprintln(w, "sequenceDiagram")
	for i, p := range parts {
		ids[p] = fmt.Sprintf("p%d", i)
		fmt.Fprintf(w, "    participant %s as %s\n", ids[p], mermaidEscape(p))
	}
	arrowOf := map[string]string{"send": "->>", "reply": "-->>", "deliver": "->>", "ack": "-)", "drop": "-x", "note": "-)"}
	for _, a := range arrows {
		fmt.Fprintf(w, "    %s%s%s: %s\n", ids[a.from], arrowOf[a.style], ids[a.to], mermaidEscape(a.label))
	}
}

// mermaidEscape replaces the characters Mermaid gives a meaning in text
// with its mermaidEntity codes.
func mermaidEscape(s string) string {
	return strings.NewReplacer(
		"#", "#35;",
		";", "#59;",
		"<", "#lt;",
		">", "#gt;",
		"%", "#37;",
		"\"", "#quot;",
	).Replace(s)
}
