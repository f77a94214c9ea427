package server_test

import (
	"fmt"
	"io"
	"net/http/httptest"
	"testing"

	"msw/broker"
	"msw/internal/wire"
	"msw/server"
)

// BenchmarkMetricsManyQueues scrapes /metrics of a switch holding
// 200,000 queues (the count attack's size): the answer is bounded to the
// deepest MaxSeriesQueues, and building it should cost little more than
// visiting each queue once.
func BenchmarkMetricsManyQueues(b *testing.B) {
	const n = 200000
	br := broker.New(broker.Options{MaxQueues: n + 1, TraceSize: -1})
	for i := 0; i < n; i++ {
		if err := br.CreateQueue(nil, fmt.Sprintf("q%d", i)); err != nil {
			b.Fatal(err)
		}
		if i%97 == 0 {
			br.Send(nil, fmt.Sprintf("q%d", i), make([]wire.Message, i%13+1))
		}
	}
	h := server.New(br, server.Options{Metrics: server.NewMetrics()}).Handler()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "http://127.0.0.1"+wire.PathMetrics, nil))
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
		io.Copy(io.Discard, w.Body)
	}
}
