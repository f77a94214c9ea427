package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// natsFastBatch publishes payloads into a stream that allows batch
// publishing (StreamConfig.AllowBatchPublish, server 2.14 and later) as
// one fast batch: each message carries its batch id, sequence and
// operation in its reply subject
// (PREFIX.ID.FLOW.GAP.SEQ.OP.$FI), the server acknowledges every FLOW
// persisted messages with a flow-control ack on that subject, and the
// last message commits the batch, answered by one publish ack. The
// publisher keeps at most two flow windows unacknowledged. nats.go
// 1.55 has no client call for it; this is the wire protocol the server
// documents in its source.
func natsFastBatch(nc *nats.Conn, subject string, payloads [][]byte) error {
	const flow = 500 // the most the server grants a single batch
	id := nuid.Next()
	prefix := "_FB." + id
	var (
		mu     sync.Mutex
		cond   = sync.NewCond(&mu)
		acked  uint64
		window uint64 = flow
		done   bool
		final  error
	)
	sub, err := nc.Subscribe(prefix+".>", func(m *nats.Msg) {
		var a struct {
			Type  string `json:"type"`
			Seq   uint64 `json:"seq"`
			Msgs  uint64 `json:"msgs"`
			Count uint64 `json:"count"`
			Error *struct {
				Description string `json:"description"`
			} `json:"error"`
		}
		err := json.Unmarshal(m.Data, &a)
		mu.Lock()
		defer mu.Unlock()
		defer cond.Broadcast()
		switch {
		case err != nil:
			done, final = true, fmt.Errorf("batch answer %q: %v", m.Data, err)
		case a.Error != nil:
			done, final = true, fmt.Errorf("batch refused: %s", a.Error.Description)
		case a.Type == "ack":
			acked = max(acked, a.Seq)
			if a.Msgs > 0 {
				window = a.Msgs
			}
		default: // the publish ack of the commit
			done = true
			if a.Count != uint64(len(payloads)) {
				final = fmt.Errorf("batch committed %d messages, want %d", a.Count, len(payloads))
			}
		}
	})
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		return err
	}
	for i, p := range payloads {
		seq := uint64(i + 1)
		op := 1 // append
		switch {
		case seq == uint64(len(payloads)):
			op = 2 // commit, with this message
		case seq == 1:
			op = 0 // start
		}
		mu.Lock()
		for !done && seq > acked+2*window {
			cond.Wait()
		}
		stop := done
		mu.Unlock()
		if stop {
			break
		}
		reply := fmt.Sprintf("%s.%d.fail.%d.%d.$FI", prefix, flow, seq, op)
		if err := nc.PublishRequest(subject, reply, p); err != nil {
			return err
		}
	}
	timer := time.AfterFunc(5*time.Minute, func() {
		mu.Lock()
		done, final = true, errors.New("batch commit not acknowledged in 5 minutes")
		mu.Unlock()
		cond.Broadcast()
	})
	defer timer.Stop()
	mu.Lock()
	for !done {
		cond.Wait()
	}
	mu.Unlock()
	return final
}
