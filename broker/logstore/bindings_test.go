package logstore

import (
	"slices"
	"testing"

	"msw/internal/wire"
)

// TestBindingsSurviveRestart: a durable queue's bindings come back after
// a restart, unbinding is recorded too, and a destroyed queue's bindings
// do not return with a queue of its name.
func TestBindingsSurviveRestart(t *testing.T) {
	mfs := newMemFS(1)
	st := mustOpen(t, testDir, Options{Prealloc: testPrealloc, FS: mfs})
	b := newBroker(t, st)
	for _, q := range []string{"keep", "gone"} {
		if err := b.CreateQueue(nil, q); err != nil {
			t.Fatal(err)
		}
		if err := b.Bind(nil, q, []string{"news.>", "sports.*"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Unbind(nil, "keep", []string{"sports.*"}); err != nil {
		t.Fatal(err)
	}
	if err := b.DestroyQueue(nil, "gone", false); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateQueue(nil, "gone"); err != nil {
		t.Fatal(err)
	}
	b.Close()
	st.Close()

	st2 := mustOpen(t, testDir, Options{Prealloc: testPrealloc, FS: mfs.crash()})
	b2 := newBroker(t, st2)
	for q, want := range map[string][]string{"keep": {"news.>"}, "gone": nil} {
		qi, err := b2.Info(q)
		if err != nil || !slices.Equal(qi.Bindings, want) {
			t.Errorf("after restart, %s bindings = %v, %v; want %v", q, qi.Bindings, err, want)
		}
	}
	n, err := b2.Publish(nil, "news.uk", []wire.Message{{Payload: []byte("x")}})
	if err != nil || n != 1 {
		t.Errorf("Publish after restart = %d, %v; want 1", n, err)
	}
}

// TestPublishedTopicSurvivesRestartAndCompaction: a published copy
// replayed after a restart, or rewritten by a compaction, still knows
// the topic it was published to; a sent message still has none.
func TestPublishedTopicSurvivesRestartAndCompaction(t *testing.T) {
	for _, compact := range []bool{false, true} {
		mfs := newMemFS(1)
		st := mustOpen(t, testDir, Options{FS: mfs})
		b := newBroker(t, st)
		if err := b.CreateQueue(nil, "q"); err != nil {
			t.Fatal(err)
		}
		if err := b.Bind(nil, "q", []string{"news.>"}); err != nil {
			t.Fatal(err)
		}
		send(t, b, "q", "plain")
		if _, err := b.Publish(nil, "news.sports.uk", []wire.Message{{Payload: []byte("goal"), CorrelationID: "c1"}, {Payload: []byte("miss")}}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Publish(nil, "news.uk", []wire.Message{{Payload: []byte("rain"), ReplyTo: "r"}}); err != nil {
			t.Fatal(err)
		}
		st2 := crashRestart(t, b, st, mfs, Options{}, compact)
		b2 := newBroker(t, st2)
		ds, err := b2.Peek("q", 10)
		var got []string
		for _, d := range ds {
			got = append(got, string(d.Payload)+"@"+d.Topic+"/"+d.CorrelationID+"/"+d.ReplyTo)
		}
		want := []string{"plain@//", "goal@news.sports.uk/c1/", "miss@news.sports.uk//", "rain@news.uk//r"}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("compact=%v: after restart, q holds %q, %v; want %q", compact, got, err, want)
		}
	}
}
