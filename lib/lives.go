package lib

// Which switch life a client's message ids came from. Ids are only good
// for the life of the switch that gave them out (a restarted switch in
// memory numbers from 1 again), and a request naming messages must not
// reach another life as it is: it would ack or release messages nobody
// has seen. request.go's do checks each attempt of such a request
// against the life its ids came from (request.life). For the ids a
// Transfer took, the client remembers that life per queue here, so that
// an Ack made after the client had already logged in to a restarted
// switch (for another request) still fails with ErrSwitchRestarted
// instead of being carried out there.
//
// What is remembered is the life of the last Transfer that took messages
// of a queue: ids kept from an earlier life while a newer Transfer took
// messages of the same queue are not told apart, and a caller holding
// ids drops them once Epoch changes (doc.go). Ids from Send (for
// Withdraw) and from Peek are not tracked.

import (
	"time"
)

// unknownLife stands for a life that cannot be told (a login came
// between a Transfer and the look at its session): it equals no switch's
// start, so a request naming such ids fails rather than risk another
// life's messages.
var unknownLife = time.Unix(0, 1)

// tookIn records that ds were taken in the session of epoch. c.mu not
// held.
func (c *Client) tookIn(epoch uint64, ds []Delivery) {
	if len(ds) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	life := c.started
	if epoch != c.epoch {
		life = unknownLife
	}
	if life.IsZero() {
		return // a switch that does not say when it started: nothing to tell apart
	}
	if c.lives == nil {
		c.lives = map[string]time.Time{}
	}
	last := ""
	for i := range ds {
		if q := ds[i].Queue; q != last {
			c.lives[q], last = life, q
		}
	}
}

// lifeOf returns the life the ids of acks were taken in: zero if the
// client took none of their queues' messages (nothing to check), and
// unknownLife if they came from different lives.
func (c *Client) lifeOf(acks Acks) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var life time.Time
	for q := range acks {
		l, ok := c.lives[q]
		switch {
		case !ok:
		case life.IsZero():
			life = l
		case !l.Equal(life):
			return unknownLife
		}
	}
	return life
}
