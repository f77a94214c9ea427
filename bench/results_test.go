package main

import (
	"math"
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
