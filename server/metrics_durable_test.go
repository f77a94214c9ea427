package server_test

import (
	"context"
	"testing"

	"msw/broker"
	"msw/broker/logstore"
	"msw/internal/switchtest"
	"msw/lib"
	"msw/server"
)

func TestMetricsShowDurability(t *testing.T) {
	value := func(t *testing.T, addr, name string) float64 {
		t.Helper()
		f := scrape(t, addr)[name]
		if f == nil || len(f.Metric) != 1 {
			t.Fatalf("no single %s in /metrics", name)
		}
		if g := f.Metric[0].GetGauge(); g != nil {
			return g.GetValue()
		}
		return f.Metric[0].GetCounter().GetValue()
	}
	t.Run("memory", func(t *testing.T) {
		addr := startSwitch(t)
		if v := value(t, addr, "msw_durable"); v != 0 {
			t.Fatalf("msw_durable %v without --data", v)
		}
	})
	t.Run("log", func(t *testing.T) {
		st, err := logstore.Open(t.TempDir(), logstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		addr := switchtest.Start(t, "", broker.Options{Store: st}, server.Options{Metrics: server.NewMetrics()}).Addr
		c := newClient(t, addr, "sender")
		if _, err := c.Send(context.Background(), "jobs", lib.Message{Payload: []byte("x")}); err == nil {
			t.Fatal("send to a missing queue accepted")
		}
		if err := c.CreateQueue(context.Background(), "jobs"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Send(context.Background(), "jobs", lib.Message{Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if v := value(t, addr, "msw_durable"); v != 1 {
			t.Fatalf("msw_durable %v with a log", v)
		}
		if v := value(t, addr, "msw_log_bytes"); v < 20 {
			t.Fatalf("msw_log_bytes %v", v)
		}
		if v := value(t, addr, "msw_fsyncs_total"); v < 1 {
			t.Fatalf("msw_fsyncs_total %v after a durable send", v)
		}
		if v := value(t, addr, "msw_last_fsync_seconds"); v <= 0 {
			t.Fatalf("msw_last_fsync_seconds %v after a durable send", v)
		}
		qs, err := c.List(context.Background(), lib.ListOptions{All: true})
		if err != nil || len(qs) != 1 || !qs[0].Durable {
			t.Fatalf("queue list: %+v %v, want jobs durable", qs, err)
		}
	})
}
