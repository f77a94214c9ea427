package tail

import (
	"fmt"
	"path"

	"msw/lib"
)

// selection is --queue and --client: the events msw-tail keeps. Each
// pattern is a name or a glob; none of a kind keeps every event.
type selection struct {
	queues, clients []string
}

// check makes sure every pattern is a good glob.
func (s *selection) check() error {
	for _, ps := range []struct {
		flag string
		pats []string
	}{{"--queue", s.queues}, {"--client", s.clients}} {
		for _, p := range ps.pats {
			if _, err := path.Match(p, ""); err != nil {
				return fmt.Errorf("%s %q: not a name or glob: %v", ps.flag, p, err)
			}
		}
	}
	return nil
}

// keeps says whether ev is selected: of one of the queues, and sent or
// received by one of the clients.
func (s *selection) keeps(ev *lib.TraceEvent) bool {
	return matchAny(s.queues, ev.Queue) && (matchAny(s.clients, ev.From) || (ev.To != "" && matchAny(s.clients, ev.To)))
}

// filter returns the selected events (events itself when all are).
func (s *selection) filter(events []lib.TraceEvent) []lib.TraceEvent {
	if len(s.queues) == 0 && len(s.clients) == 0 {
		return events
	}
	var out []lib.TraceEvent
	for i := range events {
		if s.keeps(&events[i]) {
			out = append(out, events[i])
		}
	}
	return out
}

// matchAny reports whether name matches one of pats; any name does when
// there are none.
func matchAny(pats []string, name string) bool {
	if len(pats) == 0 {
		return true
	}
	for _, p := range pats {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}
