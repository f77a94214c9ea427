package main

import (
	"math"
	"os"
	"strings"
	"testing"
)

func TestPairedRatioFollowsPairsNotMedians(t *testing.T) {
	// The machine speeds up through the run; each pair costs the
	// measured thing 5%. The ratio of medians would see 0.95 only by
	// luck; the paired ratio sees it whatever the drift.
	r := newRow("7", "x", unitCalls, "off")
	r.Paired = true
	r.check = ratioAtLeast(0.95)
	for _, base := range []float64{100, 160, 90, 200, 120} {
		r.add("ref", base)
		r.add("tcp", base*0.95)
		r.add("refunix", base*1.1)
		r.add("unix", base*1.1*0.96)
	}
	r.finish()
	if math.Abs(r.Ratio-0.95) > 1e-9 || math.Abs(r.RatioUnix-0.96) > 1e-9 {
		t.Fatalf("paired ratios %v / %v, want 0.95 / 0.96", r.Ratio, r.RatioUnix)
	}
	if r.Met == nil || !*r.Met {
		t.Fatalf("met = %v, want true", r.Met)
	}
	if got := pairedRatio(nil, []float64{1}); !math.IsNaN(got) {
		t.Errorf("no pairs: %v, want NaN", got)
	}
}

func TestReadmeTableReplacedBetweenMarkers(t *testing.T) {
	path := t.TempDir() + "/README.md"
	before := "# x\n\nintro\n\n" + readmeBegin + "\nold table\n" + readmeEnd + "\n\nafter\n"
	if err := os.WriteFile(path, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newRow("1 rpc", "64 caller(s) calls/s", unitCalls, "NATS")
	r.check, r.Target = ratioAtLeast(1), "msw/NATS ≥ 1"
	r.add("tcp", 120)
	r.add("ref", 100)
	r.finish()
	untargeted := newRow("4 fan-in", "x", unitRate, "NATS")
	res := &Results{Date: "2026-12-01T14:00:00Z", Machine: Machine{NProc: 2, CPU: "cpu", Go: "go1.26"},
		Load: 17.5, LoadAvg: "17.50", Complete: true, Rows: []Row{r, untargeted}}
	if err := writeReadme(path, res); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	got := string(b)
	for _, want := range []string{"intro\n\n" + readmeBegin + "\n", "load average 17.50", "a loaded machine",
		"| 1 rpc | 64 caller(s) calls/s | 120/s | - | 100/s (NATS) | 1.20 | msw/NATS ≥ 1 | yes |", readmeEnd + "\n\nafter\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("README lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "old table") || strings.Contains(got, "4 fan-in") {
		t.Errorf("README keeps the old table or a row without a target:\n%s", got)
	}
	if err := os.WriteFile(path, []byte("no markers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReadme(path, res); err == nil {
		t.Error("a README without markers: no error")
	}
}
