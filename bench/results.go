package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Results is the whole run, as written to results.json.
type Results struct {
	Date    string  `json:"date"`
	Machine Machine `json:"machine"`
	Quick   bool    `json:"quick"`
	Rounds  int     `json:"rounds"`
	Heavy   int     `json:"heavy_rounds"`
	Seconds float64 `json:"seconds"`
	// Complete is false while the run is still going (or was stopped):
	// the rows are those of the scenarios finished so far.
	Complete bool `json:"complete"`
	// Load is the 1-minute load average as the run started; LoadAvg
	// the same as text. Above the number of cores, the run shared the
	// machine and its ratios are indicative only.
	Load    float64 `json:"-"`
	LoadAvg string  `json:"load_average"`
	Rows    []Row   `json:"rows"`
}

// Unit kinds decide formatting and which way is better.
const (
	unitRate    = "msg/s"
	unitCalls   = "calls/s"
	unitLatency = "s"
	unitBytes   = "B"
	unitMBs     = "MB/s"
	unitMiB     = "MiB"
)

// Row is one line of the table: one metric of one scenario, for msw on TCP
// and on a Unix socket and for the reference (NATS, or the scenario's own
// baseline named in RefName, which may then differ by transport).
type Row struct {
	Scenario string `json:"scenario"`
	Metric   string `json:"metric"`
	Unit     string `json:"unit"`
	// Medians of the rounds; NaN (null in JSON) when not measured.
	TCP  float64 `json:"-"`
	Unix float64 `json:"-"`
	Ref  float64 `json:"-"`
	// RefUnix, when measured, is the reference for the Unix figure (a
	// baseline measured on the Unix socket); otherwise Ref serves both.
	RefUnix float64 `json:"-"`
	// RefName names what Ref is: "NATS" or a baseline.
	RefName string `json:"ref_name"`
	// Ratio is TCP/Ref and RatioUnix Unix/RefUnix (or Unix/Ref).
	Ratio     float64 `json:"-"`
	RatioUnix float64 `json:"-"`
	// Target is the ratio or absolute bound the issue asks for, as text,
	// and Met whether the TCP and Unix figures (those measured) reach it.
	Target string `json:"target,omitempty"`
	Met    *bool  `json:"met,omitempty"`
	Note   string `json:"note,omitempty"`
	// Samples are every round's figures, for the curious.
	Samples map[string][]float64 `json:"samples,omitempty"`
	// Paired rows take their ratios as the median of each sample over
	// the reference sample measured next to it (same round), not as the
	// ratio of the medians: scenarios 7 and 8 look for effects of 5-20%
	// on a machine that drifts by more than that within a run, and
	// adjacent pairs share most of the drift.
	Paired bool `json:"paired,omitempty"`

	// check decides whether one figure meets the target given its
	// reference; nil means no target.
	check func(v, ref float64) bool
}

// refFor returns the reference of the figure on a transport.
func (r *Row) refFor(transport string) float64 {
	if transport == "unix" && !math.IsNaN(r.RefUnix) {
		return r.RefUnix
	}
	return r.Ref
}

// finish computes the ratios and the verdict.
func (r *Row) finish() {
	ratio := func(v, ref float64) float64 {
		if math.IsNaN(v) || math.IsNaN(ref) || ref == 0 {
			return math.NaN()
		}
		return v / ref
	}
	r.Ratio = ratio(r.TCP, r.refFor("tcp"))
	r.RatioUnix = ratio(r.Unix, r.refFor("unix"))
	if r.Paired {
		refUnix := "refunix"
		if len(r.Samples[refUnix]) == 0 {
			refUnix = "ref"
		}
		r.Ratio = pairedRatio(r.Samples["tcp"], r.Samples["ref"])
		r.RatioUnix = pairedRatio(r.Samples["unix"], r.Samples[refUnix])
	}
	if r.check == nil {
		return
	}
	measured, met := false, true
	for _, tr := range []string{"tcp", "unix"} {
		v, ref := r.TCP, r.refFor(tr)
		if tr == "unix" {
			v = r.Unix
		}
		if r.Paired {
			v, ref = r.Ratio, 1
			if tr == "unix" {
				v = r.RatioUnix
			}
		}
		if math.IsNaN(v) {
			continue
		}
		measured = true
		met = met && r.check(v, ref)
	}
	if measured {
		r.Met = &met
	}
}

// ratioAtLeast is met when msw/ref >= min.
func ratioAtLeast(min float64) func(v, ref float64) bool {
	return func(v, ref float64) bool { return !math.IsNaN(ref) && v/ref >= min }
}

// ratioAtMost is met when msw/ref <= max.
func ratioAtMost(max float64) func(v, ref float64) bool {
	return func(v, ref float64) bool { return !math.IsNaN(ref) && v/ref <= max }
}

// valueBelow is met when the msw figure is under max.
func valueBelow(max float64) func(v, ref float64) bool {
	return func(v, ref float64) bool { return v < max }
}

// newRow starts a row with nothing measured.
func newRow(scenario, metric, unit, refName string) Row {
	nan := math.NaN()
	return Row{Scenario: scenario, Metric: metric, Unit: unit, RefName: refName,
		TCP: nan, Unix: nan, Ref: nan, RefUnix: nan, Ratio: nan, RatioUnix: nan, Samples: map[string][]float64{}}
}

