package wire

import (
	"fmt"
	"slices"
	"time"
)

// DefaultStale is how long a service may go without polling before the
// diagnosis calls it crashed or deadlocked.
const DefaultStale = 30 * time.Second

// Service states, as Service.State gives them.
const (
	ServiceRunning      = "running"       // polled recently, or its servers wait for work
	ServiceNeverStarted = "never_started" // requests queued, nobody ever subscribed
	ServiceStuck        = "stuck"         // crashed or deadlocked
	ServiceGone         = "gone"          // requests queued, the servers' sessions ended
	ServiceWorkQueue    = "work"          // messages no one waits a reply to (msw-send, msw-recv)
)

// Service is a persistent queue that has a server or messages waiting,
// with the group it falls in: an RPC service, or a work queue when the
// messages it holds expect no reply.
type Service struct {
	Queue  string `json:"queue"`
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"` // why, in words
	// Servers are the client ids of the sessions subscribed to the queue.
	Servers []string `json:"servers,omitempty"`
	// Callers says, for each message the snapshot lists for the queue and
	// in the same order, whether whoever waits for its reply still does.
	Callers []string `json:"callers"`
}

// Services is the diagnosis of a snapshot: what msw-diag explains, and
// what GET /v1/diagnostics?stale_ms=N adds to its answer.
type Services struct {
	// StaleMillis is the threshold used: a service nobody has polled for
	// longer is called crashed or deadlocked.
	StaleMillis int64 `json:"stale_ms"`
	// Services lists running, never started and stuck services, in the
	// snapshot's (name) order.
	Services []Service `json:"services"`
	// Idle names the persistent queues with no server and nothing queued.
	Idle []string `json:"idle"`
	// Uncollected names the reply queues holding replies nobody took.
	Uncollected []string `json:"uncollected"`
}

// Diagnose groups a snapshot's queues into services: running, called but
// never started, or crashed or deadlocked (nobody has polled for longer
// than stale).
func Diagnose(snap *Snapshot, stale time.Duration) *Services {
	d := diagnosis{snap: snap, stale: stale, queues: map[string]*QueueSnapshot{}, byClient: map[string][]*SessionInfo{}}
	for i := range snap.Queues {
		d.queues[snap.Queues[i].Name] = &snap.Queues[i]
	}
	for i := range snap.Sessions {
		s := &snap.Sessions[i]
		d.byClient[s.ClientID] = append(d.byClient[s.ClientID], s)
	}
	out := &Services{StaleMillis: stale.Milliseconds(), Services: []Service{}, Idle: []string{}, Uncollected: []string{}}
	for i := range snap.Queues {
		q := &snap.Queues[i]
		if q.Kind == KindTransient {
			// A bound one is a live subscription (msw-sub), not a reply
			// queue: what it holds is on its way to its reader.
			if q.Depth > 0 && len(q.Bindings) == 0 {
				out.Uncollected = append(out.Uncollected, q.Name)
			}
			continue
		}
		st, why := d.classify(q)
		if st != "" && isWorkQueue(q) {
			st, why = ServiceWorkQueue, d.consumers(q)
		}
		if st == "" {
			out.Idle = append(out.Idle, q.Name)
			continue
		}
		svc := Service{Queue: q.Name, State: st, Reason: why, Callers: make([]string, len(q.Messages))}
		for _, s := range d.servers(q.Name) {
			svc.Servers = append(svc.Servers, s.ClientID)
		}
		for i, m := range q.Messages {
			svc.Callers[i] = d.callerState(m)
		}
		out.Services = append(out.Services, svc)
	}
	return out
}

// diagnosis holds a snapshot and its indexes while Diagnose reads it.
type diagnosis struct {
	snap     *Snapshot
	stale    time.Duration
	queues   map[string]*QueueSnapshot
	byClient map[string][]*SessionInfo
}

// ago says how long before the snapshot t was.
func (d *diagnosis) ago(t time.Time) string {
	return AgeWords(d.snap.Now.Sub(t)) + " ago"
}

// servers returns the sessions subscribed to a queue.
func (d *diagnosis) servers(queue string) []*SessionInfo {
	var out []*SessionInfo
	for i := range d.snap.Sessions {
		if slices.Contains(d.snap.Sessions[i].Subscribed, queue) {
			out = append(out, &d.snap.Sessions[i])
		}
	}
	return out
}

// lastPoll is the latest poll of a queue by anyone.
func (d *diagnosis) lastPoll(q *QueueSnapshot) time.Time {
	t := q.LastTransfer
	for _, s := range d.servers(q.Name) {
		if s.LastPoll.After(t) {
			t = s.LastPoll
		}
	}
	return t
}

