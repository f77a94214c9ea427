package webui_test

import (
	"context"
	"log"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"msw/broker"
	"msw/internal/switchtest"
	"msw/internal/testutil"
	"msw/lib"
	"msw/server"
)

// TestPageWithToken: on a switch with a token, the page asks for it
// (401 naming /?token=); opened once as /?token=TOKEN it lands on / with
// the token gone from the address, and reads the switch as usual.
func TestPageWithToken(t *testing.T) {
	b := startBrowser(t)
	const token = "browser-token-0123456789"
	logger := log.New(testutil.LogWriter(t, "switch: "), "", 0)
	sw := switchtest.Start(t, "", broker.Options{}, server.Options{Log: logger, Token: token, HistoryInterval: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := switchtest.Client(t, sw.Addr, lib.Options{Token: token})
	if err := c.CreateQueue(ctx, "guarded"); err != nil {
		t.Fatal(err)
	}

	b.do(t, "load the page without the token", chromedp.Navigate("http://"+sw.Addr+"/"))
	if body := eval[string](t, b, `document.body.innerText`); !strings.Contains(body, "/?token=TOKEN") {
		t.Errorf("the page without the token says %q; want it to ask for /?token=", body)
	}
	b.mu.Lock()
	b.problems = nil // the 401 itself is logged as a failed load
	b.mu.Unlock()

	b.do(t, "load the page with the token", chromedp.Navigate("http://"+sw.Addr+"/?token="+token))
	b.waitFor(t, "page live", `document.getElementById("status").textContent.startsWith("live")`)
	b.waitFor(t, "the queue listed", `document.body.innerText.includes("guarded")`)
	if loc := eval[string](t, b, `location.href`); strings.Contains(loc, token) {
		t.Errorf("the token stays in the address bar: %s", loc)
	}
	if cookies := eval[string](t, b, `document.cookie`); strings.Contains(cookies, token) {
		t.Errorf("the page's scripts can read the token: %q", cookies)
	}
	// The browser asks for /favicon.ico after the first, refused, load
	// too, and may log that 401 late: the only refusal allowed.
	b.mu.Lock()
	b.problems = slices.DeleteFunc(b.problems, func(p string) bool {
		return strings.Contains(p, "401") && strings.Contains(p, "/favicon.ico")
	})
	b.mu.Unlock()
	b.noProblems(t)
}