// add records one round's figure for a system: "tcp" or "unix" (msw),
// "ref" (NATS or the baseline) or "refunix" (the baseline on Unix).
func (r *Row) add(system string, v float64) {
	r.Samples[system] = append(r.Samples[system], v)
	m := median(r.Samples[system])
	switch system {
	case "tcp":
		r.TCP = m
	case "unix":
		r.Unix = m
	case "refunix":
		r.RefUnix = m
	default:
		r.Ref = m
	}
}

// MarshalJSON writes unmeasured figures (NaN) as null.
func (r Row) MarshalJSON() ([]byte, error) {
	num := func(v float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	type row Row // without this method
	var lo, hi map[string]float64
	for sys, xs := range r.Samples {
		if len(xs) == 0 {
			continue
		}
		if lo == nil {
			lo, hi = map[string]float64{}, map[string]float64{}
		}
		lo[sys], hi[sys] = slices.Min(xs), slices.Max(xs)
	}
	return json.Marshal(struct {
		row
		TCP       *float64           `json:"msw_tcp"`
		Unix      *float64           `json:"msw_unix"`
		Ref       *float64           `json:"ref"`
		RefUnix   *float64           `json:"ref_unix,omitempty"`
		Ratio     *float64           `json:"ratio"`
		RatioUnix *float64           `json:"ratio_unix"`
		Min       map[string]float64 `json:"min,omitempty"`
		Max       map[string]float64 `json:"max,omitempty"`
	}{row(r), num(r.TCP), num(r.Unix), num(r.Ref), num(r.RefUnix), num(r.Ratio), num(r.RatioUnix), lo, hi})
}

// pairedRatio is the median of xs[i]/refs[i]; NaN without pairs.
func pairedRatio(xs, refs []float64) float64 {
	var rs []float64
	for i := range min(len(xs), len(refs)) {
		if refs[i] != 0 {
			rs = append(rs, xs[i]/refs[i])
		}
	}
	if len(rs) == 0 {
		return math.NaN()
	}
	return median(rs)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// percentile of sorted durations, p in [0,1].
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func format(v float64, unit string) string {
	if math.IsNaN(v) {
		return "-"
	}
	switch unit {
	case unitLatency:
		d := time.Duration(v * float64(time.Second))
		switch {
		case d < time.Millisecond:
			return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
		case d < time.Second:
			return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
		}
		return fmt.Sprintf("%.2fs", d.Seconds())
	case unitRate, unitCalls:
		suffix := "/s"
		switch {
		case v >= 1e6:
			return fmt.Sprintf("%.2fM%s", v/1e6, suffix)
		case v >= 1e4:
			return fmt.Sprintf("%.1fk%s", v/1e3, suffix)
		}
		return fmt.Sprintf("%.0f%s", v, suffix)
	case unitMBs:
		return fmt.Sprintf("%.1f MB/s", v)
	case unitMiB:
		return fmt.Sprintf("%.1f MiB", v)
	case unitBytes:
		return fmt.Sprintf("%.0f B", v)
	}
	return fmt.Sprintf("%.3g", v)
}

func printTable(w io.Writer, res *Results) {
	mode := "full"
	if res.Quick {
		mode = "quick"
	}
	fmt.Fprintf(w, "msw vs NATS — %s — %d × %s — %s — %s run, %d rounds (%d for 1M-message scenarios), %.0fs — load average %s at the start (%s)\n\n",
		res.Date, res.Machine.NProc, res.Machine.CPU, res.Machine.Go, mode, res.Rounds, res.Heavy, res.Seconds, res.LoadAvg, loadVerdict(res))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tmetric\tmsw tcp\tmsw unix\tNATS / baseline\tratio\ttarget\tmet?\tmin–max tcp; unix; ref\t")
	fmt.Fprintln(tw, "--------\t------\t-------\t--------\t---------------\t-----\t------\t----\t----------------------\t")
	for _, r := range res.Rows {
		ratio := pair(r.Ratio, r.RatioUnix, func(v float64) string { return fmt.Sprintf("%.2f", v) })
		met := ""
		if r.Met != nil {
			met = map[bool]string{true: "yes", false: "NO"}[*r.Met]
		}
		ref := pair(r.Ref, r.RefUnix, func(v float64) string { return format(v, r.Unit) })
		if ref != "-" && r.RefName != "" && r.RefName != "NATS" {
			ref += " (" + r.RefName + ")"
		}
		var spread []string
		for _, sys := range []string{"tcp", "unix", "ref"} {
			spread = append(spread, r.spread(sys))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Scenario, r.Metric,
			format(r.TCP, r.Unit), format(r.Unix, r.Unit), ref, ratio, r.Target, met, strings.Join(spread, "; "))
	}
	tw.Flush()
	for _, r := range res.Rows {
		if r.Note != "" {
			fmt.Fprintf(w, "  %s %s: %s\n", r.Scenario, r.Metric, r.Note)
		}
	}
}

// spread renders the lowest and highest of a system's samples.
func (r *Row) spread(system string) string {
	xs := r.Samples[system]
	if len(xs) == 0 {
		return "-"
	}
	return format(slices.Min(xs), r.Unit) + "–" + format(slices.Max(xs), r.Unit)
}

// pair renders "a" or, when b was measured too, "a / b".
func pair(a, b float64, f func(float64) string) string {
	switch {
	case math.IsNaN(a) && math.IsNaN(b):
		return "-"
	case math.IsNaN(b):
		return f(a)
	case math.IsNaN(a):
		return "- / " + f(b)
	}
	return f(a) + " / " + f(b)
}
