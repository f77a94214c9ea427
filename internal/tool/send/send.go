package send

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"msw/internal/tool"
	"msw/internal/wire"
	"msw/lib"
)

const sendUsage = `
Usage: msw-send [options] QUEUE

Send standard input to QUEUE as one message, byte for byte (empty input
is one empty message), or --body TEXT. With -l each line is a message,
with -0 each NUL-terminated record, with --json each line is a JSON
envelope as 'msw-recv --json' prints it. QUEUE is created if it does not
exist. Messages are sent in order, in batches, while input is still
being read. A message over the switch's payload limit (16 MiB unless the
switch says otherwise) is refused while it is read.
`

// Target is where a command that reads messages as msw-send does sends
// them: msw-send to the queue it names, msw-pub to a topic.
type Target struct {
	Name  string // the command's name
	Usage string // its -h text
	Arg   string // what its argument is: QUEUE, TOPIC
	// Check validates the argument; a bad one fails with status 1, or,
	// with BadArgIsUsage, 2.
	Check         func(arg string) error
	BadArgIsUsage bool
	// Flags registers the target's own options, and returns their names
	// for the Message group of -h.
	Flags func(fs *pflag.FlagSet) []string
	// Prepare, if set, makes sure the target exists before anything is
	// read (as a whole message) or sent.
	Prepare func(ctx context.Context, c *tool.Command, cl *lib.Client, arg string) error
	// Send sends one batch, in order, all or nothing, and returns the id
	// the first message got (0 where ids mean nothing, as for a publish).
	Send func(ctx context.Context, cl *lib.Client, arg string, ms []lib.Message) (uint64, error)
	// Window, for a queue, keeps several batches in flight at once
	// (lib.BatchSender) instead of one Send at a time: a switch with a
	// log then syncs them together.
	Window bool
}

// sendTarget is msw-send's: the queue named, created if missing.
var sendTarget = Target{
	Name: "msw-send", Usage: sendUsage, Arg: "QUEUE",
	Check:   wire.ValidateName,
	Prepare: tool.CreateQueue,
	Send: func(ctx context.Context, cl *lib.Client, queue string, ms []lib.Message) (uint64, error) {
		return cl.SendBatch(ctx, queue, ms)
	},
	Window: true,
}

// Batching: a batch is handed to the sender when it holds this many
// payload bytes or messages, or when the input has nothing more buffered
// (so a slow producer's lines do not wait for a full batch).
const (
	sendBatchBytes = 1 << 20
	sendBatchMsgs  = 8192
)

// splitMode says how msw-send cuts its input into messages.
type splitMode int

const (
	splitWhole splitMode = iota // all of stdin is one message
	splitLines                  // -l
	splitNUL                    // -0
	splitJSON                   // --json
)

// unit names one piece of input in error messages.
func (m splitMode) unit() string {
	switch m {
	case splitLines, splitJSON:
		return "line"
	case splitNUL:
		return "record"
	}
	return "message"
}

// Run is the body of msw-send.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return RunTo(sendTarget, args, stdin, stdout, stderr)
}

