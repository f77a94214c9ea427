package broker

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// The core tests run over every store: first over memory, then, in a
// child run of this same test binary, once over each store registered
// with RegisterTestStore (the log store registers itself from
// logstore_test.go, an external test package, to avoid an import cycle)
// and once over each engine registered with RegisterTestEngine (the NATS
// engine, from natsengine_test.go, on one in-process cluster for the
// whole child run).

// testStoreEnv names the store a child run uses.
const testStoreEnv = "MSW_BROKER_TEST_STORE"

var (
	testStores   = map[string]func(tb testing.TB) Store{}
	testEngines  = map[string]func() (func(tb testing.TB) Engine, func()){}
	currentStore = os.Getenv(testStoreEnv)
	// makeEngine opens a fresh engine for a test, in a child run over an
	// engine; nil otherwise.
	makeEngine func(tb testing.TB) Engine
)

// testKeepAlive is the keep-alive of the brokers the core tests run over
// an engine: well inside the ack wait the engine is opened with.
const testKeepAlive = time.Second

// RegisterTestStore adds a store the core tests run over. make returns a
// fresh, empty store closed when tb ends.
func RegisterTestStore(name string, make func(tb testing.TB) Store) {
	testStores[name] = make
}

// RegisterTestEngine adds an engine the core tests run over. start is
// called once, before the tests of the child run: it returns make, which
// opens an engine for one test (with no queues, and closed when tb ends),
// and stop, called after the tests.
func RegisterTestEngine(name string, start func() (make func(tb testing.TB) Engine, stop func())) {
	testEngines[name] = start
}

// testStore returns the store of this run, nil for memory or an engine.
func testStore(tb testing.TB) Store {
	if currentStore == "" || makeEngine != nil {
		return nil
	}
	make := testStores[currentStore]
	if make == nil {
		tb.Fatalf("no test store %q", currentStore)
	}
	return make(tb)
}

// testOptions fills in opts' Store or Engine for this run, as the core
// tests' brokers take them.
func testOptions(tb testing.TB, opts Options) Options {
	if makeEngine != nil {
		if opts.Engine == nil && opts.Store == nil {
			opts.Engine, opts.KeepAlive = makeEngine(tb), testKeepAlive
		}
		return opts
	}
	if opts.Store == nil {
		opts.Store = testStore(tb)
		if opts.Store != nil && opts.CacheBytes == 0 {
			opts.CacheBytes = 64 // most payloads are read back from disk
		}
	}
	return opts
}

// skipOnEngine skips the rest of a test in a run over an engine, for a
// reason the engine's documentation gives (docs/scale-out.md).
func skipOnEngine(tb testing.TB, why string) {
	tb.Helper()
	if makeEngine != nil {
		tb.Skipf("over the %s engine: %s (docs/scale-out.md)", currentStore, why)
	}
}

func TestMain(m *testing.M) {
	if start := testEngines[currentStore]; start != nil {
		make, stop := start()
		makeEngine = make
		code := m.Run()
		stop()
		os.Exit(code)
	}
	code := m.Run()
	if code != 0 || currentStore != "" || flag.Lookup("test.bench").Value.String() != "" {
		os.Exit(code)
	}
	names := slices.Sorted(maps.Keys(testStores))
	names = append(names, slices.Sorted(maps.Keys(testEngines))...)
	for _, name := range names {
		fmt.Printf("=== the core tests over the %s store\n", name)
		cmd := exec.Command(os.Args[0], os.Args[1:]...)
		cmd.Env = append(os.Environ(), testStoreEnv+"="+name)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Printf("the core tests over the %s store: %v\n", name, err)
			os.Exit(1)
		}
	}
	os.Exit(0)
}
