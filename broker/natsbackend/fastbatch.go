package natsbackend

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"msw/internal/wire"
)

// A send of many messages is stored with JetStream's fast batch publish
// (docs/scale-out.md, the mapping's send row): the messages go out as
// plain publishes whose reply subject names the batch, a sequence in it
// and what the message does (start, append, commit), and the stream
// answers once per flow window instead of once per message, and with
// one PubAck for the commit. On the wire each message's reply subject is
//
//	<prefix>.<batch id>.<flow>.fail.<seq>.<op>.$FI
//
// where fail asks the stream to end the batch at the first gap. The
// answers (flow acks, a gap, an error, the commit's PubAck) come back on
// one subscription of the engine's own, <prefix>.>, to the batch they
// name.
//
// Ids: the commit's PubAck names the stream sequence of the batch's last
// message and how many it stored. The first message is published alone
// before the batch, so that a send's answer (the first id) is exact; the
// ids of the others are counted back from the last, exact when no other
// sender published into the queue meanwhile (the ids of one batch are
// consecutive only then, as before).

const (
	// fastBatchMin is the fewest messages a send must have to be stored
	// as a fast batch; fewer are published one by one, asynchronously.
	fastBatchMin = 64
	// fastBatchFlow is the most messages the stream is asked to take
	// between two flow acks (the server's own bound is 500); two flow
	// windows are kept in flight.
	fastBatchFlow = 500
	// errBatchDisabled is JetStream's error code for a stream that does
	// not take batches (one created before its queues allowed them),
	// errBatchTooMany the one for a stream with too many batches under
	// way. Either refusing a batch's first message refuses the batch.
	errBatchDisabled = 10205
	errBatchTooMany  = 10211
)

// fastBatches is the engine's batches under way, by id.
type fastBatches struct {
	prefix string // <inbox>.
	sub    *nats.Subscription

	mu      sync.Mutex // leaf
	batches map[string]*fastBatch
}

// fastBatch is what a batch under way has heard from its stream.
type fastBatch struct {
	mu     sync.Mutex // leaf
	cond   *sync.Cond
	acked  uint64 // the highest batch sequence persisted
	window uint64 // messages between flow acks, as the stream says
	done   bool
	heard  time.Time // the last answer, or the start
	last   uint64    // the commit's stream sequence
	count  uint64    // how many the commit stored
	err    error
	code   int    // the error's JetStream code, if it had one
	errSeq uint64 // the batch sequence of the message the error answered
}

// startFastBatches subscribes to the batches' answers.
func (e *Engine) startFastBatches() error {
	f := &fastBatches{prefix: e.nc.NewInbox() + ".", batches: make(map[string]*fastBatch)}
	sub, err := e.nc.Subscribe(f.prefix+">", f.onAnswer)
	if err != nil {
		return err
	}
	f.sub = sub
	e.fast = f
	return nil
}

