package natsbackend

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"msw/internal/wire"
)

// diagRequest is the body of a request on msw.gw.diag.
type diagRequest struct {
	MaxMessages int `json:"max_messages"`
}

// diagAnswer is one gateway's answer to it.
type diagAnswer struct {
	Gateway  string        `json:"gateway"`
	Snapshot wire.Snapshot `json:"snapshot"`
}

// onDiag answers a gathering with this gateway's snapshot, its sessions
// marked with its id. A snapshot too big for one NATS message is sent
// again with fewer messages per queue, then with none.
func (c *Cluster) onDiag(m *nats.Msg) {
	var req diagRequest
	if json.Unmarshal(m.Data, &req) != nil || m.Reply == "" {
		return
	}
	limit := c.e.nc.MaxPayload()
	for _, max := range []int{req.MaxMessages, req.MaxMessages / 10, 0} {
		snap := c.b.Snapshot(max)
		for i := range snap.Sessions {
			snap.Sessions[i].Gateway = c.o.ID
		}
		data, err := json.Marshal(diagAnswer{Gateway: c.o.ID, Snapshot: snap})
		if err == nil && int64(len(data)) <= limit-1024 {
			m.Respond(data)
			return
		}
	}
}

// Snapshot gathers the snapshot of every gateway (this one's included,
// over NATS like the others') and merges them. It waits until every
// gateway known answered, GatherWait at most: those that did not are
// named in Cluster.Missing. If the cluster cannot be reached, it answers
// this gateway's own snapshot.
func (c *Cluster) Snapshot(ctx context.Context, maxMessages int) wire.Snapshot {
	want := c.gateways()
	parts, err := c.gather(ctx, maxMessages, want)
	if err != nil {
		snap := c.b.Snapshot(maxMessages)
		for i := range snap.Sessions {
			snap.Sessions[i].Gateway = c.o.ID
		}
		snap.Cluster = &wire.ClusterInfo{Gateway: c.o.ID, Answered: []string{c.o.ID}, Missing: slices.DeleteFunc(want, func(id string) bool { return id == c.o.ID })}
		return snap
	}
	got := make(map[string]bool, len(parts))
	for _, p := range parts {
		got[p.Gateway] = true
	}
	snap := mergeSnapshots(parts)
	answered, missing := c.answered(got)
	snap.Cluster = &wire.ClusterInfo{Gateway: c.o.ID, Answered: answered, Missing: missing}
	return snap
}

// gather asks every gateway for its snapshot and collects the answers
// until every gateway of want answered, GatherWait passed or ctx ended.
func (c *Cluster) gather(ctx context.Context, maxMessages int, want []string) ([]diagAnswer, error) {
	nc := c.e.nc
	inbox := nc.NewRespInbox()
	ch := make(chan *nats.Msg, 256)
	sub, err := nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	req, _ := json.Marshal(diagRequest{MaxMessages: maxMessages})
	if err := nc.PublishRequest(diagSubject, inbox, req); err != nil {
		return nil, err
	}
	timer := time.NewTimer(c.o.GatherWait)
	defer timer.Stop()
	var parts []diagAnswer
	seen := map[string]bool{}
	for waiting := len(want); waiting > 0; {
		select {
		case m := <-ch:
			var a diagAnswer
			if json.Unmarshal(m.Data, &a) == nil && a.Gateway != "" && !seen[a.Gateway] {
				seen[a.Gateway] = true
				parts = append(parts, a)
				if slices.Contains(want, a.Gateway) {
					waiting--
				}
			}
		case <-timer.C:
			return parts, nil
		case <-ctx.Done():
			return parts, nil
		}
	}
	return parts, nil
}

// mergeSnapshots makes one snapshot of the gateways' parts. A queue the
// cluster holds appears in every part with the same cluster-wide counts:
// those are taken once, while its subscribers and the messages each
// gateway's sessions hold add up. A queue of one gateway's own (a
// transient queue) appears in that gateway's part only.
func mergeSnapshots(parts []diagAnswer) wire.Snapshot {
	snap := wire.Snapshot{Now: time.Now(), Queues: []wire.QueueSnapshot{}, Sessions: []wire.SessionInfo{}}
	byName := map[string]int{}
	for _, p := range parts {
		s := &p.Snapshot
		if snap.Started.IsZero() || s.Started.Before(snap.Started) {
			snap.Started = s.Started
		}
		snap.QueuesOmitted += s.QueuesOmitted
		snap.Sessions = append(snap.Sessions, s.Sessions...)
		for _, q := range s.Queues {
			i, ok := byName[q.Name]
			if !ok {
				byName[q.Name] = len(snap.Queues)
				snap.Queues = append(snap.Queues, q)
				continue
			}
			m := &snap.Queues[i]
			m.Subscribers += q.Subscribers
			m.Alive = m.Alive || q.Alive
			m.EverSubscribed = m.EverSubscribed || q.EverSubscribed
			m.Truncated = m.Truncated || q.Truncated
			if q.LastTransfer.After(m.LastTransfer) {
				m.LastTransfer = q.LastTransfer
			}
			if !q.Durable { // not a cluster queue: each part holds its own
				m.Depth += q.Depth
				m.InFlight += q.InFlight
				m.Bytes += q.Bytes
			}
			m.Messages = append(m.Messages, q.Messages...)
		}
	}
	slices.SortFunc(snap.Queues, func(a, b wire.QueueSnapshot) int { return strings.Compare(a.Name, b.Name) })
	if len(snap.Queues) > wire.MaxSnapshotQueues {
		snap.QueuesOmitted += len(snap.Queues) - wire.MaxSnapshotQueues
		snap.Queues = snap.Queues[:wire.MaxSnapshotQueues]
	}
	slices.SortStableFunc(snap.Sessions, func(a, b wire.SessionInfo) int { return a.Started.Compare(b.Started) })
	if snap.Started.IsZero() {
		snap.Started = snap.Now
	}
	return snap
}
