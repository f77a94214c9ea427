package broker

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"testing"
)

// The core tests run over every store: first over memory, then, in a
// child run of this same test binary, once over each store registered
// with RegisterTestStore (the log store registers itself from
// logstore_test.go, an external test package, to avoid an import cycle).

// testStoreEnv names the store a child run uses.
const testStoreEnv = "MSW_BROKER_TEST_STORE"

var (
	testStores   = map[string]func(tb testing.TB) Store{}
	currentStore = os.Getenv(testStoreEnv)
)

// RegisterTestStore adds a store the core tests run over. make returns a
// fresh, empty store closed when tb ends.
func RegisterTestStore(name string, make func(tb testing.TB) Store) {
	testStores[name] = make
}

// testStore returns the store of this run, nil for memory.
func testStore(tb testing.TB) Store {
	if currentStore == "" {
		return nil
	}
	make := testStores[currentStore]
	if make == nil {
		tb.Fatalf("no test store %q", currentStore)
	}
	return make(tb)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if code != 0 || currentStore != "" || flag.Lookup("test.bench").Value.String() != "" {
		os.Exit(code)
	}
	for _, name := range slices.Sorted(maps.Keys(testStores)) {
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
