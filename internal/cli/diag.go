package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"msw/internal/wire"
)

const diagUsage = `
Usage: msw-diag [options]

Explain what the switch holds, for when a call hangs: when the switch
started; the services that are running, that were called but never
started, and that look crashed or deadlocked (nobody has polled them for
longer than --stale); the requests each one has queued or in flight, how
old they are and whether their callers are still waiting; and reply
queues holding replies nobody collected. --json prints the switch's raw
diagnostics snapshot instead, for scripts.
`

var diagGroups = []optionGroup{
	{"Report", []string{"stale", "v", "max-messages", "json"}},
	{"Switch", []string{"s switch", "wait", "client-id"}},
}

// Diag is the body of msw-diag.
func Diag(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("msw-diag", diagUsage, stdout, stderr)
	var (
		stale   = durationValue(wire.DefaultStale)
		verbose bool
		asJSON  bool
		maxMsgs = 100
		sf      switchFlags
	)
	c.flags.Var(&stale, "stale", "a service nobody has polled for longer than this `duration` is called crashed or deadlocked")
	c.flags.BoolVar(&verbose, "v", false, "show whole payloads (of queued messages) and every client session")
	c.flags.BoolVar(&asJSON, "json", false, "print the raw diagnostics snapshot as JSON")
	c.flags.IntVar(&maxMsgs, "max-messages", maxMsgs, "list at most `N` messages per queue")
	sf.register(c.flags, DefaultWait)
	if ok, code := c.parseGrouped(args, diagGroups); !ok {
		return code
	}
	if c.flags.NArg() > 0 {
		return c.usageError("unexpected argument %q", c.flags.Arg(0))
	}
	if maxMsgs < 0 {
		return c.usageError("--max-messages %d: want 0 or more", maxMsgs)
	}
	if stale <= 0 {
		return c.usageError("--stale: want a duration above zero")
	}
	cl, ctx, done, err := sf.connect(c.name)
	if err != nil {
		return c.usageError("%v", err)
	}
	defer done()

	snap, err := cl.Diagnostics(ctx, maxMsgs)
	if err != nil {
		return c.fail(err)
	}
	if asJSON {
		b, _ := json.MarshalIndent(snap, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
		return ExitOK
	}
	r := diagReport{snap: snap, addr: cl.Addr(), stale: time.Duration(stale), verbose: verbose}
	if verbose {
		// The snapshot keeps only a prefix of each payload; fetch the
		// whole of the queued ones that were cut. Messages in flight
		// cannot be read without taking them, so they stay cut.
		r.full = map[string]map[uint64][]byte{}
		for _, q := range snap.Queues {
			n := 0
			for _, m := range q.Messages {
				if !m.InFlight {
					n++
				}
			}
			if n == 0 || !slices.ContainsFunc(q.Messages, func(m wire.MessageInfo) bool { return !m.InFlight && m.Size > wire.PreviewLen }) {
				continue
			}
			ds, err := cl.Peek(ctx, q.Name, n)
			if err != nil {
				continue // gone since the snapshot: show the prefix
			}
			r.full[q.Name] = map[uint64][]byte{}
			for _, d := range ds {
				r.full[q.Name][d.ID] = d.Payload
			}
		}
	}
	r.write(stdout)
	return ExitOK
}

// diagReport turns a snapshot into the explanation msw-diag prints.
type diagReport struct {
	snap    *wire.Snapshot
	addr    string
	stale   time.Duration
	verbose bool
	full    map[string]map[uint64][]byte // whole payloads by queue and id, with -v
}

// ago says how long before the snapshot t was.
func (r *diagReport) ago(t time.Time) string {
	return wire.AgeWords(r.snap.Now.Sub(t)) + " ago"
}

func (r *diagReport) write(w io.Writer) {
	s := r.snap
	fmt.Fprintf(w, "Switch at %s started %s (%s).\n", r.addr, s.Started.Local().Format("2006-01-02 15:04:05 MST"), r.ago(s.Started))

	diag := wire.Diagnose(s, r.stale)
	queues := map[string]*wire.QueueSnapshot{}
	for i := range s.Queues {
		queues[s.Queues[i].Name] = &s.Queues[i]
	}
	groups := map[string][]*wire.Service{}
	for i := range diag.Services {
		svc := &diag.Services[i]
		groups[svc.State] = append(groups[svc.State], svc)
	}

	if len(diag.Services) == 0 {
		fmt.Fprintln(w, "\nThere are no known services (yet).")
	}
	sections := []struct {
		st    string
		title string
	}{
		{wire.ServiceRunning, "Running services:"},
		{wire.ServiceNeverStarted, "Called but never started (requests queued; no server has ever subscribed):"},
		{wire.ServiceStuck, fmt.Sprintf("Crashed or deadlocked (nobody has polled for more than %s):", staleWords(r.stale))},
	}
	for _, sec := range sections {
		svcs := groups[sec.st]
		if len(svcs) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s\n", sec.title)
		for _, svc := range svcs {
			r.writeService(w, queues[svc.Queue], svc)
		}
	}

	if len(diag.Uncollected) > 0 {
		fmt.Fprintln(w, "\nReplies nobody collected:")
		for _, name := range diag.Uncollected {
			q := queues[name]
			oldest := ""
			if !q.OldestMessage.IsZero() {
				oldest = ", oldest " + r.ago(q.OldestMessage)
			}
			fmt.Fprintf(w, "  %s (reply queue of %s): %s%s\n", q.Name, q.Owner, wire.CountOf(int64(q.Depth), "reply", "replies"), oldest)
			for _, m := range q.Messages {
				if !m.InFlight {
					r.writeMessage(w, q, m, "")
				}
			}
			r.writeTruncated(w, q)
		}
	}

	if len(diag.Idle) > 0 {
		fmt.Fprintf(w, "\nIdle queues (no server, nothing queued): %s\n", strings.Join(diag.Idle, ", "))
	}

	if r.verbose {
		fmt.Fprintln(w, "\nClient sessions:")
		if len(s.Sessions) == 0 {
			fmt.Fprintln(w, "  none")
		}
		for _, ss := range s.Sessions {
			poll := "never polled"
			if !ss.LastPoll.IsZero() {
				poll = "last poll " + r.ago(ss.LastPoll)
			}
			fmt.Fprintf(w, "  %s: started %s, %s, %s", ss.ClientID, r.ago(ss.Started), wire.CountOf(int64(ss.Connections), "connection", "connections"), poll)
			if len(ss.Subscribed) > 0 {
				fmt.Fprintf(w, ", subscribed to %s", strings.Join(ss.Subscribed, ", "))
			}
			fmt.Fprintln(w)
		}
	}
}

func (r *diagReport) writeService(w io.Writer, q *wire.QueueSnapshot, svc *wire.Service) {
	var head []string
	if srv := svc.Servers; len(srv) > 0 {
		names := srv
		if len(names) > 4 {
			names = append(slices.Clone(names[:4]), fmt.Sprintf("and %d more", len(srv)-4))
		}
		head = append(head, fmt.Sprintf("%s (%s)", wire.CountOf(int64(len(srv)), "server", "servers"), strings.Join(names, ", ")))
	}
	if q.Depth > 0 {
		head = append(head, fmt.Sprintf("%d queued", q.Depth))
	}
	if q.InFlight > 0 {
		head = append(head, fmt.Sprintf("%d in flight", q.InFlight))
	}
	if svc.Reason != "" {
		head = append(head, svc.Reason)
	}
	fmt.Fprintf(w, "  %s: %s\n", q.Name, strings.Join(head, "; "))
	for i, m := range q.Messages {
		r.writeMessage(w, q, m, svc.Callers[i])
	}
	r.writeTruncated(w, q)
}

func (r *diagReport) writeTruncated(w io.Writer, q *wire.QueueSnapshot) {
	if more := q.Depth + q.InFlight - len(q.Messages); q.Truncated && more > 0 {
		fmt.Fprintf(w, "    ... and %d more (see --max-messages)\n", more)
	}
}

// writeMessage describes one message, with the state of whoever waits
// for its reply when caller is not empty.
func (r *diagReport) writeMessage(w io.Writer, q *wire.QueueSnapshot, m wire.MessageInfo, caller string) {
	origin := m.Origin
	if origin == "" {
		origin = "an anonymous sender"
	}
	state := "queued"
	if m.InFlight {
		state = "in flight at " + m.Holder
		if m.DeliveryCount > 1 {
			state += fmt.Sprintf(" (delivery %d)", m.DeliveryCount)
		}
	} else if m.DeliveryCount > 0 {
		state = fmt.Sprintf("queued again after %s", wire.CountOf(int64(m.DeliveryCount), "delivery", "deliveries"))
	}
	fmt.Fprintf(w, "    #%d from %s, %s, %s\n", m.ID, origin, r.ago(m.EnqueuedAt), state)
	if m.Status != 0 {
		fmt.Fprintf(w, "        status: %d (a failure reply)\n", m.Status)
	}
	fmt.Fprintf(w, "        payload: %s\n", r.payload(q.Name, m))
	if caller != "" {
		fmt.Fprintf(w, "        caller: %s\n", caller)
	}
}

// payload renders a message's payload for the report.
func (r *diagReport) payload(queue string, m wire.MessageInfo) string {
	if full, ok := r.full[queue][m.ID]; ok {
		return summarizePayload(escapeBytes(full), len(full), false, -1)
	}
	width := 60
	if r.verbose {
		width = -1
	}
	s := summarizePayload(m.Preview, m.Size, m.Size > wire.PreviewLen, width)
	if r.verbose && m.InFlight && m.Size > wire.PreviewLen {
		s += fmt.Sprintf(": only the first %d bytes of a message in flight can be shown", wire.PreviewLen)
	}
	return s
}

// staleWords says the threshold in words when it is whole seconds, else
// as given.
func staleWords(d time.Duration) string {
	if d%time.Second != 0 {
		return d.String()
	}
	return wire.AgeWords(d)
}

var (
	rpcMethodRe = regexp.MustCompile(`"method"\s*:\s*"((?:[^"\\]|\\.)*)"`)
	rpcParamsRe = regexp.MustCompile(`"params"\s*:\s*(.*)$`)
)

// summarizePayload renders a payload on one line. text is the payload as escaped
// text (a preview, or all of it); size is its length in bytes and cut says
// that text is only its start. A JSON-RPC request shows as
// method(params), a JSON-RPC response as result or error. Anything longer
// than width characters is cut with "…" (width < 0: never).
func summarizePayload(text string, size int, cut bool, width int) string {
	if size == 0 {
		return "(empty)"
	}
	s := text
	if t := strings.TrimSpace(text); strings.HasPrefix(t, "{") {
		if rpc, ok := jsonRPC(t, cut); ok {
			s = rpc
		}
	}
	if width >= 0 && utf8.RuneCountInString(s) > width {
		s = string([]rune(s)[:width])
		cut = true
	}
	if cut {
		return fmt.Sprintf("%s… (%d bytes)", s, size)
	}
	return s
}

// jsonRPC recognises a JSON-RPC request or response, whole or cut.
func jsonRPC(t string, cut bool) (string, bool) {
	var msg struct {
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if !cut && json.Unmarshal([]byte(t), &msg) == nil {
		switch {
		case msg.Method != "":
			return fmt.Sprintf("%s(%s)", msg.Method, compactJSON(msg.Params)), true
		case msg.Error != nil && string(msg.Error) != "null":
			return "error " + compactJSON(msg.Error), true
		case msg.Result != nil:
			return "result " + compactJSON(msg.Result), true
		}
		return "", false
	}
	m := rpcMethodRe.FindStringSubmatch(t)
	if m == nil {
		return "", false
	}
	s := m[1] + "("
	if p := rpcParamsRe.FindStringSubmatch(t); p != nil {
		rest := strings.TrimSpace(p[1])
		if !cut {
			rest = strings.TrimSpace(strings.TrimSuffix(rest, "}"))
		}
		s += rest
	}
	if !cut {
		s += ")"
	}
	return s, true
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if len(raw) == 0 {
		return ""
	}
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// escapeBytes renders bytes as text the way the switch renders previews:
// invalid UTF-8 and control characters escaped.
func escapeBytes(p []byte) string {
	var b strings.Builder
	const hex = "0123456789abcdef"
	for len(p) > 0 {
		r, n := utf8.DecodeRune(p)
		switch {
		case r == utf8.RuneError && n <= 1:
			b.WriteString(`\x`)
			b.WriteByte(hex[p[0]>>4])
			b.WriteByte(hex[p[0]&15])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			b.WriteByte(hex[r>>4])
			b.WriteByte(hex[r&15])
		default:
			b.Write(p[:n])
		}
		p = p[n:]
	}
	return b.String()
}
