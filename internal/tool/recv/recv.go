package recv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"msw/internal/tool"
	"msw/internal/wire"
	"msw/lib"
)

const recvUsage = `
Usage: msw-recv [options] QUEUE...

Take messages from the QUEUEs and write each payload to standard output,
ending it with a newline when it lacks one (-N writes the bytes exactly,
for binary payloads). A message is acknowledged (deleted from its queue)
only once it has been written, and, into a pipe, once the reader has
taken it out of the pipe: a msw-recv that is killed or interrupted, or
whose reader goes away, gives back every message it had not written or
the reader had not taken, and the next reader gets them. Without -n or
-t it follows the queues until interrupted, waiting for the switch as
long as it takes. Missing queues are created.
`

// Source is what a command that prints messages as msw-recv does takes
// them from: msw-recv from the queues it names, msw-sub from a queue of
// its own bound to the patterns it names.
type Source struct {
	Name  string // the command's name
	Usage string // its -h text
	Arg   string // what each argument is: QUEUE, PATTERN
	// Peek offers --peek (showing the queues' messages without taking
	// them): only for queues that exist apart from the command.
	Peek bool
	// Topics offers -v, --topic (each payload after its topic and a
	// space): for commands whose messages were published.
	Topics bool
	// Check validates one argument; a bad one fails with status 1, or,
	// with BadArgIsUsage, 2.
	Check         func(arg string) error
	BadArgIsUsage bool
	// Queues makes the queues to take from, from the arguments: creates
	// them, or binds one.
	Queues func(ctx context.Context, c *tool.Command, cl *lib.Client, args []string) ([]string, error)
}

// recvSource is msw-recv's: the queues named, created if missing.
var recvSource = Source{
	Name: "msw-recv", Usage: recvUsage, Arg: "QUEUE", Peek: true,
	Check: wire.ValidateName,
	Queues: func(ctx context.Context, c *tool.Command, cl *lib.Client, queues []string) ([]string, error) {
		for _, q := range queues {
			if err := tool.CreateQueue(ctx, c, cl, q); err != nil {
				return nil, err
			}
		}
		return queues, nil
	},
}

const (
	recvPoll      = 25 * time.Second       // longest single long-poll
	recvMaxTake   = 1000                   // most messages asked for at once
	recvAckEvery  = 100 * time.Millisecond // ack written messages at least this often while writing a batch,
	recvAckCount  = 16                     // and at least every this many: a kill repeats at most what it wrote since
	recvSlowWrite = 100 * time.Millisecond // a batch written slower than this halves the next one
	recvFastWrite = 10 * time.Millisecond  // one written faster than this doubles it
	peekDefault   = 1000                   // --peek without -n shows at most this many per queue
	recvOneByOne  = 100                    // the first messages of a run go into a pipe one at a time
	// After those, at most this many messages are in the pipe unread:
	// what is written between two acknowledgements, and as much again
	// for the reader to take meanwhile.
	recvWindow = 2 * recvAckCount
)

// errOutputClosed is why msw-recv stops when its reader has gone away.
var errOutputClosed = errors.New("standard output closed")

// outputFormat says how msw-recv writes a message.
type outputFormat int

const (
	formatRaw   outputFormat = iota // -N: the payload as it is
	formatLines                     // a newline after each (the default, -l)
	formatNUL                       // -0
	formatJSON                      // --json
)

// Run is the body of msw-recv.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return RunFrom(recvSource, args, stdout, stderr)
}

