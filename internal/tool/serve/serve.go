package serve

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/shlex"
	"golang.org/x/sys/unix"

	"msw/internal/execrun"
	"msw/internal/tool"
	"msw/lib"
)

const serveUsage = `
Usage: msw-serve [options] QUEUE -- PROG [ARGS...]
       msw-serve [options] QUEUE --program 'PROG ARGS'
       msw-serve [options] QUEUE

Serve requests sent to QUEUE (msw-call QUEUE). For each request, PROG
runs with the request payload on its standard input; its standard
output, byte for byte, is the reply. Its standard error goes to
msw-serve's, each line prefixed with the request's correlation id. If
it exits non-zero, the reply is a failure carrying its exit status and
the last lines of its standard error. --program is split into words as
a shell would, but no shell runs.

PROG's environment has MSW_QUEUE, MSW_CORRELATION_ID, MSW_REPLY_TO,
MSW_MESSAGE_ID, MSW_REDELIVERED (1 or 0), MSW_DELIVERY_COUNT and
MSW_SWITCH.

Without PROG, msw-serve is interactive: it prints each request and
reads the reply from standard input, up to a line holding only '.'.

A request is acked only once its reply is sent: if msw-serve dies, the
switch gives its requests to another server. msw-serve waits for the
switch for ever by default and keeps serving across switch restarts. On
SIGTERM or SIGINT it takes no new requests, lets running ones finish
for up to --grace, gives the rest back to the queue, and exits 130 (143
for SIGTERM).
`

var serveGroups = []tool.OptionGroup{
	tool.Group("Program", "program", "jobs", "timeout"),
	tool.Group("Stopping", "grace"),
	tool.SwitchGroup,
}

// serveTailLines and serveTailBytes bound the standard error sent back
// in a failure reply.
const (
	serveTailLines = 10
	serveTailBytes = 4 << 10
)

// Run is the body of msw-serve.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := tool.NewCommand("msw-serve", serveUsage, stdout, stderr)
	var (
		program string
		jobs    = 1
		timeout tool.DurationValue
		grace   = tool.DurationValue(10 * time.Second)
		sf      tool.SwitchFlags
	)
	fs := c.Flags
	fs.StringVar(&program, "program", "", "`command` to run per request, split into words as a shell would (no shell runs)")
	fs.IntVarP(&jobs, "jobs", "j", jobs, "serve up to `N` requests in parallel")
	fs.Var(&timeout, "timeout", "per request: kill the program (its whole process group) after this `duration` and send a failure reply; 0 means none")
	fs.Var(&grace, "grace", "on SIGTERM, let running requests finish for this `duration`, then give them back")
	sf.Register(fs, lib.WaitForever)
	pos, argv, dashdash, ok, code := c.ParseInterleaved(args, serveGroups)
	if !ok {
		return code
	}
	switch {
	case len(pos) == 0:
		return c.UsageError("missing QUEUE")
	case len(pos) > 1:
		return c.UsageError("unexpected argument %q (the program goes after --)", pos[1])
	case dashdash && len(argv) == 0:
		return c.UsageError("missing PROG after --")
	case dashdash && program != "":
		return c.UsageError("give the program once: after -- or with --program, not both")
	case jobs < 1:
		return c.UsageError("-j %d: want at least 1", jobs)
	}
	if program != "" {
		var err error
		if argv, err = shlex.Split(program); err != nil {
			return c.UsageError("--program: %v", err)
		}
		if len(argv) == 0 {
			return c.UsageError("--program: empty command")
		}
	}
	queue := pos[0]
	interactive := len(argv) == 0
	if interactive && jobs > 1 {
		return c.UsageError("-j %d: the interactive mode serves one request at a time", jobs)
	}
	if !interactive {
		path, err := exec.LookPath(argv[0])
		if err != nil {
			return c.Failf("%v", err)
		}
		argv[0] = path
	}

	sf.OwnWaitNote = true // "waiting for it", below
	cl, err := sf.Client(c.Name)
	if err != nil {
		return c.UsageError("%v", err)
	}
	defer cl.Close()
	ctx, stop := tool.SignalContext()
	defer stop()
	logger := log.New(stderr, c.Name+": ", 0)
	// "stopping" is said as soon as a signal (or, interactive, the end of
	// the input) ends the serve, before the wind-down that --grace may
	// make long; and before msw-serve exits, which once raced the saying.
	said, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(said)
		select {
		case <-ctx.Done():
		case <-done:
			if ctx.Err() == nil {
				return // ended otherwise: nothing to say
			}
		}
		logger.Printf("stopping")
	}()
	defer func() { close(done); <-said }()

	if sf.Wait != 0 {
		sayIfUnreachable(ctx, sf.Addr, logger)
	}

	opts := lib.ServeOptions{
		Concurrency: jobs,
		Timeout:     time.Duration(timeout),
		Grace:       time.Duration(grace),
		Logf:        logger.Printf,
	}
	var h lib.Handler
	if interactive {
		h = newServeTerminal(stdin, stdout, stop).handle
	} else {
		h = newServeProgram(argv, sf.Addr, time.Duration(timeout), stderr).handle
	}
	err = cl.Serve(ctx, queue, opts, h)
	if errors.Is(context.Cause(ctx), tool.ErrInterrupted) {
		return tool.InterruptStatus() // stopped in order, by Ctrl-C or SIGTERM
	}
	if err != nil {
		return c.Fail(err)
	}
	return tool.ExitOK
}

