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

// DefaultStale is how long a service may go without polling before
// msw-diag calls it crashed or deadlocked.
const DefaultStale = 30 * time.Second

var diagGroups = []optionGroup{
	{"Report", []string{"stale", "v", "max-messages", "json"}},
	{"Switch", []string{"s switch", "wait", "client-id"}},
}

// Diag is the body of msw-diag.
func Diag(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("msw-diag", diagUsage, stdout, stderr)
	var (
		stale   = durationValue(DefaultStale)
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

// serviceState is the group a service falls in.
type serviceState int

const (
	stateIdle         serviceState = iota // no server, nothing queued: not shown as a service
	stateRunning                          // polled recently, or its servers are waiting for work
	stateNeverStarted                     // requests queued, nobody ever subscribed
	stateStuck                            // crashed or deadlocked
)

// diagReport turns a snapshot into the explanation msw-diag prints.
type diagReport struct {
	snap    *wire.Snapshot
	addr    string
	stale   time.Duration
	verbose bool
	full    map[string]map[uint64][]byte // whole payloads by queue and id, with -v

	queues   map[string]*wire.QueueSnapshot
	byClient map[string][]*wire.SessionInfo
}

func (r *diagReport) index() {
	r.queues = map[string]*wire.QueueSnapshot{}
	for i := range r.snap.Queues {
		r.queues[r.snap.Queues[i].Name] = &r.snap.Queues[i]
	}
	r.byClient = map[string][]*wire.SessionInfo{}
	for i := range r.snap.Sessions {
		s := &r.snap.Sessions[i]
		r.byClient[s.ClientID] = append(r.byClient[s.ClientID], s)
	}
}

// ago says how long before the snapshot t was.
func (r *diagReport) ago(t time.Time) string {
	return ageWords(r.snap.Now.Sub(t)) + " ago"
}

// servers returns the sessions subscribed to a queue.
func (r *diagReport) servers(queue string) []*wire.SessionInfo {
	var out []*wire.SessionInfo
	for i := range r.snap.Sessions {
		if slices.Contains(r.snap.Sessions[i].Subscribed, queue) {
			out = append(out, &r.snap.Sessions[i])
		}
	}
	return out
}

// lastPoll is the latest poll of a queue by anyone.
func (r *diagReport) lastPoll(q *wire.QueueSnapshot) time.Time {
	t := q.LastTransfer
	for _, s := range r.servers(q.Name) {
		if s.LastPoll.After(t) {
			t = s.LastPoll
		}
	}
	return t
}

// clientPoll is the latest poll of any session of a client.
func (r *diagReport) clientPoll(clientID string) (time.Time, bool) {
	var t time.Time
	ss := r.byClient[clientID]
	for _, s := range ss {
		if s.LastPoll.After(t) {
			t = s.LastPoll
		}
	}
	return t, len(ss) > 0
}

func (r *diagReport) recent(t time.Time) bool {
	return !t.IsZero() && r.snap.Now.Sub(t) <= r.stale
}

// classify puts a persistent queue in its group. A server in a long poll
// polls only when its wait ends, so a subscribed queue with nothing
// waiting is running however long ago the poll began; it is stuck when a
// message has waited past the threshold with nobody polling, or when the
// server holding a message has not polled since longer than that.
func (r *diagReport) classify(q *wire.QueueSnapshot) (serviceState, string) {
	held := len(q.Messages) > 0 || q.Depth+q.InFlight > 0
	polled := r.lastPoll(q)
	switch {
	case q.Subscribers == 0 && !held:
		return stateIdle, ""
	case !q.EverSubscribed && q.Subscribers == 0:
		return stateNeverStarted, ""
	case q.Subscribers == 0:
		if r.recent(polled) {
			return stateRunning, "no server subscribed now; last poll " + r.ago(polled)
		}
		if polled.IsZero() {
			return stateStuck, "no server subscribed now, and none ever polled"
		}
		return stateStuck, "no server subscribed now; last poll " + r.ago(polled)
	}
	for _, m := range q.Messages {
		if m.InFlight {
			if t, alive := r.clientPoll(m.Holder); alive && !r.recent(t) {
				if t.IsZero() {
					return stateStuck, fmt.Sprintf("#%d is held by %s, which never polled since", m.ID, m.Holder)
				}
				return stateStuck, fmt.Sprintf("#%d is held by %s, which last polled %s", m.ID, m.Holder, r.ago(t))
			}
		} else if r.snap.Now.Sub(m.EnqueuedAt) > r.stale && !r.recent(polled) {
			if polled.IsZero() {
				return stateStuck, fmt.Sprintf("#%d has waited %s and no server has polled", m.ID, ageWords(r.snap.Now.Sub(m.EnqueuedAt)))
			}
			return stateStuck, fmt.Sprintf("#%d has waited %s; last poll %s", m.ID, ageWords(r.snap.Now.Sub(m.EnqueuedAt)), r.ago(polled))
		}
	}
	if polled.IsZero() {
		return stateRunning, "not polled yet"
	}
	if !held {
		return stateRunning, "waiting for requests; last poll " + r.ago(polled)
	}
	return stateRunning, "last poll " + r.ago(polled)
}

func (r *diagReport) write(w io.Writer) {
	r.index()
	s := r.snap
	fmt.Fprintf(w, "Switch at %s started %s (%s).\n", r.addr, s.Started.Local().Format("2006-01-02 15:04:05 MST"), r.ago(s.Started))
	if st := s.Storage; st != nil {
		fmt.Fprintf(w, "Durable: log of %s on disk, fsync %s, last fsync took %s, %s on disk only.\n",
			countOf(st.LogBytes, "byte", "bytes"), st.Fsync, time.Duration(st.LastFsync*1e9).Round(time.Microsecond), countOf(int64(st.DiskOnly), "message", "messages"))
		if st.Failed != "" {
			fmt.Fprintf(w, "Writing the log failed: %s; sends are refused until it works again.\n", st.Failed)
		}
	}

	groups := map[serviceState][]*wire.QueueSnapshot{}
	reasons := map[string]string{}
	var uncollected []*wire.QueueSnapshot
	for i := range s.Queues {
		q := &s.Queues[i]
		if q.Kind == "transient" {
			if q.Depth > 0 {
				uncollected = append(uncollected, q)
			}
			continue
		}
		st, why := r.classify(q)
		groups[st] = append(groups[st], q)
		reasons[q.Name] = why
	}

	if len(groups[stateRunning])+len(groups[stateNeverStarted])+len(groups[stateStuck]) == 0 {
		fmt.Fprintln(w, "\nThere are no known services (yet).")
	}
	sections := []struct {
		st    serviceState
		title string
	}{
		{stateRunning, "Running services:"},
		{stateNeverStarted, "Called but never started (requests queued; no server has ever subscribed):"},
		{stateStuck, fmt.Sprintf("Crashed or deadlocked (nobody has polled for more than %s):", staleWords(r.stale))},
	}
	for _, sec := range sections {
		qs := groups[sec.st]
		if len(qs) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s\n", sec.title)
		for _, q := range qs {
			r.writeService(w, q, reasons[q.Name])
		}
	}

	if len(uncollected) > 0 {
		fmt.Fprintln(w, "\nReplies nobody collected:")
		for _, q := range uncollected {
			oldest := ""
			if !q.OldestMessage.IsZero() {
				oldest = ", oldest " + r.ago(q.OldestMessage)
			}
			fmt.Fprintf(w, "  %s (reply queue of %s): %s%s\n", q.Name, q.Owner, countOf(int64(q.Depth), "reply", "replies"), oldest)
			for _, m := range q.Messages {
				if !m.InFlight {
					r.writeMessage(w, q, m, false)
				}
			}
			r.writeTruncated(w, q)
		}
	}

	if idle := groups[stateIdle]; len(idle) > 0 {
		names := make([]string, len(idle))
		for i, q := range idle {
			names[i] = q.Name
		}
		fmt.Fprintf(w, "\nIdle queues (no server, nothing queued): %s\n", strings.Join(names, ", "))
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
			fmt.Fprintf(w, "  %s: started %s, %s, %s", ss.ClientID, r.ago(ss.Started), countOf(int64(ss.Connections), "connection", "connections"), poll)
			if len(ss.Subscribed) > 0 {
				fmt.Fprintf(w, ", subscribed to %s", strings.Join(ss.Subscribed, ", "))
			}
			fmt.Fprintln(w)
		}
	}
}

func (r *diagReport) writeService(w io.Writer, q *wire.QueueSnapshot, why string) {
	var head []string
	if srv := r.servers(q.Name); len(srv) > 0 {
		names := make([]string, 0, len(srv))
		for _, s := range srv {
			names = append(names, s.ClientID)
		}
		if len(names) > 4 {
			names = append(names[:4], fmt.Sprintf("and %d more", len(srv)-4))
		}
		head = append(head, fmt.Sprintf("%s (%s)", countOf(int64(len(srv)), "server", "servers"), strings.Join(names, ", ")))
	}
	if q.Depth > 0 {
		head = append(head, fmt.Sprintf("%d queued", q.Depth))
	}
	if q.InFlight > 0 {
		head = append(head, fmt.Sprintf("%d in flight", q.InFlight))
	}
	if why != "" {
		head = append(head, why)
	}
	fmt.Fprintf(w, "  %s: %s\n", q.Name, strings.Join(head, "; "))
	for _, m := range q.Messages {
		r.writeMessage(w, q, m, true)
	}
	r.writeTruncated(w, q)
}

func (r *diagReport) writeTruncated(w io.Writer, q *wire.QueueSnapshot) {
	if more := q.Depth + q.InFlight - len(q.Messages); q.Truncated && more > 0 {
		fmt.Fprintf(w, "    ... and %d more (see --max-messages)\n", more)
	}
}

// writeMessage describes one message; caller says whether to tell the
// state of whoever waits for its reply.
func (r *diagReport) writeMessage(w io.Writer, q *wire.QueueSnapshot, m wire.MessageInfo, caller bool) {
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
		state = fmt.Sprintf("queued again after %s", countOf(int64(m.DeliveryCount), "delivery", "deliveries"))
	}
	fmt.Fprintf(w, "    #%d from %s, %s, %s\n", m.ID, origin, r.ago(m.EnqueuedAt), state)
	if m.Status != 0 {
		fmt.Fprintf(w, "        status: %d (a failure reply)\n", m.Status)
	}
	fmt.Fprintf(w, "        payload: %s\n", r.payload(q.Name, m))
	if caller {
		fmt.Fprintf(w, "        caller: %s\n", r.callerState(m))
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

// callerState says whether anyone still waits for a request's reply.
func (r *diagReport) callerState(m wire.MessageInfo) string {
	if m.ReplyTo == "" {
		return "none: no reply expected"
	}
	_, originAlive := r.byClient[m.Origin]
	rq := r.queues[m.ReplyTo]
	switch {
	case rq == nil:
		if originAlive {
			return fmt.Sprintf("%s is connected, but its reply queue %s is gone: the reply has nowhere to go", m.Origin, m.ReplyTo)
		}
		return fmt.Sprintf("gone (its reply queue %s no longer exists)", m.ReplyTo)
	case rq.Kind == "transient":
		who := rq.Owner
		if who == "" {
			who = m.Origin
		}
		for _, s := range r.byClient[rq.Owner] {
			if s.Connections == 0 {
				return fmt.Sprintf("%s waiting on %s, but it has no connection left (it may have gone)", who, m.ReplyTo)
			}
		}
		return fmt.Sprintf("%s waiting (reply queue %s)", who, m.ReplyTo)
	case originAlive:
		return fmt.Sprintf("%s waiting (replies go to queue %s)", m.Origin, m.ReplyTo)
	default:
		return fmt.Sprintf("gone (the reply will wait in queue %s)", m.ReplyTo)
	}
}

// ageWords says a duration as people do: "less than a second",
// "5 seconds", "2 min and 3 seconds", "1 hour and 4 min", "3 days and 2 hours".
func ageWords(d time.Duration) string {
	if d < time.Second {
		return "less than a second"
	}
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return countOf(s, "second", "seconds")
	case s < 3600:
		if s%60 == 0 {
			return fmt.Sprintf("%d min", s/60)
		}
		return fmt.Sprintf("%d min and %s", s/60, countOf(s%60, "second", "seconds"))
	case s < 86400:
		h, m := s/3600, s%3600/60
		if m == 0 {
			return countOf(h, "hour", "hours")
		}
		return fmt.Sprintf("%s and %d min", countOf(h, "hour", "hours"), m)
	default:
		days, h := s/86400, s%86400/3600
		if h == 0 {
			return countOf(days, "day", "days")
		}
		return countOf(days, "day", "days") + " and " + countOf(h, "hour", "hours")
	}
}

// staleWords says the threshold in words when it is whole seconds, else
// as given.
func staleWords(d time.Duration) string {
	if d%time.Second != 0 {
		return d.String()
	}
	return ageWords(d)
}

func countOf(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
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
