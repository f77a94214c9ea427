package call

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"msw/internal/tool"
	"msw/lib"
)

const callUsage = `
Usage: msw-call [options] QUEUE
       msw-call -l [-P N] [options] QUEUE

Send a request to the service on QUEUE and print its reply, byte for
byte. The request body is standard input, or --body TEXT, or --file PATH.
QUEUE is created if it does not exist, and the call waits until a server
replies, however late it starts. If the server's program failed, its
error text goes to standard error and msw-call exits with its status.

With -l each line of standard input (its newline removed) is a request
of its own; replies are printed one per line, in input order, with up to
-P requests in flight at once.

On --timeout (exit 124) or Ctrl-C (exit 130), a request no server has
taken yet is withdrawn. If the switch restarts during the call, the
request is sent again.
`

var callGroups = []tool.OptionGroup{
	tool.Group("Request", "body", "file"),
	tool.Group("Waiting", "timeout"),
	tool.Group("Many requests", "lines", "parallel"),
	tool.SwitchGroup,
}

// Run is the body of msw-call.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := tool.NewCommand("msw-call", callUsage, stdout, stderr)
	var (
		body, file string
		timeout    tool.DurationValue
		lines      bool
		parallel   = 1
		sf         tool.SwitchFlags
		bodySet    bool
		fileSet    bool
	)
	fs := c.Flags
	fs.Func("body", "request body `text` (instead of standard input)", func(s string) error {
		body, bodySet = s, true
		return nil
	})
	fs.Func("file", "read the request body from `path` ('-' is standard input)", func(s string) error {
		file, fileSet = s, true
		return nil
	})
	fs.VarP(&timeout, "timeout", "t", "give up after this `duration` (exit 124); 0 waits for ever, riding out switch restarts")
	fs.BoolVarP(&lines, "lines", "l", false, "each line of standard input is a request; print one reply per line")
	fs.IntVarP(&parallel, "parallel", "P", parallel, "with -l, keep up to `N` requests in flight at once")
	sf.Register(fs, tool.DefaultWait)
	pos, _, _, ok, code := c.ParseInterleaved(args, callGroups)
	if !ok {
		return code
	}
	switch {
	case len(pos) == 0:
		return c.UsageError("missing QUEUE")
	case len(pos) > 1:
		return c.UsageError("unexpected argument %q", pos[1])
	case bodySet && fileSet:
		return c.UsageError("give the request body once: --body or --file, not both")
	case lines && (bodySet || fileSet):
		return c.UsageError("-l reads requests from standard input; it takes no --body or --file")
	case parallel < 1:
		return c.UsageError("-P %d: want at least 1", parallel)
	case fs.Changed("parallel") && !lines:
		return c.UsageError("-P %d: requests in flight at once apply to -l; one request is one in flight", parallel)
	}
	queue := pos[0]

	cl, sigCtx, done, err := sf.Connect(c.Name)
	if err != nil {
		return c.UsageError("%v", err)
	}
	defer done()
	ctx := sigCtx
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(sigCtx, time.Duration(timeout))
		defer cancel()
	}
	k := &callRunner{c: c, cl: cl, queue: queue, timeout: time.Duration(timeout), sigCtx: sigCtx}
	// The call creates the service's queue; on a terminal, say so when
	// it is new: a mistyped name then does not wait unnoticed.
	if tool.IsTerminal(stderr) {
		if err := tool.CreateQueue(ctx, c, cl, queue); err != nil {
			return k.report(err, "")
		}
	}
	if lines {
		c.NoteReadingTerminal(stdin, "requests, one a line,")
		return k.lines(ctx, stdin, parallel)
	}
	var payload []byte
	switch {
	case bodySet:
		payload = []byte(body)
	case fileSet && file != "-":
		f, err := os.Open(file)
		if err != nil {
			return c.Failf("--file %s: %v", file, errors.Unwrap(err))
		}
		payload, err = readRequest(ctx, cl, f, "--file "+file)
		f.Close()
		if err != nil {
			return k.report(err, "")
		}
	default:
		c.NoteReadingTerminal(stdin, "the request")
		if payload, err = readRequest(ctx, cl, stdin, "standard input"); err != nil {
			return k.report(err, "")
		}
	}
	reply, err := cl.Call(ctx, queue, payload)
	if err != nil {
		return k.report(err, "")
	}
	if _, err := stdout.Write(reply); err != nil {
		return c.Failf("writing standard output: %v", err)
	}
	return tool.ExitOK
}

