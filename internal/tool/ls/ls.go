package ls

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"msw/internal/tool"
	"msw/internal/wire"
	"msw/lib"
)

const lsUsage = `
Usage: msw-ls [options] [NAME...]

List the queues that hold messages (ready or in flight) or have
subscribers, or with --all every queue. A NAME lists the queue of
that name, a glob ('jobs.*', quoted from the shell) every queue it
matches, held messages or not; msw-ls exits 1 when nothing matches, so
'msw-ls q > /dev/null' tests for a queue. On a pipe it prints one name
per line, so that 'for q in $(msw-ls --all); do ...; done' works; on a
terminal, or with -l, a table: name, kind, depth (messages ready),
messages in flight, subscribers, age of the oldest message and time
since the last poll.
`

var lsGroups = []tool.OptionGroup{
	tool.Group("Which queues", "all"),
	tool.Group("Output", "long", "json"),
	tool.SwitchGroup,
}

// Run is the body of msw-ls.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := tool.NewCommand("msw-ls", lsUsage, stdout, stderr)
	var (
		all, long, asJSON bool
		sf                tool.SwitchFlags
	)
	fs := c.Flags
	fs.BoolVarP(&all, "all", "a", false, "list every queue, idle ones too")
	fs.BoolVarP(&long, "long", "l", false, "print a table even on a pipe")
	fs.BoolVar(&asJSON, "json", false, "print a JSON array with everything known of each queue")
	sf.Register(fs, tool.DefaultWait)
	if ok, code := c.Parse(args, lsGroups); !ok {
		return code
	}
	patterns := fs.Args()
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return c.UsageError("%q: not a name or glob: %v", p, err)
		}
	}
	if long && asJSON {
		return c.UsageError("-l and --json exclude each other")
	}
	cl, ctx, done, err := sf.Connect(c.Name)
	if err != nil {
		return c.UsageError("%v", err)
	}
	defer done()
	every, err := cl.List(ctx, lib.ListOptions{All: true})
	if err != nil {
		return c.Fail(err)
	}
	qs := selectQueues(every, patterns, all)
	terminal := writerIsTerminal(stdout)
	switch {
	case len(qs) == 0 && len(patterns) > 0:
		if terminal {
			fmt.Fprintf(stderr, "%s: no queue matches %s\n", c.Name, strings.Join(patterns, " "))
		}
		return tool.ExitFailure
	case len(qs) == 0 && terminal && !asJSON:
		if idle := len(every); idle > 0 {
			fmt.Fprintf(stderr, "%s: no queue holds messages or has subscribers (--all lists %d idle)\n", c.Name, idle)
		} else {
			fmt.Fprintf(stderr, "%s: the switch has no queues\n", c.Name)
		}
		return tool.ExitOK
	}
	switch {
	case asJSON:
		b, _ := json.MarshalIndent(qs, "", "  ")
		_, err = fmt.Fprintf(stdout, "%s\n", b)
	case long || terminal:
		err = writeQueueTable(stdout, qs, time.Now())
	default:
		err = writeQueueNames(stdout, qs)
	}
	if err != nil {
		return c.Failf("writing standard output: %v", err)
	}
	return tool.ExitOK
}

// selectQueues returns the queues matching any of patterns (a name or
// a glob), or without patterns the busy ones (holding messages or with
// subscribers), or every one with all. It never returns
// nil, so that --json prints [] for none.
func selectQueues(qs []lib.QueueInfo, patterns []string, all bool) []lib.QueueInfo {
	out := []lib.QueueInfo{}
	for _, q := range qs {
		keep := all || q.Depth > 0 || q.InFlight > 0 || q.Subscribers > 0
		if len(patterns) > 0 {
			keep = false
			for _, p := range patterns {
				if ok, _ := path.Match(p, q.Name); ok {
					keep = true
					break
				}
			}
		}
		if keep {
			out = append(out, q)
		}
	}
	return out
}

// writeQueueNames prints one queue name per line.
func writeQueueNames(w io.Writer, qs []lib.QueueInfo) error {
	buf := make([]byte, 0, 64*len(qs))
	for _, q := range qs {
		buf = append(buf, q.Name...)
		buf = append(buf, '\n')
	}
	_, err := w.Write(buf)
	return err
}

// writeQueueTable prints the queues as a table, ages relative to now.
// It prints nothing for no queues.
func writeQueueTable(w io.Writer, qs []lib.QueueInfo, now time.Time) error {
	if len(qs) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	// A POLICY column only when some queue has a policy (or counts);
	// the patterns queues are bound to (msw-bind) get a column when
	// some queue has one.
	policies := make([]string, len(qs))
	withPolicy := false
	for i := range qs {
		if policies[i] = (*wire.QueueInfo)(&qs[i]).PolicySummary(); policies[i] != "" {
			withPolicy = true
		}
	}
	bound := slices.ContainsFunc(qs, func(q lib.QueueInfo) bool { return len(q.Bindings) > 0 })
	header := "QUEUE\tKIND\tDEPTH\tIN FLIGHT\tSUBSCRIBERS\tOLDEST\tLAST POLL"
	if withPolicy {
		header += "\tPOLICY"
	}
	if bound {
		header += "\tBINDINGS"
	}
	fmt.Fprintln(tw, header)
	for i, q := range qs {
		kind := q.Kind
		if q.Durable {
			kind = "durable" // persistent, and kept on disk
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s", q.Name, kind, q.Depth, q.InFlight, q.Subscribers,
			queueAge(now, q.OldestMessage), queueAge(now, q.LastTransfer))
		if withPolicy {
			fmt.Fprintf(tw, "\t%s", cmp.Or(policies[i], "-"))
		}
		if bound {
			fmt.Fprintf(tw, "\t%s", cmp.Or(strings.Join(q.Bindings, " "), "-"))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// queueAge renders how long ago t was, coarsely ("42s", "3m07s", "5h02m",
// "2d04h"); "-" when t is zero (never).
func queueAge(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	s := int64(max(now.Sub(t), 0) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
}

// writerIsTerminal reports whether w is a terminal.
func writerIsTerminal(w io.Writer) bool { return tool.IsTerminal(w) }
