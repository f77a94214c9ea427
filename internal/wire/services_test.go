package wire

import (
	"testing"
	"time"
)

// snapshotAt builds a snapshot taken at now with the given queues and
// sessions.
func snapshotAt(now time.Time, qs []QueueSnapshot, ss []SessionInfo) *Snapshot {
	return &Snapshot{Started: now.Add(-time.Hour), Now: now, Queues: qs, Sessions: ss}
}

func TestDiagnoseClassify(t *testing.T) {
	now := time.Now()
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	req := func(id uint64, age time.Duration, inFlight bool, holder string) MessageInfo {
		return MessageInfo{ID: id, Origin: "caller", EnqueuedAt: ago(age), ReplyTo: "tmp-1", Size: 5, Preview: "hello", InFlight: inFlight, Holder: holder}
	}
	q := func(name string, ever bool, subs int, lastTransfer time.Time, ms ...MessageInfo) QueueSnapshot {
		qs := QueueSnapshot{QueueInfo: QueueInfo{Name: name, Kind: "persistent", Subscribers: subs, LastTransfer: lastTransfer}, EverSubscribed: ever, Messages: ms}
		for _, m := range ms {
			if m.InFlight {
				qs.InFlight++
			} else {
				qs.Depth++
			}
		}
		return qs
	}
	sessions := []SessionInfo{
		{ClientID: "caller", Connections: 1},
		{ClientID: "busy", Connections: 1, Subscribed: []string{"slow"}, LastPoll: ago(time.Minute)},
		{ClientID: "idle", Connections: 1, Subscribed: []string{"quiet"}, LastPoll: ago(50 * time.Second)},
		{ClientID: "fresh", Connections: 1, Subscribed: []string{"ok"}, LastPoll: ago(time.Second)},
		{ClientID: "stopped", Connections: 1, Subscribed: []string{"blocked"}, LastPoll: ago(40 * time.Second)},
	}
	for _, c := range []struct {
		q    QueueSnapshot
		want string
	}{
		{q("empty", false, 0, time.Time{}), ""},
		{q("gone-empty", true, 0, ago(time.Hour)), ""},
		{q("never", false, 0, time.Time{}, req(1, time.Minute, false, "")), ServiceNeverStarted},
		{q("ok", true, 1, ago(time.Second), req(2, time.Minute, true, "fresh")), ServiceRunning},
		{q("quiet", true, 1, ago(50*time.Second)), ServiceRunning}, // a long poll with nothing to take
		{q("slow", true, 1, ago(time.Minute), req(3, 2*time.Minute, true, "busy")), ServiceStuck},
		{q("blocked", true, 1, ago(40*time.Second), req(4, 35*time.Second, false, "")), ServiceStuck},
		{q("fresh-req", true, 1, ago(40*time.Second), req(5, 2*time.Second, false, "")), ServiceRunning},
		{q("dead", true, 0, ago(time.Minute), req(6, time.Minute, false, "")), ServiceGone},
		{q("just-died", true, 0, ago(2*time.Second), req(7, time.Minute, false, "")), ServiceGone},
		{q("work", true, 0, ago(time.Hour), MessageInfo{ID: 8, EnqueuedAt: ago(time.Hour)}), ServiceWorkQueue},
		{q("work-never", false, 0, time.Time{}, MessageInfo{ID: 9, EnqueuedAt: ago(time.Hour)}), ServiceWorkQueue},
		{q("work-taken", true, 1, ago(time.Hour), MessageInfo{ID: 10, EnqueuedAt: ago(time.Hour), InFlight: true, Holder: "busy"}), ServiceWorkQueue},
	} {
		d := Diagnose(snapshotAt(now, []QueueSnapshot{c.q}, sessions), 30*time.Second)
		got, why := "", ""
		if len(d.Services) == 1 {
			got, why = d.Services[0].State, d.Services[0].Reason
		}
		if got != c.want {
			t.Errorf("queue %s: state %q (%s); want %q", c.q.Name, got, why, c.want)
		}
		if idle := len(d.Idle) == 1; idle != (c.want == "") {
			t.Errorf("queue %s: idle %v; want %v", c.q.Name, idle, c.want == "")
		}
	}
}

// TestDiagnoseUncollected: a transient queue holding messages is a reply
// queue nobody collects from, unless it is bound to topics: then it is a
// live subscription.
func TestDiagnoseUncollected(t *testing.T) {
	now := time.Now()
	reply := QueueSnapshot{QueueInfo: QueueInfo{Name: "tmp-1", Kind: KindTransient, Depth: 1}}
	sub := QueueSnapshot{QueueInfo: QueueInfo{Name: "tmp-2", Kind: KindTransient, Depth: 1, Bindings: []string{"news.>"}}}
	d := Diagnose(snapshotAt(now, []QueueSnapshot{reply, sub}, nil), 30*time.Second)
	if len(d.Uncollected) != 1 || d.Uncollected[0] != "tmp-1" {
		t.Errorf("uncollected = %q; want [tmp-1]", d.Uncollected)
	}
}
