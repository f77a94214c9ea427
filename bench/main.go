// Command bench measures msw against NATS on this machine, in one run:
// each scenario alternates msw (loopback TCP and Unix socket) and NATS
// rounds in the same process and reports the median of the rounds and the
// ratio msw/NATS (or msw against the scenario's own baseline). See
// NOTES.md for what each scenario does and what the numbers showed.
//
//	go run . [-quick] [-run REGEX] [-out results.json]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

// config is what the flags chose.
type config struct {
	quick   bool
	rounds  int // rounds of the cheap scenarios
	heavy   int // rounds of the 1,000,000-message scenarios
	rpcTime time.Duration
	systems map[string]bool // "tcp", "unix", "nats"
	// pollersInProc runs scenario 8's idle pollers in this process.
	pollersInProc bool
	work          string // temporary directory of this run
	bin           string // where the msw binaries were built
	root          string // the msw module's directory
}

func (c *config) on(system string) bool { return c.systems[system] }

var cfg config

func main() {
	var (
		quick      = flag.Bool("quick", false, "smoke run: fewer messages, fewer rounds")
		runRE      = flag.String("run", "", "run only scenarios whose id or name matches this `regexp`")
		out        = flag.String("out", "", "write the results as JSON to this `file`")
		rounds     = flag.Int("rounds", 0, "rounds per scenario (default 5, heavy scenarios 3; -quick 2)")
		rpcTime    = flag.Duration("rpc-time", 0, "length of one RPC measurement (default 1s; -quick 300ms)")
		systems    = flag.String("systems", "tcp,unix,nats", "comma-separated `list` of tcp, unix, nats to measure")
		cpuprofile = flag.String("cpuprofile", "", "write a CPU profile of the whole run to `file`")
		memprofile = flag.String("memprofile", "", "write an allocation profile at the end of the run to `file`")
		root       = flag.String("root", "..", "`directory` of the msw module (for building its commands)")
		natsPend   = flag.Int("nats-pending", 4000, "asynchronous JetStream publishes in flight")
		natsIngest = flag.String("nats-ingest", "batch", "how NATS ingests: `batch` (fast batch publish) or async (PublishAsync)")
		pollersIn  = flag.Bool("pollers-inproc", false, "run scenario 8's idle pollers in this process, not a child")
		pollChild  = flag.String("pollers-child", "", "internal: run idle pollers `ADDR,PREFIX,N` until stdin closes")
		natsChild  = flag.String("nats-child", "", "internal: run an embedded NATS server with its store in `dir`")
		clientKid  = flag.String("client-child", "", "internal: run one client job in this process, `OP,SYSTEM,ADDR,NAME,N[,DUR]`")
		holdChild  = flag.String("hold-child", "", "internal: take messages without acking them until killed, `SYSTEM,ADDR,NAME`")
		readme     = flag.String("readme", "", "rewrite the Performance table of this README `file` from the results")
	)
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench: ")
	if *natsChild != "" {
		runNATSChild(*natsChild)
		return
	}
	if *clientKid != "" {
		runClientChildMode(*clientKid)
		return
	}
	if *holdChild != "" {
		runHoldChild(*holdChild)
		return
	}
	if *pollChild != "" {
		runPollersChild(*pollChild)
		return
	}
	cfg.pollersInProc = *pollersIn
	natsPublishPending = *natsPend
	natsAsyncIngest = *natsIngest == "async"
	cfg.quick = *quick
	cfg.rounds, cfg.heavy = 5, 3
	cfg.rpcTime = time.Second
	if *quick {
		cfg.rounds, cfg.heavy = 2, 1
		cfg.rpcTime = 300 * time.Millisecond
	}
	if *rounds > 0 {
		cfg.rounds, cfg.heavy = *rounds, *rounds
	}
	if *rpcTime > 0 {
		cfg.rpcTime = *rpcTime
	}
	cfg.systems = map[string]bool{}
	for _, s := range strings.Split(*systems, ",") {
		cfg.systems[strings.TrimSpace(s)] = true
	}
	var re *regexp.Regexp
	if *runRE != "" {
		var err error
		if re, err = regexp.Compile(*runRE); err != nil {
			log.Fatalf("-run: %v", err)
		}
	}
	var err error
	if cfg.root, err = filepath.Abs(*root); err != nil {
		log.Fatal(err)
	}
	if cfg.work, err = os.MkdirTemp("", "msw-bench-"); err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(cfg.work)

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	start := time.Now()
	res := &Results{
		Date:    start.UTC().Format(time.RFC3339),
		Machine: machine(),
		Quick:   cfg.quick,
		Rounds:  cfg.rounds,
		Heavy:   cfg.heavy,
		Load:    loadAverage(),
	}
	res.LoadAvg = fmt.Sprintf("%.2f", res.Load)
	fmt.Fprintf(os.Stderr, "bench: %s, %d cores, %s, %s\n", res.Machine.CPU, res.Machine.NProc, res.Machine.Go, map[bool]string{true: "quick", false: "full"}[cfg.quick])
	for _, sc := range scenarios {
		if re != nil && !re.MatchString(sc.id) && !re.MatchString(sc.name) {
			continue
		}
		t0 := time.Now()
		fmt.Fprintf(os.Stderr, "bench: scenario %s: %s\n", sc.id, sc.name)
		rows, err := sc.run()
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: scenario %s: %v\n", sc.id, err)
			r := newRow(sc.id+" "+sc.name, "", "", "")
			r.Note = "not run: " + err.Error()
			rows = append(rows, r)
		}
		for i := range rows {
			rows[i].finish()
		}
		res.Rows = append(res.Rows, rows...)
		fmt.Fprintf(os.Stderr, "bench: scenario %s done in %s\n", sc.id, time.Since(t0).Round(time.Millisecond))
		// Saved after every scenario: a run stopped part-way (a loaded
		// machine makes a full one long) keeps what it measured.
		res.Seconds = time.Since(start).Seconds()
		save(res, *out, *readme)
	}
	res.Complete = true
	res.Seconds = time.Since(start).Seconds()
	printTable(os.Stdout, res)
	save(res, *out, *readme)
	if *memprofile != "" {
		f, err := os.Create(*memprofile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.Lookup("allocs").WriteTo(f, 0)
		f.Close()
	}
}

