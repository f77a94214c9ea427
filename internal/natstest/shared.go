package natstest

import (
	"fmt"
	"os"
	"slices"
)

// StartShared runs a cluster of n nodes with the given number of
// accounts (as StartAccounts; 0 for none) that outlives any one test, for
// a whole test run (a TestMain's): stop kills its nodes and removes their
// store directories. An error starting it is returned, not a test failed.
func StartShared(n, accounts int) (c *Cluster, stop func(), err error) {
	o := &owner{}
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(failure)
			if !ok {
				panic(r)
			}
			o.stop()
			c, stop, err = nil, nil, f
		}
	}()
	c = start(o, n, accounts)
	return c, o.stop, nil
}

// owner stands in for a test as the owner of a shared cluster.
type owner struct {
	dirs     []string
	cleanups []func()
}

// failure is how owner.Fatalf ends StartShared, which recovers it.
type failure string

func (f failure) Error() string { return string(f) }

func (o *owner) Helper() {}

// Fatalf panics with a failure: StartShared recovers it; after it
// returned, a failing Kill or Restart ends the run.
func (o *owner) Fatalf(format string, args ...any) {
	panic(failure("natstest: " + fmt.Sprintf(format, args...)))
}

func (o *owner) TempDir() string {
	d, err := os.MkdirTemp("", "natstest")
	if err != nil {
		o.Fatalf("%v", err)
	}
	o.dirs = append(o.dirs, d)
	return d
}

func (o *owner) Cleanup(f func()) { o.cleanups = append(o.cleanups, f) }

func (o *owner) stop() {
	for _, f := range slices.Backward(o.cleanups) {
		f()
	}
	for _, d := range o.dirs {
		os.RemoveAll(d)
	}
}