// sayIfUnreachable logs once that the switch at addr cannot be reached
// yet: services may start before the switch, and then wait for it.
func sayIfUnreachable(ctx context.Context, addr string, logger *log.Logger) {
	probe, err := lib.New(lib.Options{Addr: addr})
	if err != nil {
		return
	}
	defer probe.Close()
	if err := probe.Ping(ctx); errors.Is(err, lib.ErrUnreachable) {
		logger.Printf("%v; waiting for it", err)
	}
}

// serveProgram runs a program per request.
type serveProgram struct {
	argv       []string
	switchAddr string
	timeout    time.Duration
	stderr     *lockedWriter
	baseEnv    []string // msw-serve's environment without the MSW_* variables set per request
	trim       trimmer
}

func newServeProgram(argv []string, switchAddr string, timeout time.Duration, stderr io.Writer) *serveProgram {
	return &serveProgram{argv: argv, switchAddr: switchAddr, timeout: timeout, stderr: &lockedWriter{w: stderr},
		baseEnv: serveBaseEnv(os.Environ())}
}

// serveEnvKeys are the variables set for each request, in that order.
var serveEnvKeys = [...]string{"MSW_QUEUE", "MSW_CORRELATION_ID", "MSW_REPLY_TO", "MSW_MESSAGE_ID",
	"MSW_REDELIVERED", "MSW_DELIVERY_COUNT", lib.EnvSwitch}

// serveBaseEnv is env as os/exec would pass it (the last of repeated
// variables kept, in order), less the variables set per request, which
// would replace them: built once, as msw-serve's environment does not
// change.
func serveBaseEnv(env []string) []string {
	saw := make(map[string]bool, len(env)+len(serveEnvKeys))
	for _, k := range serveEnvKeys {
		saw[k] = true
	}
	var out []string
	for n := len(env); n > 0; n-- {
		kv := env[n-1]
		i := strings.Index(kv, "=")
		if i == 0 {
			i = strings.Index(kv[1:], "=") + 1
		}
		if i < 0 {
			if kv != "" {
				out = append(out, kv)
			}
			continue
		}
		if k := kv[:i]; !saw[k] {
			saw[k] = true
			out = append(out, kv)
		}
	}
	slices.Reverse(out)
	return out
}

// env is the program's environment for req.
func (p *serveProgram) env(req *lib.Request) ([]string, error) {
	redelivered := "0"
	if req.Redelivered {
		redelivered = "1"
	}
	vals := [len(serveEnvKeys)]string{req.Queue, req.CorrelationID, req.ReplyTo,
		strconv.FormatUint(req.ID, 10), redelivered, strconv.FormatUint(uint64(req.DeliveryCount), 10), p.switchAddr}
	env := make([]string, len(p.baseEnv), len(p.baseEnv)+len(vals))
	copy(env, p.baseEnv)
	var err error
	for i, v := range vals {
		if strings.IndexByte(v, 0) >= 0 {
			err = errors.New("exec: environment variable contains NUL") // as os/exec says
			continue
		}
		env = append(env, serveEnvKeys[i]+"="+v)
	}
	return env, err
}