// save writes the results to out and the README table to readme, where
// given.
func save(res *Results, out, readme string) {
	if out != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	if readme != "" {
		if err := writeReadme(readme, res); err != nil {
			log.Fatal(err)
		}
	}
}

// scenario is one numbered scenario of the issue.
type scenario struct {
	id, name string
	run      func() ([]Row, error)
}

var scenarios = []scenario{
	{"1", "rpc round trip", scenarioRPC},
	{"2", "ingest", scenarioIngest},
	{"3", "drain", scenarioDrain},
	{"4", "fan-in", scenarioFanIn},
	{"5", "memory", scenarioMemory},
	{"6", "exec serving", scenarioExec},
	{"7", "trace cost", scenarioTrace},
	{"8", "idle pollers", scenarioIdle},
	{"9", "durable ingest", scenarioDurable},
	{"10", "durable backlog", scenarioBacklog},
	// Issue 15: the scenarios users run.
	{"11", "rpc with a blocking handler", scenarioRPCBlocking},
	{"12", "rpc payload sizes", scenarioPayloads},
	{"13", "per-message producers", scenarioProducers},
	{"14", "steady state", scenarioSteady},
	{"15", "redelivery", scenarioRedelivery},
	{"16", "clients in separate processes", scenarioProcs},
	{"17", "many queues", scenarioManyQueues},
	// Issue 12: publish to topics bound by many queues.
	{"18", "fan-out", scenarioFanOut},
	// Issue 16: msw-switch as gateways over a JetStream cluster.
	{"19", "gateway", scenarioGateway},
}

// Machine says where the numbers came from.
type Machine struct {
	NProc int    `json:"nproc"`
	CPU   string `json:"cpu"`
	Go    string `json:"go"`
}

func machine() Machine {
	m := Machine{NProc: runtime.NumCPU(), Go: runtime.Version(), CPU: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// buildCommands builds the msw commands once per run, into the work
// directory, from the msw module at cfg.root.
func buildCommands() (string, error) {
	if cfg.bin != "" {
		return cfg.bin, nil
	}
	dir := filepath.Join(cfg.work, "bin")
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/msw-switch", "./cmd/msw-send", "./cmd/msw-serve", "./cmd/msw-call", "./cmd/msw-recv")
	cmd.Dir = cfg.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building msw commands: %v\n%s", err, out)
	}
	cfg.bin = dir
	return dir, nil
}