// batchAnswer is any answer a stream sends a fast batch.
type batchAnswer struct {
	Type  string `json:"type"` // "ack", "gap", "err"; none for the PubAck
	Seq   uint64 `json:"seq"`  // a batch sequence, or the PubAck's stream sequence
	Msgs  uint64 `json:"msgs"`
	Count uint64 `json:"count"`
	Error *struct {
		Code        int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

// onAnswer hands an answer to its batch.
func (f *fastBatches) onAnswer(m *nats.Msg) {
	// <id>.<flow>.fail.<seq>.<op>.$FI
	tokens := strings.Split(m.Subject[len(f.prefix):], ".")
	id := tokens[0]
	f.mu.Lock()
	b := f.batches[id]
	f.mu.Unlock()
	if b == nil {
		return
	}
	var a batchAnswer
	err := json.Unmarshal(m.Data, &a)
	b.mu.Lock()
	defer b.mu.Unlock()
	defer b.cond.Broadcast()
	if b.done {
		return
	}
	b.heard = time.Now()
	switch {
	case err != nil:
		b.done, b.err = true, fmt.Errorf("batch answer %q: %w", m.Data, err)
	case a.Error != nil:
		b.done, b.err, b.code = true, fmt.Errorf("batch refused: %s", a.Error.Description), a.Error.Code
		if len(tokens) == 6 {
			b.errSeq, _ = strconv.ParseUint(tokens[3], 10, 64)
		}
	case a.Type == "ack":
		b.acked = max(b.acked, a.Seq)
		if a.Msgs > 0 {
			b.window = a.Msgs
		}
	case a.Type == "gap":
		b.done, b.err = true, errors.New("batch ended at a gap")
	case a.Type == "":
		b.done, b.last, b.count = true, a.Seq, a.Count
	}
}

// publishBatch stores ms as a fast batch, after ms[0] published alone
// (publishOne), and puts their stream sequences in ids; origin is the
// one for the messages' header, subject carrying it if not
// (subjects.go). A queue whose stream does not take batches (made by a
// gateway from before they were used, or on a server that has none: its
// form says so) gets them as asynchronous publishes instead; so does one
// whose stream refuses the batch's first message, which refuses the
// batch whole (nothing of it is stored twice). On an error some of them
// may be stored.
func (e *Engine) publishBatch(queue, subject string, form streamForm, ms []wire.Message, origin string, ids []uint64) error {
	first, err := e.publishOne(queue, subject, &ms[0], origin)
	if err != nil {
		return err
	}
	ids[0] = first
	rest := ms[1:]
	if !form.batches {
		return e.publishAsync(queue, subject, rest, origin, ids[1:])
	}
	stored, err := e.fastBatch(queue, subject, rest, origin)
	switch {
	case errors.Is(err, errNoBatches):
		form.batches = false
		e.forms.know(queue, form)
		return e.publishAsync(queue, subject, rest, origin, ids[1:])
	case errors.Is(err, errBatchLater):
		return e.publishAsync(queue, subject, rest, origin, ids[1:])
	}
	if err != nil {
		return err
	}
	for i := range rest {
		ids[1+i] = stored - uint64(len(rest)-1-i)
	}
	return nil
}

// errNoBatches is a stream's refusal of a whole batch because it takes
// none; errBatchLater because it has too many under way.
var (
	errNoBatches  = errors.New("the stream takes no batches")
	errBatchLater = errors.New("the stream has too many batches under way")
)

// fastBatch publishes ms as one fast batch and returns the stream
// sequence of the last, once the stream has stored them all; or
// errNoBatches or errBatchLater, the stream having refused the first
// message, and so stored none (it refuses those after as of a batch it
// does not know).
func (e *Engine) fastBatch(queue, subject string, ms []wire.Message, origin string) (uint64, error) {
	f := e.fast
	id := nats.NewInbox()[len(nats.InboxPrefix):]
	b := &fastBatch{window: fastBatchFlow, heard: time.Now()}
	b.cond = sync.NewCond(&b.mu)
	f.mu.Lock()
	f.batches[id] = b
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.batches, id)
		f.mu.Unlock()
	}()
	// A stream stops answering a batch it has dropped (its leader
	// changed, say): a silence of a timeout ends the wait.
	var watch *time.Timer
	check := func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.done {
			return
		}
		if quiet := time.Since(b.heard); quiet < e.o.Timeout {
			watch.Reset(e.o.Timeout - quiet)
			return
		}
		b.done, b.err = true, errors.New("the stream stopped answering the batch")
		b.cond.Broadcast()
	}
	b.mu.Lock()
	watch = time.AfterFunc(e.o.Timeout, check)
	b.mu.Unlock()
	defer watch.Stop()

	reply := f.prefix + id + "." + strconv.Itoa(fastBatchFlow) + ".fail."
	// A message with nothing of its own in its headers (no correlation
	// id, reply-to or status: a batch's usual) shares one nats.Msg
	// (PublishMsg keeps none) and one header, made once for the batch:
	// toMsg's map and allocations per message were most of the
	// gateway's CPU in a batch. With the origin in the subject
	// (subjects.go) it has no header at all.
	var plainHeader nats.Header
	if origin != "" {
		plainHeader = nats.Header{hdrOrigin: []string{origin}}
	}
	var plain nats.Msg
	for i := range ms {
		seq := uint64(i + 1)
		op := "1" // append
		switch {
		case i == len(ms)-1:
			op = "2" // commit, with this message
		case i == 0:
			op = "0" // start
		}
		b.mu.Lock()
		for !b.done && seq > b.acked+2*b.window {
			b.cond.Wait()
		}
		stop := b.done
		b.mu.Unlock()
		if stop {
			break
		}
		var msg *nats.Msg
		if m := &ms[i]; m.CorrelationID == "" && m.ReplyTo == "" && m.Status == 0 {
			plain = nats.Msg{Subject: subject, Data: m.Payload, Header: plainHeader}
			msg = &plain
		} else {
			msg = toMsg(subject, m, origin)
		}
		msg.Reply = reply + strconv.FormatUint(seq, 10) + "." + op + ".$FI"
		if err := e.nc.PublishMsg(msg); err != nil {
			return 0, e.publishError(queue, err)
		}
	}
	b.mu.Lock()
	for !b.done {
		b.cond.Wait()
	}
	last, count, err, code, errSeq := b.last, b.count, b.err, b.code, b.errSeq
	b.mu.Unlock()
	switch {
	case code == errBatchDisabled && errSeq == 1:
		return 0, errNoBatches
	case code == errBatchTooMany && errSeq == 1:
		return 0, errBatchLater
	case err != nil:
		return 0, failed("send to", queue, err)
	case count != uint64(len(ms)):
		return 0, failed("send to", queue, fmt.Errorf("the batch stored %d of %d messages", count, len(ms)))
	}
	return last, nil
}