// RunFrom is the body of a command that prints the messages of src as
// msw-recv does.
func RunFrom(src Source, args []string, stdout, stderr io.Writer) int {
	c := tool.NewCommand(src.Name, src.Usage, stdout, stderr)
	var (
		limit                    int
		timeout                  tool.DurationValue
		lines, nul, asJSON, peek bool
		raw, topics              bool
		sf                       tool.SwitchFlags
	)
	fs := c.Flags
	fs.IntVarP(&limit, "count", "n", 0, "stop after `N` messages; never take more than that")
	fs.VarP(&timeout, "timeout", "t", "exit when nothing arrives for `duration`, with status 124 (as timeout(1)); 0 waits for ever")
	groups := []tool.OptionGroup{tool.Group("Which messages", "count", "timeout"), tool.Group("Output", "raw", "lines", "null", "json"), tool.SwitchGroup}
	if src.Peek {
		fs.BoolVar(&peek, "peek", false, "show ready messages, taking none (-n of them, or 1000 a queue)")
		groups[0] = tool.Group("Which messages", "count", "timeout", "peek")
	}
	fs.BoolVarP(&raw, "raw", "N", false, "write each payload exactly as it is, nothing added")
	fs.BoolVarP(&lines, "lines", "l", false, "add a newline to each payload that lacks one (the default)")
	fs.BoolVarP(&nul, "null", "0", false, "add a NUL to each payload that lacks one")
	fs.BoolVar(&asJSON, "json", false, "write each message as one line of JSON")
	if src.Topics {
		fs.BoolVarP(&topics, "topic", "v", false, "write each message's topic and a space before its payload")
		groups[1] = tool.Group("Output", "raw", "lines", "null", "json", "topic")
	}
	sf.Register(fs, lib.WaitForever)
	if f := fs.Lookup("wait"); f != nil {
		f.Usage += "; default forever when following, 5s with -n, -t or --peek"
		f.DefValue = ""
	}
	if ok, code := c.Parse(args, groups); !ok {
		return code
	}
	given := map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { given[f.Name] = true })
	queues := fs.Args()
	if len(queues) == 0 {
		return c.UsageError("missing %s", src.Arg)
	}
	if limit < 0 {
		return c.UsageError("-n %d: want a count of 0 or more", limit)
	}
	format, n := formatLines, 0
	for _, f := range []struct {
		on     bool
		format outputFormat
	}{{raw, formatRaw}, {lines, formatLines}, {nul, formatNUL}, {asJSON, formatJSON}} {
		if f.on {
			format = f.format
			n++
		}
	}
	if n > 1 {
		return c.UsageError("-N, -l, -0 and --json exclude each other")
	}
	if topics && asJSON {
		return c.UsageError("--json has the topic in each message; -v does not apply")
	}
	if peek && (given["timeout"]) {
		return c.UsageError("--peek shows what is there at once; -t does not apply")
	}
	for _, q := range queues {
		if err := src.Check(q); err != nil {
			if src.BadArgIsUsage {
				return c.UsageError("%v", err)
			}
			return c.Failf("%v", err)
		}
	}
	if given["count"] && limit == 0 {
		return tool.ExitOK
	}
	oneShot := given["count"] || timeout > 0 || peek
	if oneShot && !given["wait"] {
		sf.Wait = tool.WaitValue(tool.DefaultWait)
	}
	cl, err := sf.Client(c.Name)
	if err != nil {
		return c.UsageError("%v", err)
	}

	ctx, done := runContext(stdout)
	defer done()
	r := newReceiver(c, cl, format, stdout)
	r.topics = topics
	var code int
	if peek {
		code = r.peek(ctx, queues, limit)
	} else {
		idle := time.Duration(-1) // no -t, or -t 0: wait for messages forever
		if timeout > 0 {
			idle = time.Duration(timeout)
		}
		code = r.follow(ctx, src, queues, limit, idle, time.Duration(sf.Wait))
	}
	cl.Close()
	return code
}

