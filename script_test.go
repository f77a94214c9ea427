package msw_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"msw/internal/compattest"
	"msw/internal/tool/registry"
	"msw/lib"
)

// TestMain lets the test binary act as every msw command, so scripts run
// the real command bodies as real processes.
func TestMain(m *testing.M) {
	cmds := map[string]func(){}
	for _, t := range registry.Tools {
		cmds[t.Name] = run(t.Run)
	}
	// The original message-switch's clients, for the compat scripts.
	cmds["compat-call"] = run(compatCall)
	cmds["compat-serve"] = run(compatServe)
	testscript.Main(m, cmds)
}

func run(body registry.Body) func() {
	return func() { os.Exit(body(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
}

// compatCall SOCKET QUEUE BODY [TOKEN] calls a service as the original's
// RPC client does, over the compat socket, and prints the response. The
// token (and so the reply queue) is compat-call:PID unless given.
func compatCall(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 3 && len(args) != 4 {
		fmt.Fprintln(stderr, "usage: compat-call SOCKET QUEUE BODY [TOKEN]")
		return 2
	}
	token := "compat-call:" + strconv.Itoa(os.Getpid())
	if len(args) == 4 {
		token = args[3]
	}
	k, err := compattest.NewCaller(args[0], token)
	if err != nil {
		fmt.Fprintln(stderr, "compat-call:", err)
		return 1
	}
	defer k.Close()
	out, err := k.Call(args[1], []byte(args[2]), waitLimit)
	if err != nil {
		fmt.Fprintln(stderr, "compat-call:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", out)
	return 0
}

// compatServe SOCKET QUEUE serves a queue as the original's services do,
// over the compat socket, answering each request upper-cased, until
// SIGINT or SIGTERM.
func compatServe(args []string, _ io.Reader, _, stderr io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintln(stderr, "usage: compat-serve SOCKET QUEUE")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := compattest.Serve(ctx, args[0], "compat-serve:"+strconv.Itoa(os.Getpid()), args[1], 30, bytes.ToUpper); err != nil {
		fmt.Fprintln(stderr, "compat-serve:", err)
		return 1
	}
	return 0
}

// TestScripts runs testdata/script/*.txtar. Each script starts its own
// switch on a free port:
//
//	exec msw-switch --listen 127.0.0.1:0 --ready-file $WORK/addr &switch&
//	switch-env $WORK/addr
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv(lib.EnvSwitch, "127.0.0.1:1") // never a real switch by accident
			// Built with -race, every process would otherwise linger a
			// second at exit; the scripts start hundreds.
			env.Setenv("GORACE", "atexit_sleep_ms=0")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"switch-env": cmdSwitchEnv,
			"waitq":      cmdWaitQueue,
			"exits":      cmdExits,
			"waitbind":   cmdWaitBind,
		},
	})
}

// waitLimit bounds every wait in the scripts.
const waitLimit = 20 * time.Second

// switch-env FILE waits for a switch's --ready-file and points MSW_SWITCH
// at the address in it.
func cmdSwitchEnv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: switch-env FILE")
	}
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(waitLimit)
	for {
		b, err := os.ReadFile(path)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			ts.Setenv(lib.EnvSwitch, strings.TrimSpace(string(b)))
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("switch did not write %s within %s", args[0], waitLimit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// exits CODE PROG [ARGS...] runs a program like exec and checks its exact
// exit status; stdout and stderr are kept for the assertions after it.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited %d; want %d", args[1], got, want)
	}
}

// waitq QUEUE COND... polls the switch until every condition holds for
// the queue: depth=N, depth>=N, inflight=N, subscribers=N, exists, absent.
func cmdWaitQueue(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: waitq QUEUE depth=N|depth>=N|inflight=N|subscribers=N|exists|absent ...")
	}
	c, err := lib.New(lib.Options{Addr: ts.Getenv(lib.EnvSwitch), ClientID: "waitq"})
	ts.Check(err)
	deadline := time.Now().Add(waitLimit)
	var last string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		qi, err := c.Info(ctx, args[0])
		cancel()
		ok, state := true, ""
		absent := lib.IsCode(err, lib.CodeNoSuchQueue)
		if err != nil && !absent {
			ok, state = false, err.Error()
		}
		if err == nil || absent {
			state = fmt.Sprintf("exists=%v depth=%d inflight=%d subscribers=%d", !absent, qi.Depth, qi.InFlight, qi.Subscribers)
			for _, cond := range args[1:] {
				ok = ok && holds(ts, cond, absent, qi)
			}
		}
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			ts.Fatalf("queue %s: %s not reached within %s; last seen %s", args[0], strings.Join(args[1:], " "), waitLimit, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitbind PATTERN N polls the switch until exactly N queues are bound to
// PATTERN.
func cmdWaitBind(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitbind PATTERN N")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	c, err := lib.New(lib.Options{Addr: ts.Getenv(lib.EnvSwitch), ClientID: "waitbind"})
	ts.Check(err)
	deadline := time.Now().Add(waitLimit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		bs, err := c.Bindings(ctx)
		cancel()
		n := 0
		for _, b := range bs {
			if b.Pattern == args[0] {
				n++
			}
		}
		if err == nil && n == want {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s: %d queues bound, not %d, within %s (%v)", args[0], n, want, waitLimit, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func holds(ts *testscript.TestScript, cond string, absent bool, qi lib.QueueInfo) bool {
	switch cond {
	case "exists":
		return !absent
	case "absent":
		return absent
	}
	k, v, ok := strings.Cut(cond, "=")
	n, err := strconv.Atoi(v)
	if !ok || err != nil {
		ts.Fatalf("waitq: bad condition %q", cond)
	}
	if absent {
		return false
	}
	switch k {
	case "depth":
		return qi.Depth == n
	case "depth>":
		return qi.Depth >= n
	case "inflight":
		return qi.InFlight == n
	case "subscribers":
		return qi.Subscribers == n
	}
	ts.Fatalf("waitq: unknown condition %q", cond)
	return false
}
