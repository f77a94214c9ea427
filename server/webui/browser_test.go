package webui_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"msw/broker"
	"msw/internal/switchtest"
	"msw/internal/testutil"
	tailcmd "msw/internal/tool/tail"
	"msw/lib"
	"msw/server"
)

// The browser tests drive the page in real headless Chromium. They skip,
// saying so in one line, where no Chromium is installed (make test says it
// too); .ci/run installs Debian's chromium package first.

// chromiumPath finds the browser: $CHROMIUM, else the usual names on PATH.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser is one headless Chromium tab and what its console said.
type browser struct {
	ctx context.Context

	mu       sync.Mutex
	problems []string // console errors and warnings, uncaught exceptions
}

// startBrowser starts Chromium with a fresh profile, stopped when the test
// ends, or skips the test when there is none.
func startBrowser(t *testing.T) *browser {
	exe := chromiumPath()
	if exe == "" {
		t.Skip("browser test skipped: no Chromium found (apt-get install chromium, or set CHROMIUM)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.WindowSize(1280, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{ctx: ctx}
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", exe, err)
	}
	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			switch m.Type {
			case chromedp.ConsoleError, chromedp.ConsoleWarning, chromedp.ConsoleException:
				b.mu.Lock()
				b.problems = append(b.problems, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// do runs actions in the tab, failing the test on error.
func (b *browser) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until the page shows it.
func (b *browser) waitFor(t *testing.T, what, expr string) {
	t.Helper()
	testutil.Eventually(t, what, func() bool {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		if err != nil {
			t.Fatalf("%s: evaluate %s: %v", what, expr, err)
		}
		return ok
	})
}

// load opens the page of the switch at addr and waits until it is live.
func (b *browser) load(t *testing.T, addr string) {
	t.Helper()
	b.do(t, "load the page", chromedp.Navigate("http://"+addr+"/"))
	b.waitFor(t, "page live", `document.getElementById("status").textContent.startsWith("live")`)
}

// noProblems fails the test if the console reported an error or warning.
func (b *browser) noProblems(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Errorf("browser console: %s", p)
	}
}

// screenshot saves the whole page as a PNG in the artifacts directory:
// $MSW_TEST_ARTIFACTS, or msw-webui-screenshots in the temporary
// directory, kept after the test so that people can look.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	dir := os.Getenv("MSW_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "msw-webui-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// startSwitch runs a switch that samples its history often, so that the
// charts move within the test.
func startSwitch(t *testing.T, writes bool) *switchtest.Switch {
	logger := log.New(testutil.LogWriter(t, "switch: "), "", 0)
	return switchtest.Start(t, "", broker.Options{}, server.Options{Log: logger, HistoryInterval: 50 * time.Millisecond, UIWrites: writes})
}

func client(t *testing.T, addr, id string) *lib.Client {
	return switchtest.Client(t, addr, lib.Options{ClientID: id})
}

// TestPageInChromium loads the page, makes traffic through the library
// and watches every part of the page follow it without a reload.
func TestPageInChromium(t *testing.T) {
	b := startBrowser(t)
	sw := startSwitch(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	b.load(t, sw.Addr)
	eval[chromedp.Void](t, b, `window.loadedOnce = true`) // gone if the page reloads

	// A queue fills: the table and its chart follow.
	producer := client(t, sw.Addr, "producer")
	if err := producer.CreateQueue(ctx, "work"); err != nil {
		t.Fatal(err)
	}
	// Payloads that the exports must render as msw-tail does: characters
	// Mermaid and mscgen give a meaning, a payload longer than a preview,
	// a cut JSON-RPC request, a JSON-RPC error, and bytes that are not text.
	for _, p := range []string{
		`a "quoted" <tag> at 100% #1; back\slash`,
		strings.Repeat("long payload ", 20),
		`{"jsonrpc":"2.0","method":"VM.migrate","params":{"vm":"vm1","destination":"host-with-a-long-name"},"id":3}`,
		`{"jsonrpc":"2.0","error":{"code":-32601,"message":"no such method"},"id":4}`,
		"\x00\x01binary\xff",
	} {
		if _, err := producer.Send(ctx, "work", lib.Message{Payload: []byte(p)}); err != nil {
			t.Fatal(err)
		}
	}
	b.waitFor(t, "queue table shows work at depth 5", `document.querySelector('tr[data-queue="work"] td.depth')?.textContent === "5"`)
	b.waitFor(t, "depth chart of work drawn up to 5",
		`(() => { const s = document.querySelector('tr[data-queue="work"] svg.history'); return s && +s.dataset.maxDepth === 5 && +s.dataset.samples >= 2 && s.querySelector("path.depth") && s.querySelector("path.sent"); })()`)

	// An RPC through the library, and a request nobody serves.
	server := client(t, sw.Addr, "vm-server")
	serveCtx, stopServe := context.WithCancel(ctx)
	defer stopServe()
	if err := server.CreateQueue(ctx, "vm"); err != nil {
		t.Fatal(err)
	}
	go server.Serve(serveCtx, "vm", lib.ServeOptions{}, func(ctx context.Context, req *lib.Request) ([]byte, error) {
		return []byte(`{"jsonrpc":"2.0","result":"started","id":1}`), nil
	})
	caller := client(t, sw.Addr, "caller")
	reply, err := caller.Call(ctx, "vm", []byte(`{"jsonrpc":"2.0","method":"VM.start","params":["vm1"],"id":1}`))
	if err != nil || !strings.Contains(string(reply), "started") {
		t.Fatalf("call: %q, %v", reply, err)
	}
	if err := producer.CreateQueue(ctx, "billing"); err != nil {
		t.Fatal(err)
	}
	if _, err := producer.Send(ctx, "billing", lib.Message{Payload: []byte(`{"method":"Invoice.create","params":{"vm":"vm1"},"id":7}`), CorrelationID: "c7", ReplyTo: "work"}); err != nil {
		t.Fatal(err)
	}

	b.waitFor(t, "services view shows vm running", `document.querySelector('.service[data-queue="vm"][data-state="running"]')`)
	b.waitFor(t, "services view shows billing called but never started, with its request and caller",
		`(() => { const m = document.querySelector('.service[data-queue="billing"][data-state="never_started"] .message'); return m && m.querySelector(".payload").textContent === 'Invoice.create({"vm":"vm1"})' && m.querySelector(".caller").textContent.includes("producer"); })()`)
	b.waitFor(t, "sequence diagram shows the call's reply with its processing time",
		`[...document.querySelectorAll("#sequence g.arrow.reply title")].some((x) => x.textContent.startsWith("reply #1 (took "))`)
	b.waitFor(t, "sequence diagram has the lifelines of the call",
		`["caller", "vm", "vm-server", "billing"].every((n) => [...document.querySelectorAll("#sequence .lifeline title")].some((x) => x.textContent === n))`)
	if n := eval[int](t, b, `document.querySelectorAll("button.danger").length`); n != 0 {
		t.Errorf("read-only page shows %d buttons that change state", n)
	}
	b.screenshot(t, "page-wide")

	// Events of the other kinds, for the exports below: a withdrawal, a
	// queue destroyed, a message given back as its taker's session ends.
	if err := producer.Withdraw(ctx, "billing", 1); err != nil {
		t.Fatal(err)
	}
	if err := producer.CreateQueue(ctx, "scratch"); err != nil {
		t.Fatal(err)
	}
	if err := producer.DestroyQueue(ctx, "scratch", lib.DestroyOptions{}); err != nil {
		t.Fatal(err)
	}
	taker := client(t, sw.Addr, "taker")
	if err := taker.Subscribe(ctx, "work"); err != nil {
		t.Fatal(err)
	}
	if ds, err := taker.Transfer(ctx, lib.TransferOptions{Max: 1, Timeout: 5 * time.Second}); err != nil || len(ds) == 0 {
		t.Fatalf("transfer: %d messages, %v", len(ds), err)
	}
	taker.Close()
	b.waitFor(t, "diagram shows the withdrawal, the destroyed queue and the taker's end",
		`["withdraw #1", "destroy scratch", "give back #1", "session end"].every((l) => [...document.querySelectorAll("#sequence g.arrow title")].some((x) => x.textContent === l))`)

	// Paused, the diagram keeps still while events arrive; resumed, it
	// draws them.
	arrows := `document.querySelectorAll("#sequence g.arrow").length`
	b.do(t, "pause", chromedp.Click(chromedp.CSS("#pause")))
	before := eval[int](t, b, arrows)
	if _, err := producer.Send(ctx, "work", lib.Message{Payload: []byte("while paused")}); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "pause button counts the new event", `document.getElementById("pause").textContent === "Resume (1 new)"`)
	if after := eval[int](t, b, arrows); after != before {
		t.Errorf("paused diagram went from %d to %d arrows", before, after)
	}
	b.do(t, "resume", chromedp.Click(chromedp.CSS("#pause")))
	b.waitFor(t, "resumed diagram draws the event", fmt.Sprintf(`%s === %d`, arrows, before+1))

	// The filter keeps the events of one queue.
	b.do(t, "filter on billing", chromedp.SendKeys(chromedp.CSS("#filter"), "billing"))
	b.waitFor(t, "filtered diagram shows billing's events only",
		`(() => { const names = [...document.querySelectorAll("#sequence .lifeline title")].map((x) => x.textContent); return names.length === 2 && names.includes("billing") && names.includes("producer"); })()`)
	eval[chromedp.Void](t, b, `(() => { const f = document.getElementById("filter"); f.value = ""; f.dispatchEvent(new Event("input")); })()`)

	// The Mermaid export is msw-tail --mermaid of the same events.
	text := eval[string](t, b, `(() => { document.getElementById("export-mermaid").click(); return document.getElementById("export-text").value; })()`)
	n := len(regexp.MustCompile(`(?m)^    p\d+\S+p\d+: `).FindAllString(text, -1))
	var tail strings.Builder
	if code := tailcmd.Run([]string{"-s", sw.Addr, "--mermaid", "--count", fmt.Sprint(n)}, strings.NewReader(""), &tail, io.Discard); code != 0 {
		t.Fatalf("msw-tail --mermaid: exit %d", code)
	}
	if n < 10 || text != tail.String() {
		t.Errorf("page's Mermaid export of %d events differs from msw-tail --mermaid --count %d:\npage:\n%s\nmsw-tail:\n%s", n, n, text, tail.String())
	}
	text = eval[string](t, b, `(() => { document.getElementById("export-mscgen").click(); return document.getElementById("export-text").value; })()`)
	tail.Reset()
	tailcmd.Run([]string{"-s", sw.Addr, "--mscgen", "--count", fmt.Sprint(n)}, strings.NewReader(""), &tail, io.Discard)
	if text != tail.String() {
		t.Errorf("page's mscgen export differs from msw-tail --mscgen --count %d:\npage:\n%s\nmsw-tail:\n%s", n, text, tail.String())
	}
	b.do(t, "close the export", chromedp.Click(chromedp.CSS("#export-close")))

	// On a narrow window the page does not scroll sideways; wide parts
	// scroll inside their boxes.
	b.do(t, "narrow window", chromedp.EmulateViewport(400, 900))
	b.waitFor(t, "page fits a narrow window", `document.documentElement.scrollWidth <= window.innerWidth`)
	b.screenshot(t, "page-narrow")

	// Processing times print with Go's rounding (an exact tie goes to even,
	// where JavaScript's toFixed rounds up), as msw-tail prints them.
	micros := []int64{0, 999, 1000, 1250, 1350, 2750, 999949, 999950, 1000000, 1062500, 61234567}
	got, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](
		fmt.Sprintf(`import("/ui/sequence.js").then((m) => %s.map(m.shortDuration))`, strings.Join(strings.Fields(fmt.Sprint(micros)), ",")),
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	for i, us := range micros {
		d := time.Duration(us) * time.Microsecond
		want := fmt.Sprintf("%dµs", us)
		switch {
		case d >= time.Second:
			want = fmt.Sprintf("%.3fs", d.Seconds())
		case d >= time.Millisecond:
			want = fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
		}
		if i >= len(got) || got[i] != want {
			t.Errorf("page's shortDuration(%dµs) = %q; want %q", us, got, want)
		}
	}

	if !eval[bool](t, b, `window.loadedOnce === true`) {
		t.Error("the page reloaded")
	}
	b.noProblems(t)
}

// TestPageWritesInChromium: with --ui-writes the page destroys a queue
// and acks a message, each after a confirmation.
func TestPageWritesInChromium(t *testing.T) {
	b := startBrowser(t)
	sw := startSwitch(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := client(t, sw.Addr, "sender")
	for _, q := range []string{"doomed", "stuck"} {
		if err := c.CreateQueue(ctx, q); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Send(ctx, q, lib.Message{Payload: []byte("poison"), ReplyTo: q}); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	var asked []string
	dialogs := chromedp.Events(b.ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			mu.Lock()
			asked = append(asked, ev.Message)
			mu.Unlock()
			chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()

	b.do(t, "load the page", chromedp.Navigate("http://"+sw.Addr+"/"))
	b.waitFor(t, "writes badge shown", `!document.getElementById("writes").hidden`)
	b.waitFor(t, "destroy button on doomed", `document.querySelector('tr[data-queue="doomed"] button.danger')`)
	b.do(t, "destroy doomed", chromedp.Click(chromedp.CSS(`tr[data-queue="doomed"] button.danger`)))
	b.waitFor(t, "doomed gone from the table", `document.querySelector('tr[data-queue="stuck"]') && !document.querySelector('tr[data-queue="doomed"]')`)
	if _, err := c.Info(ctx, "doomed"); err == nil {
		t.Error("queue doomed still exists after the page destroyed it")
	}

	b.waitFor(t, "ack button on stuck's request", `document.querySelector('.service[data-queue="stuck"] .message button.danger')`)
	b.do(t, "ack the request", chromedp.Click(chromedp.CSS(`.service[data-queue="stuck"] .message button.danger`)))
	b.waitFor(t, "stuck's request gone", `document.querySelector('tr[data-queue="stuck"] td.depth')?.textContent === "0"`)
	mu.Lock()
	if len(asked) != 2 || !strings.HasPrefix(asked[0], "Destroy queue doomed") || !strings.HasPrefix(asked[1], "Ack message #1 of stuck") {
		t.Errorf("confirmations asked: %q; want one for the destroy, then one for the ack", asked)
	}
	mu.Unlock()
	b.screenshot(t, "page-writes")
	b.noProblems(t)
}

// TestPageFollowsRestart: when the switch restarts on the same address,
// the page drops the old switch's trace and follows the new one's, with
// no reload.
func TestPageFollowsRestart(t *testing.T) {
	b := startBrowser(t)
	first := startSwitch(t, false)
	addr := first.Addr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := client(t, addr, "admin")
	if err := c.CreateQueue(ctx, "before"); err != nil {
		t.Fatal(err)
	}
	b.do(t, "load the page", chromedp.Navigate("http://"+addr+"/"))
	created := func(q string) string {
		return fmt.Sprintf(`[...document.querySelectorAll("#sequence g.arrow title")].some((x) => x.textContent === "create %s")`, q)
	}
	b.waitFor(t, "diagram shows the first switch's queue", created("before"))
	eval[chromedp.Void](t, b, `window.loadedOnce = true`)

	first.Stop()
	b.waitFor(t, "page says the switch is gone", `document.getElementById("status").classList.contains("bad")`)
	logger := log.New(testutil.LogWriter(t, "switch: "), "", 0)
	second := switchtest.Start(t, addr, broker.Options{}, server.Options{Log: logger})
	c2 := client(t, second.Addr, "admin")
	if err := c2.CreateQueue(ctx, "after"); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "diagram shows the new switch's queue only", created("after")+" && !"+created("before"))
	b.waitFor(t, "page live again", `document.getElementById("status").textContent.startsWith("live")`)
	if !eval[bool](t, b, `window.loadedOnce === true`) {
		t.Error("the page reloaded")
	}
}

// TestPageWithoutTrace: against a switch that keeps no trace, the page
// says so instead of asking again and again.
func TestPageWithoutTrace(t *testing.T) {
	b := startBrowser(t)
	logger := log.New(testutil.LogWriter(t, "switch: "), "", 0)
	sw := switchtest.Start(t, "", broker.Options{TraceSize: -1}, server.Options{Log: logger})
	b.do(t, "load the page", chromedp.Navigate("http://"+sw.Addr+"/"))
	b.waitFor(t, "page says there is no trace", `document.getElementById("trace-count").textContent.includes("may keep no trace")`)
	b.waitFor(t, "page live", `document.getElementById("status").textContent.startsWith("live")`)
	b.noProblems(t)
}