func (p *serveProgram) handle(ctx context.Context, req *lib.Request) ([]byte, error) {
	tail := &stderrLines{prefix: req.CorrelationID + ": ", w: p.stderr}
	env, err := p.env(req)
	var r execrun.Result
	if err != nil {
		r.Err = err
	} else {
		r = execrun.Run(ctx, p.argv, env, req.Payload, tail)
	}
	p.trim.large(max(len(req.Payload), cap(r.Out)))
	tail.flush()
	name := p.argv[0]
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		msg := fmt.Sprintf("%s: timed out after %s, killed\n", name, p.timeout)
		fmt.Fprintf(p.stderr, "%s%s", tail.prefix, msg)
		return nil, &lib.RemoteError{Status: lib.StatusTimeout, Message: msg + tail.text()}
	}
	if !r.Failed {
		if r.Err == nil || errors.Is(r.Err, exec.ErrWaitDelay) {
			return r.Out, nil // ErrWaitDelay: it exited 0; a process it left holds the pipe
		}
		fmt.Fprintf(p.stderr, "%s%v\n", tail.prefix, r.Err)
		return nil, &lib.RemoteError{Status: 127, Message: fmt.Sprintf("%s: %v\n", name, r.Err)}
	}
	ws := r.Status
	status, how := ws.ExitStatus(), fmt.Sprintf("exit status %d", ws.ExitStatus())
	if ws.Signaled() {
		status, how = 128+int(ws.Signal()), "killed by "+unix.SignalName(ws.Signal())
	}
	// The operator sees what failed too, not only the caller.
	fmt.Fprintf(p.stderr, "%s%s: %s\n", tail.prefix, name, how)
	msg := tail.text()
	if msg == "" {
		msg = fmt.Sprintf("%s: %s\n", name, how)
	}
	return nil, &lib.RemoteError{Status: status, Message: msg}
}

// lockedWriter serializes whole writes from parallel requests.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// stderrLines copies a program's standard error line by line, each with
// a prefix, and keeps the last lines for a failure reply.
type stderrLines struct {
	prefix  string
	w       io.Writer
	partial []byte
	last    []string
}

func (s *stderrLines) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.partial = append(s.partial, p...)
			for len(s.partial) >= serveTailBytes { // a very long line goes out in pieces
				s.line(s.partial[:serveTailBytes])
				s.partial = append(s.partial[:0], s.partial[serveTailBytes:]...)
			}
			break
		}
		s.partial = append(s.partial, p[:i]...)
		s.line(s.partial)
		s.partial = s.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

func (s *stderrLines) line(b []byte) {
	io.WriteString(s.w, s.prefix+string(b)+"\n")
	l := string(b)
	if len(l) > serveTailBytes/serveTailLines*2 {
		l = l[:serveTailBytes/serveTailLines*2] + "..."
	}
	s.last = append(s.last, l)
	if len(s.last) > serveTailLines {
		s.last = s.last[len(s.last)-serveTailLines:]
	}
}

// flush writes out an unfinished last line.
func (s *stderrLines) flush() {
	if len(s.partial) > 0 {
		s.line(s.partial)
		s.partial = nil
	}
}

// text returns the last lines kept, each ending in a newline.
func (s *stderrLines) text() string {
	if len(s.last) == 0 {
		return ""
	}
	return strings.Join(s.last, "\n") + "\n"
}

// serveTerminal is the interactive mode: a person reads each request and
// types the reply. A goroutine reads the input, so that its end is seen
// between requests too: msw-serve then stops.
type serveTerminal struct {
	out   io.Writer
	lines chan []byte // closed at the end of input
	stop  context.CancelFunc

	mu   sync.Mutex
	busy bool // a request is being answered
	eof  bool
}

func newServeTerminal(in io.Reader, out io.Writer, stop context.CancelFunc) *serveTerminal {
	t := &serveTerminal{out: out, lines: make(chan []byte), stop: stop}
	go func() {
		br := bufio.NewReader(in)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				t.lines <- line
			}
			if err != nil {
				t.mu.Lock()
				t.eof = true
				busy := t.busy
				t.mu.Unlock()
				close(t.lines)
				if !busy {
					t.stop()
				}
				return
			}
		}
	}()
	return t
}

func (t *serveTerminal) handle(ctx context.Context, req *lib.Request) ([]byte, error) {
	t.mu.Lock()
	t.busy = true
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.busy = false
		eof := t.eof
		t.mu.Unlock()
		if eof {
			t.stop()
		}
	}()

	var b strings.Builder
	fmt.Fprintf(&b, "--- request %s on %s", req.CorrelationID, req.Queue)
	if req.Redelivered {
		fmt.Fprintf(&b, " (delivery %d)", req.DeliveryCount)
	}
	b.WriteString(" ---\n")
	b.Write(req.Payload)
	if len(req.Payload) > 0 && req.Payload[len(req.Payload)-1] != '\n' {
		b.WriteString("\n")
	}
	if req.ReplyTo == "" {
		b.WriteString("--- no reply wanted ---\n")
		io.WriteString(t.out, b.String())
		return nil, nil
	}
	b.WriteString("--- type the reply, then a line holding only '.' ---\n")
	io.WriteString(t.out, b.String())

	var reply []byte
	for {
		select {
		case line, ok := <-t.lines:
			if !ok {
				// End of input: send what was typed; with nothing typed,
				// give the request back (msw-serve is stopping).
				if len(reply) > 0 {
					return reply, nil
				}
				return nil, lib.ErrGiveBack
			}
			if string(line) == ".\n" || string(line) == "." {
				return reply, nil
			}
			reply = append(reply, line...)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
