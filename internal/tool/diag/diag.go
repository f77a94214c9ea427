package diag

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"msw/internal/tool"
	"msw/internal/wire"
	"msw/lib"
)

const diagUsage = `
Usage: msw-diag [options]

Explain what the switch holds, for when a call hangs: when the switch
started; the services that are running, that were called but never
started, that look crashed or deadlocked (nobody has polled them for
longer than --stale), and whose servers have stopped or died (their
sessions ended); the requests each one has queued or in flight, how old
they are and whether their callers are still waiting; work queues, whose
messages expect no reply; and reply queues holding replies nobody
collected. --json prints the switch's raw
diagnostics snapshot instead, for scripts.
`

var diagGroups = []tool.OptionGroup{
	tool.Group("Report", "stale", "verbose", "max-messages", "json"),
	tool.SwitchGroup,
}

// Run is the body of msw-diag.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := tool.NewCommand("msw-diag", diagUsage, stdout, stderr)
	var (
		stale   = tool.DurationValue(wire.DefaultStale)
		verbose bool
		asJSON  bool
		maxMsgs = 100
		sf      tool.SwitchFlags
	)
	c.Flags.Var(&stale, "stale", "a service nobody has polled for longer than this `duration` is called crashed or deadlocked")
	c.Flags.BoolVarP(&verbose, "verbose", "v", false, "show whole payloads (of queued messages) and every client session")
	c.Flags.BoolVar(&asJSON, "json", false, "print the raw diagnostics snapshot as JSON")
	c.Flags.IntVar(&maxMsgs, "max-messages", maxMsgs, "list at most `N` messages per queue")
	sf.Register(c.Flags, tool.DefaultWait)
	if ok, code := c.Parse(args, diagGroups); !ok {
		return code
	}
	if c.Flags.NArg() > 0 {
		return c.UsageError("unexpected argument %q", c.Flags.Arg(0))
	}
	if maxMsgs < 0 {
		return c.UsageError("--max-messages %d: want 0 or more", maxMsgs)
	}
	if stale <= 0 {
		return c.UsageError("--stale: want a duration above zero")
	}
	cl, ctx, done, err := sf.Connect(c.Name)
	if err != nil {
		return c.UsageError("%v", err)
	}
	defer done()

	snap, err := cl.Diagnostics(ctx, maxMsgs)
	if err != nil {
		return c.Fail(err)
	}
	if asJSON {
		b, _ := json.MarshalIndent(snap, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
		return tool.ExitOK
	}
	r := diagReport{snap: wireSnapshot(snap), addr: cl.Addr(), stale: time.Duration(stale), verbose: verbose}
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
			if n == 0 || !slices.ContainsFunc(q.Messages, func(m lib.MessageInfo) bool { return !m.InFlight && m.Size > wire.PreviewLen }) {
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
	return tool.ExitOK
}

// diagReport turns a snapshot into the explanation msw-diag prints.
type diagReport struct {
	snap    *wire.Snapshot
	addr    string
	stale   time.Duration
	verbose bool
	full    map[string]map[uint64][]byte // whole payloads by queue and id, with -v
}

// writeBindings lists the queues bound to topic patterns (msw-bind,
// msw-sub), and what each holds.
func (r *diagReport) writeBindings(w io.Writer) {
	title := false
	for _, q := range r.snap.Queues {
		if len(q.Bindings) == 0 {
			continue
		}
		if !title {
			fmt.Fprintln(w, "\nBound to topics:")
			title = true
		}
		fmt.Fprintf(w, "  %s: %s; %s queued, %s\n", q.Name, strings.Join(q.Bindings, " "),
			wire.CountOf(int64(q.Depth), "message", "messages"), wire.CountOf(int64(q.Subscribers), "subscriber", "subscribers"))
	}
}

// ago says how long before the snapshot t was.
func (r *diagReport) ago(t time.Time) string {
	return wire.AgeWords(r.snap.Now.Sub(t)) + " ago"
}

func (r *diagReport) write(w io.Writer) {
	s := r.snap
	fmt.Fprintf(w, "Switch at %s started %s (%s).\n", r.addr, s.Started.Local().Format("2006-01-02 15:04:05 MST"), r.ago(s.Started))
	if cl := s.Cluster; cl != nil {
		fmt.Fprintf(w, "Cluster: gathered by gateway %s from %s: %s.\n", cl.Gateway,
			wire.CountOf(int64(len(cl.Answered)), "gateway", "gateways"), strings.Join(cl.Answered, ", "))
		if len(cl.Missing) > 0 {
			fmt.Fprintf(w, "Not answering in time (their sessions and held messages are missing below): %s.\n", strings.Join(cl.Missing, ", "))
		}
	}
	if st := s.Storage; st != nil {
		fmt.Fprintf(w, "Durable: log of %s on disk, fsync %s, last fsync took %s, %s on disk only.\n",
			wire.CountOf(st.LogBytes, "byte", "bytes"), st.Fsync, time.Duration(st.LastFsync*1e9).Round(time.Microsecond), wire.CountOf(int64(st.DiskOnly), "message", "messages"))
		if st.Failed != "" {
			fmt.Fprintf(w, "Writing the log failed: %s; sends are refused until it works again.\n", st.Failed)
		}
	}

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
		{wire.ServiceGone, "Stopped or died (requests queued; no server subscribed now):"},
		{wire.ServiceWorkQueue, "Work queues (messages for msw-recv; no reply expected):"},
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

	r.writePolicies(w)
	r.writeBindings(w)

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
			fmt.Fprintf(w, "  %s (session %s): started %s, %s, %s", ss.ClientID, ss.ID, r.ago(ss.Started), wire.CountOf(int64(ss.Connections), "connection", "connections"), poll)
			if ss.Gateway != "" {
				fmt.Fprintf(w, ", on gateway %s", ss.Gateway)
			}
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
	if m.Topic != "" {
		origin += " to topic " + m.Topic
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
		return tool.SummarizePayload(wire.Escape(full), len(full), false, -1)
	}
	width := 60
	if r.verbose {
		width = -1
	}
	s := tool.SummarizePayload(m.Preview, m.Size, m.Size > wire.PreviewLen, width)
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

// wireSnapshot gives the snapshot back the protocol's shape, which the
// diagnosis the switch shares with its web page (wire.Diagnose) reads.
func wireSnapshot(s *lib.Snapshot) *wire.Snapshot {
	w := &wire.Snapshot{Started: s.Started, Now: s.Now,
		Queues: make([]wire.QueueSnapshot, len(s.Queues)), Sessions: make([]wire.SessionInfo, len(s.Sessions))}
	for i, q := range s.Queues {
		w.Queues[i] = wire.QueueSnapshot{QueueInfo: wire.QueueInfo(q.QueueInfo), EverSubscribed: q.EverSubscribed,
			Messages: make([]wire.MessageInfo, len(q.Messages)), Truncated: q.Truncated}
		for j, m := range q.Messages {
			w.Queues[i].Messages[j] = wire.MessageInfo(m)
		}
	}
	for i, ss := range s.Sessions {
		w.Sessions[i] = wire.SessionInfo(ss)
	}
	if s.Storage != nil {
		st := wire.StorageInfo(*s.Storage)
		w.Storage = &st
	}
	if s.Cluster != nil {
		ci := wire.ClusterInfo(*s.Cluster)
		w.Cluster = &ci
	}
	return w
}

// writePolicies lists the queues with a policy, or whose policy removed
// messages, with what it removed.
func (r *diagReport) writePolicies(w io.Writer) {
	titled := false
	for i := range r.snap.Queues {
		q := &r.snap.Queues[i]
		if sum := q.PolicySummary(); sum != "" {
			if !titled {
				fmt.Fprintln(w, "\nQueue policies:")
				titled = true
			}
			fmt.Fprintf(w, "  %s: %s\n", q.Name, sum)
		}
	}
}