// readRequest reads a request body from r (named what, for errors), up to
// the switch's payload limit, which it logs in to learn: a larger body is
// refused as soon as it is read past the limit.
func readRequest(ctx context.Context, cl *lib.Client, r io.Reader, what string) ([]byte, error) {
	if err := cl.Login(ctx); err != nil {
		return nil, err
	}
	limit := cl.MaxPayload()
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", what, err)
	case len(b) > limit:
		return nil, fmt.Errorf("%s: the request is over the switch's limit of %s; nothing sent", what, tool.SizeWords(limit))
	}
	return b, nil
}

// callRunner makes msw-call's requests.
type callRunner struct {
	c       *tool.Command
	cl      *lib.Client
	queue   string
	timeout time.Duration
	sigCtx  context.Context
}

// report explains a failed call in one line, after where ("line 3: ",
// or empty), and returns the exit code. A failure reply's text is
// written as it came (after the command's name and where, if any).
func (k *callRunner) report(err error, where string) int {
	var re *lib.RemoteError
	switch {
	case errors.As(err, &re):
		msg := re.Message
		if msg == "" {
			msg = fmt.Sprintf("%s: remote failure with status %d", k.c.Name, re.Status)
		}
		if where != "" {
			msg = k.c.Name + ": " + where + msg
		}
		if !strings.HasSuffix(msg, "\n") {
			msg += "\n"
		}
		io.WriteString(k.c.Stderr, msg)
		return re.Status
	case k.sigCtx.Err() != nil:
		fmt.Fprintf(k.c.Stderr, "%s: %sinterrupted\n", k.c.Name, where)
		return tool.InterruptStatus()
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Fprintf(k.c.Stderr, "%s: %sno reply on %s within %s\n", k.c.Name, where, k.queue, k.timeout)
		return tool.ExitTimeout
	}
	fmt.Fprintf(k.c.Stderr, "%s: %s%v\n", k.c.Name, where, err)
	return tool.ExitCode(err)
}

// lines runs one call per line of in, n at a time, and prints the
// replies in input order. A failed call prints an empty line and its
// error; the exit status is that of the first failure. An error that is
// not a failure reply (the switch cannot be reached, the timeout) stops
// the run.
func (k *callRunner) lines(ctx context.Context, in io.Reader, n int) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		reply []byte
		err   error
	}
	// order holds one channel per request, in input order; slots holds a
	// token per request in flight or waiting to be printed, taken before
	// the request is made and given back once its reply is printed.
	order := make(chan chan result, n)
	slots := make(chan struct{}, n)
	var readErr error
	go func() {
		defer close(order)
		br := bufio.NewReaderSize(in, 64<<10)
		for ctx.Err() == nil {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				line = bytes.TrimSuffix(line, []byte("\n"))
				ch := make(chan result, 1)
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return
				}
				order <- ch // never blocks: it has room for every slot
				go func() {
					reply, err := k.cl.Call(ctx, k.queue, line)
					ch <- result{reply, err}
				}()
			}
			if err != nil {
				if err != io.EOF {
					readErr = err
				}
				return
			}
		}
	}()

	status, lineNo, stopped := tool.ExitOK, 0, false
	for ch := range order {
		lineNo++
		r := <-ch
		<-slots
		if stopped {
			continue // drain: the calls end at once, cancelled
		}
		if r.err != nil {
			code := k.report(r.err, fmt.Sprintf("line %d: ", lineNo))
			if status == tool.ExitOK {
				status = code
			}
			var re *lib.RemoteError
			if !errors.As(r.err, &re) {
				stopped = true
				cancel()
				continue
			}
			r.reply = nil // an empty line keeps the replies in step
		}
		if len(r.reply) == 0 || r.reply[len(r.reply)-1] != '\n' {
			r.reply = append(r.reply, '\n')
		}
		if _, err := k.c.Stdout.Write(r.reply); err != nil {
			stopped = true
			cancel()
			status = k.c.Failf("writing standard output: %v", err)
		}
	}
	if readErr != nil && status == tool.ExitOK {
		return k.c.Failf("reading standard input: %v", readErr)
	}
	return status
}