// runContext is the context msw-recv runs in: it ends on SIGINT or
// SIGTERM (a second one kills msw-recv as usual), and when stdout is a
// pipe or socket whose reader has gone away. SIGPIPE is caught so that a
// write to a closed pipe returns EPIPE instead of killing the process
// before it gives back what it holds. done undoes it all.
func runContext(stdout io.Writer) (ctx context.Context, done func()) {
	sigctx, stopSignals := tool.SignalContext()
	go func() {
		<-sigctx.Done()
		stopSignals()
	}()
	sigpipe := make(chan os.Signal, 1)
	signal.Notify(sigpipe, syscall.SIGPIPE)
	ctx, cancel := context.WithCancelCause(sigctx)
	stopWatching := func() {}
	if f, ok := stdout.(*os.File); ok {
		stopWatching = watchClosedOutput(f, func() { cancel(errOutputClosed) })
	}
	return ctx, func() {
		stopWatching()
		cancel(nil)
		signal.Stop(sigpipe)
		stopSignals()
	}
}

// newReceiver returns a receiver writing to stdout.
func newReceiver(c *tool.Command, cl *lib.Client, format outputFormat, stdout io.Writer) *receiver {
	r := &receiver{
		c:        c,
		cl:       cl,
		format:   format,
		take:     recvMaxTake,
		ackEvery: recvAckEvery,
		ackCount: recvAckCount,
		pending:  lib.Acks{},
		cw:       &countWriter{w: stdout},
		gauge:    newPipeGauge(stdout),
		oneByOne: recvOneByOne,
	}
	r.out = bufio.NewWriterSize(r.cw, 64<<10)
	r.enc = json.NewEncoder(&r.jbuf)
	r.enc.SetEscapeHTML(false)
	return r
}

// receiver is one run of msw-recv.
type receiver struct {
	c      *tool.Command
	cl     *lib.Client
	format outputFormat
	topics bool // -v: each payload after its topic
	take   int  // messages to ask for next: fewer while the reader is slow

	cw     *countWriter  // stdout, counting the bytes it took
	out    *bufio.Writer // over cw
	queued int64         // bytes handed to out
	gauge  *pipeGauge    // stdout's pipe, or nil
	held   []heldMessage // written, not yet taken by the reader
	// oneByOne is how many more messages go into a pipe one at a time.
	oneByOne int
	jbuf     bytes.Buffer
	enc      *json.Encoder // into jbuf

	ackEvery time.Duration // while writing a batch, acknowledge at least this often,
	ackCount int           // and at least every this many messages
	pending  lib.Acks      // taken by the reader, not yet acknowledged nor being
	npending int
	ack      acker     // the acknowledgement on its way, if any (see ackTaken)
	sinceAck int       // messages written since the last acknowledgement
	lastAck  time.Time // when that was
	queues   []string  // subscribed to
	epoch    uint64    // the client's login count when pending messages came
	suspect  bool      // the switch went away since: check the session before acking
}