// clientPoll is the latest poll of any session of a client.
func (d *diagnosis) clientPoll(clientID string) (time.Time, bool) {
	var t time.Time
	ss := d.byClient[clientID]
	for _, s := range ss {
		if s.LastPoll.After(t) {
			t = s.LastPoll
		}
	}
	return t, len(ss) > 0
}

func (d *diagnosis) recent(t time.Time) bool {
	return !t.IsZero() && d.snap.Now.Sub(t) <= d.stale
}

// classify puts a persistent queue in its group ("" for an idle queue). A
// server in a long poll polls only when its wait ends, so a subscribed
// queue with nothing waiting is running however long ago the poll began;
// it is stuck when a message has waited past the threshold with nobody
// polling, or when the server holding a message has not polled since
// longer than that.
func (d *diagnosis) classify(q *QueueSnapshot) (string, string) {
	held := len(q.Messages) > 0 || q.Depth+q.InFlight > 0
	polled := d.lastPoll(q)
	switch {
	case q.Subscribers == 0 && !held:
		return "", ""
	case !q.EverSubscribed && q.Subscribers == 0:
		return ServiceNeverStarted, ""
	case q.Subscribers == 0:
		// Its servers' sessions have ended: they stopped or died (a
		// process killed is noticed once the session grace has passed).
		if polled.IsZero() {
			return ServiceGone, "no server subscribed now, and none ever polled"
		}
		return ServiceGone, "no server subscribed now; last poll " + d.ago(polled)
	}
	for _, m := range q.Messages {
		if m.InFlight {
			if t, alive := d.clientPoll(m.Holder); alive && !d.recent(t) {
				if t.IsZero() {
					return ServiceStuck, fmt.Sprintf("#%d is held by %s, which never polled since", m.ID, m.Holder)
				}
				return ServiceStuck, fmt.Sprintf("#%d is held by %s, which last polled %s", m.ID, m.Holder, d.ago(t))
			}
		} else if d.snap.Now.Sub(m.EnqueuedAt) > d.stale && !d.recent(polled) {
			if polled.IsZero() {
				return ServiceStuck, fmt.Sprintf("#%d has waited %s and no server has polled", m.ID, AgeWords(d.snap.Now.Sub(m.EnqueuedAt)))
			}
			return ServiceStuck, fmt.Sprintf("#%d has waited %s; last poll %s", m.ID, AgeWords(d.snap.Now.Sub(m.EnqueuedAt)), d.ago(polled))
		}
	}
	if polled.IsZero() {
		return ServiceRunning, "not polled yet"
	}
	if !held {
		return ServiceRunning, "waiting for requests; last poll " + d.ago(polled)
	}
	return ServiceRunning, "last poll " + d.ago(polled)
}

// isWorkQueue says whether a queue is a work queue: it holds messages,
// and none of those the snapshot lists expects a reply.
func isWorkQueue(q *QueueSnapshot) bool {
	if len(q.Messages) == 0 {
		return false
	}
	for _, m := range q.Messages {
		if m.ReplyTo != "" {
			return false
		}
	}
	return true
}

// consumers says who takes a work queue's messages, in words.
func (d *diagnosis) consumers(q *QueueSnapshot) string {
	if q.Subscribers == 0 {
		return "no consumer now"
	}
	polled := d.lastPoll(q)
	if polled.IsZero() {
		return CountOf(int64(q.Subscribers), "consumer", "consumers")
	}
	return CountOf(int64(q.Subscribers), "consumer", "consumers") + "; last poll " + d.ago(polled)
}

// callerState says whether anyone still waits for a request's reply.
func (d *diagnosis) callerState(m MessageInfo) string {
	if m.ReplyTo == "" {
		return "none: no reply expected"
	}
	_, originAlive := d.byClient[m.Origin]
	rq := d.queues[m.ReplyTo]
	switch {
	case rq == nil:
		if originAlive {
			return fmt.Sprintf("%s is connected, but its reply queue %s is gone: the reply has nowhere to go", m.Origin, m.ReplyTo)
		}
		return fmt.Sprintf("gone (its reply queue %s no longer exists)", m.ReplyTo)
	case rq.Kind == KindTransient:
		who := rq.Owner
		if who == "" {
			who = m.Origin
		}
		for _, s := range d.byClient[rq.Owner] {
			if s.Connections == 0 {
				return fmt.Sprintf("%s waiting on %s, but it has no connection left (it may have gone)", who, m.ReplyTo)
			}
		}
		return fmt.Sprintf("%s waiting (reply queue %s)", who, m.ReplyTo)
	case originAlive:
		return fmt.Sprintf("%s waiting (replies go to queue %s)", m.Origin, m.ReplyTo)
	default:
		return fmt.Sprintf("gone (the reply will wait in queue %s)", m.ReplyTo)
	}
}
