package broker

import "slices"

// Waiting for a name. A transfer waits on the queues its session
// subscribes to; when one of them is destroyed, the transfer is woken to
// look the name up again (a queue of the same name made later is the
// one it polls from then on). If no queue has the name yet, the waiter
// waits for the name instead: creating a queue of that name wakes it.
// Without this, a server polling a queue that was removed and made again
// saw the new queue's messages only when its poll timed out.

// waitForName registers w to be woken when a queue named name is
// created. If one exists already (it was made while w was being
// registered), w is woken at once.
func (b *Broker) waitForName(name string, w *waiter) {
	b.namesMu.Lock()
	if b.nameWaiters == nil {
		b.nameWaiters = map[string][]*waiter{}
	}
	b.nameWaiters[name] = append(b.nameWaiters[name], w)
	b.namesMu.Unlock()
	if _, err := b.lookup(name); err == nil {
		b.wakeName(name)
	}
}

// wakeName wakes every waiter of a name, which a queue now holds.
func (b *Broker) wakeName(name string) {
	b.namesMu.Lock()
	ws := b.nameWaiters[name]
	delete(b.nameWaiters, name)
	b.namesMu.Unlock()
	for _, w := range ws {
		w.wake()
	}
}

// wakeAllNames wakes every waiter of every name (the broker is closing).
func (b *Broker) wakeAllNames() {
	b.namesMu.Lock()
	all := b.nameWaiters
	b.nameWaiters = nil
	b.namesMu.Unlock()
	for _, ws := range all {
		for _, w := range ws {
			w.wake()
		}
	}
}

// forgetName removes w from the waiters of name.
func (b *Broker) forgetName(name string, w *waiter) {
	b.namesMu.Lock()
	defer b.namesMu.Unlock()
	ws := slices.DeleteFunc(b.nameWaiters[name], func(x *waiter) bool { return x == w })
	if len(ws) == 0 {
		delete(b.nameWaiters, name)
	} else {
		b.nameWaiters[name] = ws
	}
}