// RunTo is the body of a command that reads messages as msw-send does
// and sends them to t.
func RunTo(t Target, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := tool.NewCommand(t.Name, t.Usage, stdout, stderr)
	var (
		lines, nul, asJSON bool
		replyTo, corrID    string
		body               string
		verbose            bool
		sf                 tool.SwitchFlags
	)
	fs := c.Flags
	fs.StringVar(&body, "body", "", "send `text` as the message, not standard input")
	fs.BoolVarP(&verbose, "verbose", "v", false, "print the id the switch gave each message (the first of each batch)")
	fs.BoolVarP(&lines, "lines", "l", false, "each line is a message (its newline removed)")
	fs.BoolVarP(&nul, "null", "0", false, "each NUL-terminated record is a message")
	fs.BoolVar(&asJSON, "json", false, "each line is a JSON envelope as msw-recv --json prints it")
	fs.StringVar(&corrID, "correlation-id", "", "correlation `id` of every message")
	fs.StringVar(&replyTo, "reply-to", "", "`queue` that replies should go to")
	message := []string{"correlation-id", "reply-to"}
	if t.Flags != nil {
		message = append(message, t.Flags(fs)...)
	}
	sf.Register(fs, tool.DefaultWait)
	groups := []tool.OptionGroup{tool.Group("Input", "body", "lines", "null", "json"), tool.Group("Message", message...), tool.Group("Output", "verbose"), tool.SwitchGroup}
	if ok, code := c.Parse(args, groups); !ok {
		return code
	}
	switch fs.NArg() {
	case 0:
		return c.UsageError("missing %s", t.Arg)
	case 1:
	default:
		return c.UsageError("unexpected argument %q", fs.Arg(1))
	}
	mode := splitWhole
	n := 0
	for _, m := range []struct {
		on   bool
		mode splitMode
	}{{lines, splitLines}, {nul, splitNUL}, {asJSON, splitJSON}} {
		if m.on {
			mode = m.mode
			n++
		}
	}
	if n > 1 {
		return c.UsageError("-l, -0 and --json exclude each other")
	}
	bodySet := fs.Changed("body")
	if bodySet && n > 0 {
		return c.UsageError("--body is the message; it takes no -l, -0 or --json")
	}
	if len(corrID) > wire.MaxFieldLen {
		return c.UsageError("--correlation-id: %d bytes, limit %d", len(corrID), wire.MaxFieldLen)
	}
	queue := fs.Arg(0)
	if err := t.Check(queue); err != nil {
		if t.BadArgIsUsage {
			return c.UsageError("%v", err)
		}
		return c.Failf("%v", err)
	}
	if replyTo != "" {
		if err := wire.ValidateName(replyTo); err != nil {
			return c.Failf("--reply-to: %v", err)
		}
	}
	cl, err := sf.Client(c.Name)
	if err != nil {
		return c.UsageError("%v", err)
	}
	defer cl.Close()

	ctx, stop := tool.SignalContext()
	defer stop()
	batches := make(chan sendBatch, 2)
	sp := &splitter{mode: mode, corrID: corrID, replyTo: replyTo, limit: cl.MaxPayload, input: "standard input"}
	if bodySet {
		stdin, sp.input = strings.NewReader(body), "--body"
	}
	if mode == splitWhole {
		// Fail fast, before reading what may be a long input, if the
		// switch is not there.
		if t.Prepare != nil {
			if err := t.Prepare(ctx, c, cl, queue); err != nil {
				return c.Fail(err)
			}
		}
		c.NoteReadingTerminal(stdin, "the message")
		go sp.readWhole(ctx, stdin, batches)
	} else {
		c.NoteReadingTerminal(stdin, "messages")
		go sp.read(ctx, stdin, batches)
		if t.Prepare != nil {
			if err := t.Prepare(ctx, c, cl, queue); err != nil {
				return c.Fail(err)
			}
		}
	}
	var onSent func(first uint64, n int)
	if verbose {
		onSent = func(first uint64, n int) {
			if first != 0 {
				reportSent(stdout, queue, first, n)
			}
		}
	}
	var snd batchSender = &oneAtATime{t: t, cl: cl, arg: queue, onSent: onSent}
	if t.Window {
		snd = cl.NewBatchSender(queue, lib.BatchOptions{OnSent: onSent})
	}
	w := &window{snd: snd}
	fail := func(err error) int {
		return sendFailed(c, ctx, cl, t, queue, mode, w, err)
	}
	for {
		var b sendBatch
		select {
		case <-ctx.Done(): // interrupted, maybe while reading a terminal
			return c.Fail(ctx.Err())
		case next, ok := <-batches:
			if !ok {
				if err := snd.Wait(ctx); err != nil {
					return fail(err)
				}
				return tool.ExitOK
			}
			b = next
		}
		if len(b.msgs) > 0 {
			if err := w.send(ctx, b); err != nil {
				return fail(err)
			}
		}
		if b.err != nil {
			if err := snd.Wait(ctx); err != nil {
				return fail(err)
			}
			return c.Failf("%v", b.err)
		}
	}
}

// reportSent says what a batch of n messages to queue got: the id of
// its only message, or of its first (ids are consecutive within one
// request, and a batch of a few MiB is one).
func reportSent(w io.Writer, queue string, first uint64, n int) {
	if n == 1 {
		fmt.Fprintf(w, "sent #%d to %s\n", first, queue)
		return
	}
	fmt.Fprintf(w, "sent %d messages to %s, the first #%d\n", n, queue, first)
}

// framePrefix is how the switch names the message of a batch it refused.
var framePrefix = regexp.MustCompile(`^frame ([0-9]+): (.*)$`)

