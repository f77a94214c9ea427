package ls

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"

	"msw/internal/tool"
	"msw/internal/wire"
	"msw/lib"
)

const lsUsage = `
Usage: msw-ls [options] [PREFIX]

List the queues whose names start with PREFIX: the alive ones (someone
subscribes to them, or polled them in the last 30 seconds), or with --all
every queue. On a pipe it prints one name per line, so that
'for q in $(msw-ls --all); do ...; done' works; on a terminal, or with
-l, a table: name, kind, depth (messages ready), messages in flight,
subscribers, age of the oldest message and time since the last poll.
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
	fs.BoolVarP(&all, "all", "a", false, "list every queue, not only the alive ones")
	fs.BoolVarP(&long, "long", "l", false, "print a table even on a pipe")
	fs.BoolVar(&asJSON, "json", false, "print a JSON array with everything known of each queue")
	sf.Register(fs, tool.DefaultWait)
	if ok, code := c.Parse(args, lsGroups); !ok {
		return code
	}
	if fs.NArg() > 1 {
		return c.UsageError("unexpected argument %q", fs.Arg(1))
	}
	if long && asJSON {
		return c.UsageError("-l and --json exclude each other")
	}
	cl, ctx, done, err := sf.Connect(c.Name)
	if err != nil {
		return c.UsageError("%v", err)
	}
	defer done()
	qs, err := cl.List(ctx, lib.ListOptions{Prefix: fs.Arg(0), All: all})
	if err != nil {
		return c.Fail(err)
	}
	if qs == nil {
		qs = []lib.QueueInfo{}
	}
	switch {
	case asJSON:
		b, _ := json.MarshalIndent(qs, "", "  ")
		_, err = fmt.Fprintf(stdout, "%s\n", b)
	case long || writerIsTerminal(stdout):
		err = writeQueueTable(stdout, qs, time.Now())
	default:
		err = writeQueueNames(stdout, qs)
	}
	if err != nil {
		return c.Failf("writing standard output: %v", err)
	}
	return tool.ExitOK
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
	// A POLICY column only when some queue has a policy (or counts).
	policies := make([]string, len(qs))
	header := "QUEUE\tKIND\tDEPTH\tIN FLIGHT\tSUBSCRIBERS\tOLDEST\tLAST POLL"
	for i := range qs {
		if policies[i] = (*wire.QueueInfo)(&qs[i]).PolicySummary(); policies[i] != "" {
			header = "QUEUE\tKIND\tDEPTH\tIN FLIGHT\tSUBSCRIBERS\tOLDEST\tLAST POLL\tPOLICY"
		}
	}
	fmt.Fprintln(tw, header)
	for i, q := range qs {
		kind := q.Kind
		if q.Durable {
			kind = "durable" // persistent, and kept on disk
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s", q.Name, kind, q.Depth, q.InFlight, q.Subscribers,
			queueAge(now, q.OldestMessage), queueAge(now, q.LastTransfer))
		if strings.HasSuffix(header, "POLICY") {
			fmt.Fprintf(tw, "\t%s", cmp.Or(policies[i], "-"))
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
func writerIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}