// follow takes messages until limit (if > 0) have been written, nothing
// arrived for timeout (if >= 0; 0 takes what is ready and stops), ctx
// ends or something fails.
func (r *receiver) follow(ctx context.Context, src Source, args []string, limit int, timeout, wait time.Duration) int {
	queues, err := src.Queues(ctx, r.c, r.cl, args)
	if err != nil {
		return r.stop(ctx, err)
	}
	if err := r.cl.Subscribe(ctx, queues...); err != nil {
		return r.stop(ctx, err)
	}
	got := 0
	idleUntil := time.Now().Add(timeout)
	backoff := time.Duration(0)
	// Message ids are only good in the session (and the life of the
	// switch) that handed the messages out: a restarted switch numbers
	// its messages from 1 again. After the switch went away, a request
	// that is safe to repeat finds out whether the session is still the
	// same before any acknowledgement is sent; if it is not, the pending
	// acknowledgements are dropped (their messages, if they still exist,
	// are delivered again: duplicates, never a loss).
	r.queues = queues
	r.epoch = r.cl.Epoch()
	for limit == 0 || got < limit {
		poll := recvPoll
		if timeout >= 0 {
			poll = min(poll, max(time.Until(idleUntil), 0))
		}
		if len(r.held) > 0 {
			poll = 0 // the reader has messages to take first: wait for it, not the switch
		}
		want := r.take
		if limit > 0 {
			want = min(want, limit-got)
		}
		var ds []lib.Delivery
		var err error
		if err = r.checkSession(ctx); err == nil {
			ds, err = r.cl.Transfer(ctx, lib.TransferOptions{Max: want, Timeout: poll, Acks: r.pending})
		}
		if err != nil {
			// Messages decoded before the answer broke off are held by
			// this session: give them back, they were not written.
			r.release(ds)
			if ctx.Err() != nil {
				break
			}
			// A switch going away in the middle of a long-poll (it is
			// restarted, say) gets one more try, which waits for the
			// switch as --wait says; following forever, it gets as many
			// as it takes.
			gone := errors.Is(err, lib.ErrUnreachable) || lib.IsCode(err, lib.CodeShuttingDown)
			r.suspect = r.suspect || gone
			if gone && (backoff == 0 || wait == lib.WaitForever) {
				backoff = min(max(2*backoff, 100*time.Millisecond), 2*time.Second)
				if tool.Sleep(ctx, backoff) != nil {
					break
				}
				continue
			}
			return r.stop(ctx, err)
		}
		backoff = 0
		r.clearPending()
		if len(ds) == 0 {
			if len(r.held) > 0 {
				if err := r.drain(ctx); err != nil {
					return r.stop(ctx, err)
				}
				continue
			}
			if timeout >= 0 && !time.Now().Before(idleUntil) {
				if got == 0 {
					r.c.Failf("no message within %s", timeout)
				}
				return r.finish(tool.ExitTimeout) // as timeout(1)
			}
			continue
		}
		r.epoch = r.cl.Epoch()
		idleUntil = time.Now().Add(timeout)
		n, werr := r.writeBatch(ctx, ds)
		got += n
		r.release(ds[n:])
		if werr != nil {
			return r.stop(ctx, werr)
		}
	}
	if errors.Is(context.Cause(ctx), tool.ErrInterrupted) {
		return r.finish(tool.InterruptStatus())
	}
	if err := r.drain(ctx); err != nil {
		return r.stop(ctx, err)
	}
	return r.finish(tool.ExitOK)
}

// checkSession makes sure, after the switch went away, that the pending
// acknowledgements still belong to the client's session before they are
// sent: a request that is safe to repeat logs in again if the session is
// gone, and then they are dropped.
func (r *receiver) checkSession(ctx context.Context) error {
	if !r.suspect || r.npending == 0 {
		r.suspect = false
		return nil
	}
	if err := r.cl.Subscribe(ctx, r.queues...); err != nil {
		return err
	}
	if r.cl.Epoch() != r.epoch {
		r.clearPending()
	}
	r.suspect = false
	return nil
}

// peek writes up to limit (else peekDefault per queue) ready messages
// of the queues without taking them.
func (r *receiver) peek(ctx context.Context, queues []string, limit int) int {
	shown := 0
	for _, q := range queues {
		max := peekDefault
		if limit > 0 {
			max = limit - shown
			if max <= 0 {
				break
			}
		}
		ds, err := r.cl.Peek(ctx, q, max)
		if err != nil {
			return r.stop(ctx, err)
		}
		for i := range ds {
			if err := r.writeOne(&ds[i]); err != nil {
				return r.stop(ctx, err)
			}
		}
		shown += len(ds)
	}
	if err := r.out.Flush(); err != nil {
		return r.stop(ctx, &recvWriteError{err})
	}
	return tool.ExitOK
}

// stop ends the run because of err: quietly when its reader went away,
// with the status of a signal when one interrupted it, else with err's
// message.
func (r *receiver) stop(ctx context.Context, err error) int {
	cause := context.Cause(ctx)
	switch {
	case isOutputClosed(err) || (ctx.Err() != nil && isOutputClosed(cause)):
		return r.finish(tool.ExitOK)
	case errors.Is(cause, tool.ErrInterrupted):
		return r.finish(tool.InterruptStatus())
	}
	return r.finish(r.c.Fail(err))
}

