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
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"msw/internal/compattest"
	"msw/internal/testutil"
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
	testscript.Run(t, scriptParams("testdata/script", nil))
}

// scriptParams are the scripts' parameters for the scripts in dir; setup,
// if not nil, adds to each script's environment.
func scriptParams(dir string, setup func(*testscript.Env) error) testscript.Params {
	return testscript.Params{
		Dir: dir,
		Setup: func(env *testscript.Env) error {
			env.Setenv(lib.EnvSwitch, "127.0.0.1:1") // never a real switch by accident
			// Built with -race, every process would otherwise linger a
			// second at exit; the scripts start hundreds.
			env.Setenv("GORACE", "atexit_sleep_ms=0")
			if setup != nil {
				return setup(env)
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"switch-env":  cmdSwitchEnv,
			"waitq":       cmdWaitQueue,
			"exits":       cmdExits,
			"stderr-only": cmdStderrOnly,
			"waitbind":    cmdWaitBind,
		},
	}
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
	var addr string
	if !testutil.Within(waitLimit, func() bool {
		b, err := os.ReadFile(path)
		addr = strings.TrimSpace(string(b))
		return err == nil && strings.HasSuffix(string(b), "\n")
	}) {
		ts.Fatalf("switch did not write %s within %s", args[0], waitLimit)
	}
	ts.Setenv(lib.EnvSwitch, addr)
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
		ts.Fatalf("usage: waitq QUEUE depth=N|depth>=N|inflight=N|subscribers=N|polled|exists|absent ...")
	}
	c, err := lib.New(lib.Options{Addr: ts.Getenv(lib.EnvSwitch), ClientID: "waitq"})
	ts.Check(err)
	var last string
	if !testutil.Within(waitLimit, func() bool {
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
		last = state
		return ok
	}) {
		ts.Fatalf("queue %s: %s not reached within %s; last seen %s", args[0], strings.Join(args[1:], " "), waitLimit, last)
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
	n := 0
	if !testutil.Within(waitLimit, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		bs, berr := c.Bindings(ctx)
		n, err = 0, berr
		for _, b := range bs {
			if b.Pattern == args[0] {
				n++
			}
		}
		return err == nil && n == want
	}) {
		ts.Fatalf("%s: %d queues bound, not %d, within %s (%v)", args[0], n, want, waitLimit, err)
	}
}

func holds(ts *testscript.TestScript, cond string, absent bool, qi lib.QueueInfo) bool {
	switch cond {
	case "exists":
		return !absent
	case "absent":
		return absent
	case "polled": // a receiver has taken from it, or waited for messages
		return !absent && !qi.LastTransfer.IsZero()
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

// stderr-only REGEXP checks that every line the last command wrote to
// stderr matches REGEXP: for a command that may say something expected
// (that it waits for a restarting switch) and must say nothing else.
func cmdStderrOnly(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: stderr-only REGEXP")
	}
	re, err := regexp.Compile(args[0])
	if err != nil {
		ts.Fatalf("stderr-only: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSuffix(ts.ReadFile("stderr"), "\n"), "\n") {
		if line != "" && !re.MatchString(line) {
			ts.Fatalf("stderr-only: line %q does not match %s", line, args[0])
		}
	}
}
