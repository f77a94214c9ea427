package broker_test

import (
	"testing"

	"msw/broker"
	"msw/broker/logstore"
)

func init() {
	broker.RegisterTestStore("log", func(tb testing.TB) broker.Store {
		st, err := logstore.Open(tb.TempDir(), logstore.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { st.Close() })
		return st
	})
}