// finish acknowledges what the reader took and was not yet acknowledged,
// gives back what it did not take, and returns code (or the failure to
// acknowledge, if code was success).
func (r *receiver) finish(code int) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.collectAck(true)
	r.settle()
	untaken := make([]lib.Delivery, len(r.held))
	for i, h := range r.held {
		untaken[i] = lib.Delivery{Queue: h.queue, ID: h.id}
	}
	r.held = nil
	r.release(untaken)
	err := r.checkSession(ctx)
	if err == nil {
		err = r.ackPending(ctx)
	}
	if err != nil {
		fmt.Fprintf(r.c.Stderr, "%s: acknowledging %d messages already written (they will be delivered again): %v\n", r.c.Name, r.npending, err)
		if code == tool.ExitOK {
			code = tool.ExitCode(err)
		}
	}
	return code
}

// recvWriteError marks a failure to write standard output.
type recvWriteError struct{ err error }

func (e *recvWriteError) Error() string { return "writing standard output: " + e.err.Error() }
func (e *recvWriteError) Unwrap() error { return e.err }

func isRecvWriteError(err error) bool {
	var we *recvWriteError
	return errors.As(err, &we)
}

func isOutputClosed(err error) bool {
	return errors.Is(err, errOutputClosed) || (isRecvWriteError(err) && errors.Is(err, syscall.EPIPE))
}

// writeBatch writes ds and flushes them. It returns how many it wrote;
// the others are the caller's to give back. A message written is held
// until its reader has taken it (see settle), then it is pending
// acknowledgement. While a batch is written, what the reader has taken
// so far is acknowledged (in the background, see ackTaken) every
// r.ackEvery and every r.ackCount messages written, into a pipe every
// half window (see makeRoom), so that a msw-recv killed half-way leaves
// little to be delivered twice.
//
// Into a pipe, what a killed msw-recv had written and not had
// acknowledged is delivered again, and what was still in the pipe is
// read as well: msw-recv keeps that small. The first messages of a run
// go into a pipe one at a time, each once the reader has taken the one
// before: a reader that wants a few lines and exits (head -3) then
// finds no more in the pipe than it wanted, and what it did not take
// stays queued. After that at most recvWindow messages are in the pipe
// unread (see makeRoom).
func (r *receiver) writeBatch(ctx context.Context, ds []lib.Delivery) (int, error) {
	start := time.Now()
	r.sinceAck, r.lastAck = 0, start // the transfer carried the acknowledgements
	var err error
	n := 0
	for ; n < len(ds); n++ {
		if ctx.Err() != nil {
			break // asked to stop: write no more, give the rest back
		}
		if r.gauge != nil {
			switch {
			case r.oneByOne > 0:
				err = r.drain(ctx)
			case len(r.held) >= recvWindow:
				err = r.makeRoom(ctx)
			}
			if err != nil {
				break
			}
		}
		if err = r.writeOne(&ds[n]); err != nil {
			break
		}
		r.held = append(r.held, heldMessage{queue: ds[n].Queue, id: ds[n].ID, end: r.queued})
		r.oneByOne = max(r.oneByOne-1, 0)
		r.sinceAck++
		// Into a pipe, makeRoom acknowledges what the reader took every
		// half window.
		byCount := r.gauge == nil && r.sinceAck >= r.ackCount
		if n+1 < len(ds) && (byCount || time.Since(r.lastAck) >= r.ackEvery) {
			if err = r.flush(); err != nil {
				n++
				break
			}
			r.settle()
			r.ackTaken(ctx)
		}
	}
	if err == nil {
		err = r.flush()
	}
	r.settle()
	r.collectAck(true) // the next request carries what is pending
	r.adapt(time.Since(start))
	return n, err
}

