package webui_test

import (
	"context"
	"testing"
	"time"

	"msw/lib"
)

// TestPageShowsBindings: the queue table shows the patterns each queue is
// bound to, and those of the live subscriptions on the transient row,
// following binds and unbinds without a reload; the diagram draws a
// publish to its topic, then a send of its copy to each bound queue.
func TestPageShowsBindings(t *testing.T) {
	b := startBrowser(t)
	sw := startSwitch(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	b.load(t, sw.Addr)

	c := client(t, sw.Addr, "binder")
	for _, q := range []string{"archive", "plain"} {
		if err := c.CreateQueue(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Bind(ctx, "archive", "news.>", "news.*.uk"); err != nil {
		t.Fatal(err)
	}
	sub := client(t, sw.Addr, "subscriber")
	live, err := sub.CreateTransient(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Bind(ctx, live, "news.sports.*"); err != nil {
		t.Fatal(err)
	}
	const patterns = `((q) => [...document.querySelectorAll('tr[data-queue="' + q + '"] td.bindings code.pattern')].map((c) => c.textContent).join(" "))`
	b.waitFor(t, "archive's row shows its two patterns, sorted", patterns+`("archive") === "news.*.uk news.>"`)
	b.waitFor(t, "the transient row shows the live subscription's pattern", patterns+`("(1 transient)") === "news.sports.*"`)
	if got := eval[string](t, b, patterns+`("plain")`); got != "" {
		t.Errorf("plain, bound to nothing, shows bindings %q", got)
	}

	n, err := c.Publish(ctx, "news.sports.uk", lib.Message{Payload: []byte("goal")})
	if err != nil || n != 2 {
		t.Fatalf("Publish = %d, %v; want 2 queues", n, err)
	}
	b.waitFor(t, "the diagram draws the publish to its topic's lifeline",
		`[...document.querySelectorAll("#sequence g.arrow title")].some((x) => x.textContent === "publish to 2 queues: goal") &&
		 [...document.querySelectorAll("#sequence .lifeline title")].some((x) => x.textContent === "news.sports.uk")`)
	b.waitFor(t, "the diagram draws the copies sent to archive and to the live subscription",
		`[...document.querySelectorAll("#sequence g.arrow.send title")].filter((x) => x.textContent === "send #1: goal").length === 2`)

	if err := c.Unbind(ctx, "archive", "news.>"); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "archive's row follows the unbind", patterns+`("archive") === "news.*.uk"`)
	b.screenshot(t, "page-bindings")
	b.noProblems(t)
}
