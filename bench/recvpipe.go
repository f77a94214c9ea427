package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// measureRecvPipe drains ingestCount messages with msw-recv -n into a
// pipe read by wc -l, against msw-recv -n writing to a file on the same
// transport: into a pipe msw-recv acknowledges a message only once the
// reader has taken it, which must not cost a bulk drain its speed.
func measureRecvPipe() (Row, error) {
	n := ingestCount()
	row := newRow(fmt.Sprintf("3 drain %s", count(n)), "msw-recv -n | wc -l", unitRate, "> file")
	row.Target, row.check = "pipe/file ≥ 0.8", ratioAtLeast(0.8)
	bin, sw, err := commandSwitch()
	if err != nil {
		return row, err
	}
	defer sw.close()
	out := filepath.Join(cfg.work, "recv.out")
	defer os.Remove(out)
	for round := range cfg.heavy {
		for _, sys := range order(round, "tcp", "unix") {
			for _, into := range []string{"pipe", "file"} {
				q := fmt.Sprintf("recv-%d", queueSeq.Add(1))
				if _, err := mswIngest(sw, sys, q); err != nil {
					return row, err
				}
				recv := fmt.Sprintf("%s -l -n %d %s", filepath.Join(bin, "msw-recv"), n, q)
				script := recv + " | wc -l"
				if into == "file" {
					script = recv + " > " + out + " && wc -l < " + out
				}
				cmd := exec.Command("sh", "-c", script)
				cmd.Env = append(os.Environ(), "MSW_SWITCH="+sw.addr(sys))
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				t0 := time.Now()
				err := cmd.Run()
				d := time.Since(t0)
				// The pipeline's status is wc's: msw-recv's failures show
				// on stderr.
				if err != nil || stderr.Len() > 0 {
					return row, fmt.Errorf("msw-recv %s: %v: %s", into, err, bytes.TrimSpace(stderr.Bytes()))
				}
				if got, _ := strconv.Atoi(strings.TrimSpace(stdout.String())); got != n {
					return row, fmt.Errorf("msw-recv %s: %d lines, want %d", into, got, n)
				}
				sw.b.DestroyQueue(nil, q, false)
				rec := sys
				if into == "file" {
					rec = map[string]string{"tcp": "ref", "unix": "refunix"}[sys]
				}
				row.add(rec, float64(n)/d.Seconds())
				settle()
			}
		}
	}
	return row, nil
}