// ackTaken acknowledges, best effort and in the background, what the
// reader has taken (what fails stays pending), and starts counting anew.
// While an acknowledgement is on its way, what the reader takes waits
// for the next; once that is recvAckBehind messages, ackTaken waits for
// the one in flight first. writeBatch waits for it before it returns:
// all other requests go out with nothing in flight.
func (r *receiver) ackTaken(ctx context.Context) {
	r.lastAck = time.Now()
	r.sinceAck = 0
	if !r.collectAck(r.npending >= recvAckBehind) || r.npending == 0 {
		return
	}
	acks, n := r.pending, r.npending
	r.pending, r.npending = lib.Acks{}, 0
	r.ack.start(ctx, r.cl, acks, n)
}

// collectAck takes the outcome of the acknowledgement in flight, waiting
// for it if wait is true: what it failed to acknowledge is pending again.
// It reports whether nothing is in flight any more.
func (r *receiver) collectAck(wait bool) bool {
	ok, failed, n, _ := r.ack.done(wait)
	for q, ids := range failed {
		r.pending[q] = append(r.pending[q], ids...)
	}
	r.npending += n
	return ok
}

// makeRoom waits until no more than half of the recvWindow messages
// written into the pipe are unread, and acknowledges what the reader
// took meanwhile: msw-recv writes the next half while the reader reads
// the one before, and a reader that takes what comes at once (wc -l)
// has usually taken it all already and is not waited for. A slow reader
// is kept a window ahead of, not a pipe's worth: a msw-recv killed
// meanwhile repeats no more.
func (r *receiver) makeRoom(ctx context.Context) error {
	if err := r.flush(); err != nil {
		return err
	}
	r.settle()
	if len(r.held) < recvWindow {
		return nil
	}
	// Room for half a window: the reader has taken all up to the end of
	// the message recvWindow/2+1 from the last.
	gone, err := r.gauge.waitUnread(ctx, r.cw.n-r.held[len(r.held)-recvWindow/2-1].end)
	if gone {
		err = errOutputClosed
	}
	r.settle()
	if err != nil {
		return err
	}
	r.ackTaken(ctx)
	return nil
}

// heldMessage is a message written to stdout that its reader has not
// taken yet: end is r.queued after it.
type heldMessage struct {
	queue string
	id    uint64
	end   int64
}

// flush writes out what is buffered.
func (r *receiver) flush() error {
	if err := r.out.Flush(); err != nil {
		return &recvWriteError{err}
	}
	return nil
}

// drain flushes and waits until the reader has taken everything written
// (it returns at once when stdout is not a pipe), then settles.
func (r *receiver) drain(ctx context.Context) error {
	if err := r.flush(); err != nil {
		return err
	}
	if r.gauge != nil && len(r.held) > 0 {
		gone, err := r.gauge.waitUnread(ctx, 0)
		if gone {
			err = errOutputClosed
		}
		if err != nil {
			r.settle()
			return err
		}
	}
	r.settle()
	return nil
}

// settle makes pending the held messages whose every byte the reader has
// taken: all that went out, but for a pipe's unread bytes.
func (r *receiver) settle() {
	taken := r.cw.n
	if r.gauge != nil {
		unread, err := r.gauge.unread()
		if err != nil {
			return // taken stays unknown: hold on
		}
		taken -= unread
	}
	i := 0
	for i < len(r.held) && r.held[i].end <= taken {
		r.pending[r.held[i].queue] = append(r.pending[r.held[i].queue], r.held[i].id)
		i++
	}
	r.npending += i
	r.held = append(r.held[:0], r.held[i:]...)
}

// adapt sizes the next transfer to how fast the reader takes messages, so
// that msw-recv holds few messages it cannot write soon (which competing
// receivers could be working on meanwhile).
func (r *receiver) adapt(took time.Duration) {
	switch {
	case took > recvSlowWrite:
		r.take = max(1, r.take/2)
	case took < recvFastWrite:
		r.take = min(recvMaxTake, r.take*2)
	}
}

