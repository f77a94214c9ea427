package server

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"msw/broker"
	"msw/internal/natstest"
)

// The protocol tests that start a switch with startSwitch run twice: over
// the memory switch, then, in a child run of this test binary (of those
// tests alone), over the NATS engine on one in-process cluster of three
// nodes for the whole run, each test's switch a gateway on a NATS account
// of its own.

// testEngineEnv is set in the child run over the NATS engine.
const testEngineEnv = "MSW_SERVER_TEST_ENGINE"

// engineURL returns the cluster URL for the next test, in the child run;
// nil otherwise.
var engineURL func() string

// testEngineAccounts is how many accounts the shared cluster has; tests
// past that many share them, with their queues deleted between.
const testEngineAccounts = 64

func TestMain(m *testing.M) {
	if os.Getenv(testEngineEnv) != "" {
		c, stop, err := natstest.StartShared(3, testEngineAccounts)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		engineURL = c.NextAccountURL
		code := m.Run()
		stop()
		os.Exit(code)
	}
	code := m.Run()
	if code != 0 || isBench() || len(switchTests) == 0 {
		os.Exit(code)
	}
	fmt.Println("=== the protocol tests over the nats engine")
	args := []string{"-test.run=^(" + strings.Join(slices.Sorted(maps.Keys(switchTests)), "|") + ")$"}
	for _, a := range os.Args[1:] {
		if !strings.HasPrefix(a, "-test.run=") {
			args = append(args, a)
		}
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), testEngineEnv+"=nats")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Printf("the protocol tests over the nats engine: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// switchTests are the tests that started a switch with startSwitch in
// the run over memory: those the child run reruns over the engine.
var (
	switchTestsMu sync.Mutex
	switchTests   = map[string]bool{}
)

// isBench reports whether the run is a benchmark run.
func isBench() bool {
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-test.bench=") {
			return true
		}
	}
	return false
}

// engineOptions gives opts an engine in the run over one: a gateway on
// the shared cluster whose queues are deleted when the test ends.
func engineOptions(tb testing.TB, opts broker.Options) broker.Options {
	if opts.Engine != nil || opts.Store != nil {
		return opts
	}
	if engineURL == nil {
		switchTestsMu.Lock()
		switchTests[strings.Split(tb.Name(), "/")[0]] = true
		switchTestsMu.Unlock()
		return opts
	}
	e := natstest.OpenGateway(tb, engineURL())
	opts.Engine, opts.KeepAlive = e, time.Second
	return opts
}

// skipOnEngine skips the rest of a test in the run over the NATS engine,
// for a reason docs/scale-out.md gives.
func skipOnEngine(tb testing.TB, why string) {
	tb.Helper()
	if engineURL != nil {
		tb.Skipf("over the nats engine: %s (docs/scale-out.md)", why)
	}
}
