package lib

import "testing"

// TestJobQueueInOrderAndBounded: a queue that never empties hands jobs
// out in the order they came and does not grow past a few times what it
// holds.
func TestJobQueueInOrderAndBounded(t *testing.T) {
	var q jobQueue
	jobs := make([]*job, 10000)
	for i := range jobs {
		jobs[i] = &job{epoch: uint64(i)}
	}
	next := 0
	for i, j := range jobs {
		q.push(j)
		if i >= 3 { // keep three or four waiting
			if got := q.pop(); got != jobs[next] {
				t.Fatalf("pop %d gave job %d", next, got.epoch)
			}
			next++
		}
		if c := cap(q.jobs); c > 16 {
			t.Fatalf("after %d pushes, holding %d, the queue's slice has grown to %d", i+1, q.len(), c)
		}
	}
	for q.len() > 0 {
		if got := q.pop(); got != jobs[next] {
			t.Fatalf("pop %d gave job %d", next, got.epoch)
		}
		next++
	}
	if next != len(jobs) {
		t.Fatalf("%d jobs out of %d", next, len(jobs))
	}
}