// writeOne writes one message in the chosen format to the buffer.
func (r *receiver) writeOne(d *lib.Delivery) error {
	var err error
	switch r.format {
	case formatJSON:
		r.jbuf.Reset()
		if err = r.enc.Encode(wire.ToJSON(&wire.Delivery{Queue: d.Queue, ID: d.ID, DeliveryCount: d.DeliveryCount,
			Origin: d.Origin, EnqueuedAt: d.EnqueuedAt, Topic: d.Topic, Message: wire.Message(d.Message)})); err != nil {
			return err
		}
		_, err = r.out.Write(r.jbuf.Bytes())
		r.queued += int64(r.jbuf.Len())
	default:
		if r.topics {
			r.writeTopic(d)
		}
		_, err = r.out.Write(d.Payload)
		r.queued += int64(len(d.Payload))
		if delim, ok := r.delimiter(); ok && err == nil && (len(d.Payload) == 0 || d.Payload[len(d.Payload)-1] != delim) {
			err = r.out.WriteByte(delim)
			r.queued++
		}
	}
	if err != nil {
		return &recvWriteError{err}
	}
	return nil
}

// writeTopic writes d's topic (for a message sent to the queue itself,
// the queue's name) and a space, as mosquitto_sub -v does.
func (r *receiver) writeTopic(d *lib.Delivery) {
	t := d.Topic
	if t == "" {
		t = d.Queue
	}
	r.out.WriteString(t)
	r.out.WriteByte(' ')
	r.queued += int64(len(t)) + 1
}

func (r *receiver) delimiter() (byte, bool) {
	switch r.format {
	case formatLines:
		return '\n', true
	case formatNUL:
		return 0, true
	}
	return 0, false
}

func (r *receiver) clearPending() {
	if r.npending > 0 {
		r.pending = lib.Acks{}
		r.npending = 0
	}
}

// ackPending acknowledges the pending messages. Messages already gone
// (acked by an earlier request whose answer was lost) are not an error.
func (r *receiver) ackPending(ctx context.Context) error {
	r.collectAck(true)
	if r.npending == 0 {
		return nil
	}
	if err := ackErr(r.cl.Ack(ctx, r.pending)); err != nil {
		return err
	}
	r.clearPending()
	return nil
}

// release gives messages taken but not written back to their queues at
// once, for the next reader. If that fails, closing the session (or its
// end when the process is gone) gives them back all the same.
func (r *receiver) release(ds []lib.Delivery) {
	if len(ds) == 0 {
		return
	}
	acks := lib.Acks{}
	for i := range ds {
		acks[ds[i].Queue] = append(acks[ds[i].Queue], ds[i].ID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.cl.Release(ctx, acks)
}

// countWriter counts the bytes its writer took, even on error.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// watchClosedOutput calls onClose when f is a pipe or socket whose reading
// end has been closed, so that msw-recv notices a departed reader while it
// waits for messages, not only at its next write. It returns a function
// that stops watching.
func watchClosedOutput(f *os.File, onClose func()) (stop func()) {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&(os.ModeNamedPipe|os.ModeSocket) == 0 {
		return func() {}
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return func() {}
	}
	fd := -1
	rc.Control(func(u uintptr) { fd = int(u) })
	if fd < 0 {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		// Polling for no event still reports POLLERR (a pipe without a
		// reader) and POLLHUP (a socket shut down).
		fds := []unix.PollFd{{Fd: int32(fd)}}
		for {
			select {
			case <-done:
				return
			default:
			}
			n, err := unix.Poll(fds, 200)
			if err == unix.EINTR {
				continue
			}
			if err != nil || fds[0].Revents&unix.POLLNVAL != 0 {
				return
			}
			if n > 0 && fds[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
				onClose()
				return
			}
		}
	}()
	return func() { close(done) }
}