// sendFailed reports the failure of a batch: the first one, in input
// order, of those in flight; what the others got is taken in first, so
// that the count of messages sent is what the switch accepted. When the
// switch names one message of the batch as too large, the messages
// before it are sent again on their own, so that everything before the
// message named in the error was sent, and nothing from it on.
func sendFailed(c *tool.Command, ctx context.Context, cl *lib.Client, t Target, queue string, mode splitMode, w *window, err error) int {
	if ctx.Err() != nil {
		return c.Fail(ctx.Err())
	}
	w.snd.Wait(ctx) // the first failure is err; the rest were aborted
	b, k0 := w.unsent()
	sent := w.snd.Sent()
	var le *lib.Error
	if b == nil || !errors.As(err, &le) {
		// Not the batch's own failure: the switch was lost, say. The
		// batches in flight may or may not have been enqueued.
		if sent > 0 && mode != splitWhole {
			err = &noted{err, fmt.Sprintf("%v; %d messages were sent", err, sent)}
		}
		return c.Fail(err)
	}
	if le.Code == lib.CodeTooLarge {
		k, why := 1, le.Message
		if m := framePrefix.FindStringSubmatch(le.Message); m != nil {
			k, _ = strconv.Atoi(m[1])
			why = m[2]
		} else if len(b.msgs)-k0 != 1 {
			k = 0
		}
		if k >= 1 && k0+k <= len(b.msgs) {
			if k > 1 {
				if _, err := t.Send(ctx, cl, queue, b.msgs[k0:k0+k-1]); err != nil {
					return c.Fail(err)
				}
			}
			if mode == splitWhole {
				return c.Failf("%s", why)
			}
			return c.Failf("%s %d: %s", mode.unit(), b.lineOf(k0+k-1), why)
		}
	}
	if mode == splitWhole {
		return c.Fail(err)
	}
	text := fmt.Sprintf("%s %d: %v", mode.unit(), b.lineOf(k0), err)
	if sent > 0 {
		text += fmt.Sprintf("; the %d messages before it were sent", sent)
	}
	return c.Fail(&noted{err, text})
}

// noted is an error told in other words: its exit code is err's.
type noted struct {
	err  error
	text string
}

func (e *noted) Error() string { return e.text }
func (e *noted) Unwrap() error { return e.err }

// sendBatch is a run of messages read from the input, in order. A batch
// with err set is the last one: err is why reading stopped, after msgs.
type sendBatch struct {
	msgs  []lib.Message
	first int   // input line (record) number of msgs[0]
	lines []int // line numbers of msgs, when they are not consecutive
	err   error
}

func (b *sendBatch) lineOf(i int) int {
	if b.lines != nil {
		return b.lines[i]
	}
	return b.first + i
}

// splitter cuts msw-send's input into messages and hands them over in
// batches.
type splitter struct {
	mode            splitMode
	corrID, replyTo string
	limit           func() int // the switch's payload limit
	input           string     // what is read, for errors: standard input

	arena []byte // payloads of small messages are carved from it
}

// maxPayload is the switch's payload limit.
func (sp *splitter) maxPayload() int {
	if sp.limit == nil {
		return wire.DefaultMaxPayload
	}
	return sp.limit()
}

// payload copies tok into storage that is never written again.
func (sp *splitter) payload(tok []byte) []byte {
	if len(tok) > 32<<10 {
		return bytes.Clone(tok)
	}
	if cap(sp.arena)-len(sp.arena) < len(tok) {
		sp.arena = make([]byte, 0, 256<<10)
	}
	start := len(sp.arena)
	sp.arena = append(sp.arena, tok...)
	return sp.arena[start:len(sp.arena):len(sp.arena)]
}

// readWhole sends all of r as one message.
func (sp *splitter) readWhole(ctx context.Context, r io.Reader, out chan<- sendBatch) {
	defer close(out)
	limit := sp.maxPayload()
	data, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	b := sendBatch{first: 1}
	if err != nil {
		b.err = fmt.Errorf("reading %s: %w", cmp.Or(sp.input, "standard input"), err)
	} else if len(data) > limit {
		b.err = fmt.Errorf("%s: the message is over the switch's limit of %s; nothing sent", cmp.Or(sp.input, "standard input"), tool.SizeWords(limit))
	} else {
		b.msgs = []lib.Message{{Payload: data, CorrelationID: sp.corrID, ReplyTo: sp.replyTo}}
	}
	select {
	case out <- b:
	case <-ctx.Done():
	}
}

