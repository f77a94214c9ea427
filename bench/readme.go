package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"strings"
)

// The README's Performance table lies between these two lines, and the
// bench rewrites what is between them (-readme).
const (
	readmeBegin = "<!-- bench table: written by make bench from bench/results.json; edits are lost -->"
	readmeEnd   = "<!-- end of bench table -->"
)

// writeReadme replaces the table between the markers of the file at path
// with the run's headline rows: those with a target.
func writeReadme(path string, res *Results) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	i := bytes.Index(b, []byte(readmeBegin))
	j := bytes.Index(b, []byte(readmeEnd))
	if i < 0 || j < i {
		return fmt.Errorf("%s: no bench table markers (%q … %q)", path, readmeBegin, readmeEnd)
	}
	var t strings.Builder
	t.WriteString(readmeBegin + "\n")
	t.WriteString(readmeTable(res))
	out := append(append(append([]byte{}, b[:i]...), t.String()...), b[j:]...)
	return os.WriteFile(path, out, 0o644)
}

// readmeTable renders the headline rows as Markdown.
func readmeTable(res *Results) string {
	var t strings.Builder
	mode := "full run"
	if res.Quick {
		mode = "quick run (smoke figures, not to be quoted)"
	}
	if !res.Complete {
		mode += ", stopped part-way (the rows of the scenarios it finished)"
	}
	fmt.Fprintf(&t, "Run of %s: %s, %d cores (%s), %s, load average %s at the start (%s).\n",
		res.Date, mode, res.Machine.NProc, res.Machine.CPU, res.Machine.Go, res.LoadAvg, loadVerdict(res))
	t.WriteString("Ratios are msw/reference over TCP / over a Unix socket; \"met\" needs both.\n\n")
	t.WriteString("| scenario | metric | msw TCP | msw Unix | reference | ratio | target | met |\n")
	t.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range res.Rows {
		if r.Target == "" {
			continue
		}
		met := ""
		if r.Met != nil {
			met = map[bool]string{true: "yes", false: "**no**"}[*r.Met]
		}
		ref := pair(r.Ref, r.RefUnix, func(v float64) string { return format(v, r.Unit) })
		if r.RefName != "" {
			ref += " (" + r.RefName + ")"
		}
		fmt.Fprintf(&t, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Scenario, r.Metric,
			format(r.TCP, r.Unit), format(r.Unix, r.Unit), ref,
			pair(r.Ratio, r.RatioUnix, func(v float64) string { return fmt.Sprintf("%.2f", v) }), r.Target, met)
	}
	return t.String()
}

// loadAverage is the machine's 1-minute load average, from /proc/loadavg.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return math.NaN()
	}
	var l float64
	if _, err := fmt.Sscan(string(b), &l); err != nil {
		return math.NaN()
	}
	return l
}

// loadVerdict says whether the machine was quiet enough for the figures
// to be compared: a load above the number of cores means rounds shared
// the CPU with other work.
func loadVerdict(res *Results) string {
	if math.IsNaN(res.Load) {
		return "load unknown"
	}
	if res.Load > float64(res.Machine.NProc) {
		return "a loaded machine: ratios are indicative only"
	}
	return "a quiet machine"
}