// read cuts r into messages and sends them to out in batches: a batch
// goes as soon as it is full or the input has nothing more buffered, so
// reading overlaps sending and a slow producer's messages are not held
// back. The last batch carries the error that stopped reading, if any.
func (sp *splitter) read(ctx context.Context, r io.Reader, out chan<- sendBatch) {
	defer close(out)
	delim := byte('\n')
	if sp.mode == splitNUL {
		delim = 0
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		partial []byte
		line    int
		b       = sendBatch{first: 1}
		size    int
	)
	// Each batch's slice is made at the size of the one before: grown by
	// append from nothing, it was a fifth of msw-send's CPU, copying.
	hand := func() bool {
		select {
		case out <- b:
		case <-ctx.Done():
			return false
		}
		b = sendBatch{first: line + 1, msgs: make([]lib.Message, 0, max(16, len(b.msgs)))}
		size = 0
		return true
	}
	for {
		tok, err := br.ReadSlice(delim)
		if err == bufio.ErrBufferFull {
			partial = append(partial, tok...)
			if limit := sp.maxPayload(); len(partial) > limit {
				b.err = fmt.Errorf("%s %d: over the switch's limit of %s", sp.mode.unit(), line+1, tool.SizeWords(limit))
				hand()
				return
			}
			continue
		}
		if len(partial) > 0 {
			partial = append(partial, tok...)
			tok = partial
		}
		last := err != nil
		if err == nil {
			tok = tok[:len(tok)-1]
		} else if err != io.EOF {
			b.err = fmt.Errorf("reading standard input: %w", err)
			hand()
			return
		}
		if len(tok) > 0 || !last {
			line++
			if size > 0 && size+len(tok) > sendBatchBytes {
				if !hand() {
					return
				}
				b.first = line
			}
			m, skip, merr := sp.message(tok)
			if merr != nil {
				b.err = fmt.Errorf("%s %d: %w", sp.mode.unit(), line, merr)
				hand()
				return
			}
			if skip { // a blank line in --json input
				if b.lines == nil {
					b.lines = make([]int, len(b.msgs), cap(b.msgs)+1)
					for i := range b.lines {
						b.lines[i] = b.first + i
					}
				}
			} else {
				b.msgs = append(b.msgs, m)
				if b.lines != nil {
					b.lines = append(b.lines, line)
				}
				size += len(m.Payload)
			}
		}
		partial = partial[:0]
		if last {
			if len(b.msgs) > 0 {
				hand()
			}
			return
		}
		if size >= sendBatchBytes || len(b.msgs) >= sendBatchMsgs || (br.Buffered() == 0 && len(b.msgs) > 0) {
			if !hand() {
				return
			}
		}
	}
}

// message makes the message for one piece of input; skip is true for a
// blank line of --json input, which is skipped. The message is returned
// by value: a pointer made it escape, an allocation per message.
func (sp *splitter) message(tok []byte) (m lib.Message, skip bool, err error) {
	if sp.mode != splitJSON {
		return lib.Message{Payload: sp.payload(tok), CorrelationID: sp.corrID, ReplyTo: sp.replyTo}, false, nil
	}
	if len(bytes.TrimSpace(tok)) == 0 {
		return m, true, nil
	}
	if m, err = decodeEnvelope(tok); err != nil {
		return m, false, err
	}
	if sp.corrID != "" {
		m.CorrelationID = sp.corrID
	}
	if sp.replyTo != "" {
		m.ReplyTo = sp.replyTo
	}
	return m, false, nil
}

// decodeEnvelope reads one line of msw-recv --json output back into the
// message it describes: payload (or payload_base64), correlation id,
// reply-to and status. Other fields (queue, id, delivery count, origin,
// enqueue time) describe a past delivery and are ignored.
func decodeEnvelope(line []byte) (lib.Message, error) {
	t := bytes.TrimSpace(line)
	if len(t) == 0 || t[0] != '{' {
		return lib.Message{}, errors.New("want a JSON object")
	}
	var j wire.JSONDelivery
	if err := json.Unmarshal(t, &j); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return lib.Message{}, fmt.Errorf("%s: want %s", te.Field, jsonKind(te.Type.Kind().String()))
		}
		return lib.Message{}, fmt.Errorf("bad JSON: %v", err)
	}
	switch {
	case j.Payload == nil && j.PayloadBase64 == nil:
		return lib.Message{}, errors.New("no payload or payload_base64")
	case j.Payload != nil && j.PayloadBase64 != nil:
		return lib.Message{}, errors.New("both payload and payload_base64")
	}
	if len(j.CorrelationID) > wire.MaxFieldLen {
		return lib.Message{}, fmt.Errorf("correlation_id: %d bytes, limit %d", len(j.CorrelationID), wire.MaxFieldLen)
	}
	if j.ReplyTo != "" {
		if err := wire.ValidateName(j.ReplyTo); err != nil {
			return lib.Message{}, fmt.Errorf("reply_to: %w", err)
		}
	}
	d := wire.FromJSON(&j)
	return lib.Message(d.Message), nil
}

// jsonKind names a Go kind as JSON users know it.
func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "slice":
		return "a base64 string"
	case "bool":
		return "true or false"
	case "uint8":
		return "a whole number from 0 to 255"
	case "uint32", "uint64", "int", "int64":
		return "a whole number"
	case "struct":
		return "a JSON object or string"
	}
	return "another type"
}
