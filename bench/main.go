// Command bench measures what Switchboard adds to a request, against the
// floor of a bare reverse proxy, on this machine, in one run.
//
// It starts on 127.0.0.1 a mock upstream speaking OpenAI chat completions
// (answers encoded once, no delay), the standard library's
// httputil.ReverseProxy to it with a pooled transport, and the real
// `switchboard serve`, built from this checkout, with -endpoints endpoints
// of one model all pointing at the mock. Each is its own process, so each
// one's CPU time is read from /proc. A closed-loop load generator then
// drives the mock directly, the bare proxy and Switchboard in turn, with
// the same requests, streamed and not: at one client for latency, at -c
// clients for throughput. Runs are interleaved and repeated; the report
// gives medians and their spread.
//
//	go run ./bench                 # from the repository's root
//	go run ./bench -reps 5 -duration 10s -modes stream
//	go run ./bench -cluster        # also Switchboard in a fleet of two, through Redis
//
// With -cluster it also starts redis-server and a fleet of two replicas
// of Switchboard linked through it, and measures one of them as a fourth
// target, beside the same Switchboard alone (cluster.go says how).
//
// Every answer is checked whole; any error fails the run. BENCHMARKS.md
// says how to read the table.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the command's flags.
type options struct {
	duration  time.Duration
	warmup    time.Duration
	reps      int
	endpoints int
	conc      int
	words     int // in every answer
	modes     []mode
	bin       string
	base      string // a second Switchboard binary, measured beside the first
	cluster   bool   // measure cluster mode too
	peerRate  int    // requests a second the cluster target's peer serves
	redis     string // redis-server's path, with -cluster
}

// mode is streamed or not.
type mode struct {
	name   string
	stream bool
}

var allModes = []mode{{"non-stream", false}, {"stream", true}}

func main() {
	var (
		o        options
		modes    string
		role     string
		upstream string
		idle     int
	)
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each measured run")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "length of the unmeasured run per target and mode before the first rep, at -c clients")
	flag.IntVar(&o.reps, "reps", 3, "how many times each run is repeated, interleaved across targets")
	flag.IntVar(&o.endpoints, "endpoints", 10, "endpoints of the one model Switchboard routes among, all pointing at the mock upstream")
	flag.IntVar(&o.conc, "c", 32, "clients of the throughput runs (the latency runs have one)")
	flag.IntVar(&o.words, "words", 20, "words in every answer, one a streamed chunk")
	flag.StringVar(&modes, "modes", "non-stream,stream", "which answers to measure, comma-separated: non-stream, stream")
	flag.StringVar(&o.bin, "bin", "", "a switchboard binary to measure instead of building this checkout's")
	flag.StringVar(&o.base, "base", "", "a second switchboard binary (an earlier build) measured beside the first, in the same reps: a change's before and after in one run")
	flag.BoolVar(&o.cluster, "cluster", false, "also measure Switchboard as one replica of a fleet of two linked through Redis (needs redis-server)")
	flag.IntVar(&o.peerRate, "peer-rate", 50, "with -cluster: requests a second the other replica serves throughout, so that news flows both ways")
	flag.StringVar(&role, "child", "", "internal: run as the harness's upstream or proxy process")
	flag.StringVar(&upstream, "upstream", "", "internal: the proxy child's upstream")
	flag.IntVar(&idle, "idle", 0, "internal: the proxy child's idle connections per host")
	flag.Parse()
	setAnswer(max(o.words, 1)) // the upstream child's as well; parse checks the flag
	if role != "" {
		if err := runChild(role, upstream, idle); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := o.parse(modes); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// parse checks the flags.
func (o *options) parse(modes string) error {
	switch {
	case o.duration <= 0:
		return fmt.Errorf("-duration %v: give a positive duration, e.g. 5s", o.duration)
	case o.warmup < 0:
		return fmt.Errorf("-warmup %v: give 0 or a positive duration", o.warmup)
	case o.reps < 1:
		return fmt.Errorf("-reps %d: give 1 or more", o.reps)
	case o.endpoints < 1 || o.endpoints > 999:
		return fmt.Errorf("-endpoints %d: give 1 to 999", o.endpoints)
	case o.conc < 1:
		return fmt.Errorf("-c %d: give 1 or more clients", o.conc)
	case o.words < 1 || o.words > 100_000:
		return fmt.Errorf("-words %d: give 1 to 100000", o.words)
	case o.peerRate < 0 || o.peerRate > 1000:
		return fmt.Errorf("-peer-rate %d: give 0 to 1000 requests a second", o.peerRate)
	}
	if o.base != "" {
		if _, err := os.Stat(o.base); err != nil {
			return fmt.Errorf("-base %s: %w", o.base, err)
		}
	}
	if o.cluster {
		// Before the build, not after: a missing Redis is known at once.
		path, err := exec.LookPath("redis-server")
		if err != nil {
			return errors.New("-cluster needs redis-server, and there is none on the PATH: install it (apt-get install redis-server) or leave -cluster out")
		}
		o.redis = path
	}
	for name := range strings.SplitSeq(modes, ",") {
		name = strings.TrimSpace(name)
		i := -1
		for j, m := range allModes {
			if m.name == name {
				i = j
			}
		}
		if i < 0 {
			return fmt.Errorf("-modes: %q is not a mode; write non-stream, stream or both, comma-separated", name)
		}
		o.modes = append(o.modes, allModes[i])
	}
	return nil
}

// target is one server the load generator drives.
type target struct {
	name  string
	base  string
	proc  *child // nil for the mock upstream itself
	label string // the row's name in the report
	// mallocs is where the target's process says how many heap
	// allocations it has made (Go's runtime counts them): Prometheus text
	// with go_memstats_mallocs_total, Switchboard's /metrics, or the floor's
	// own page of it. "" for the mock.
	mallocs string
}

// run starts the servers, measures and prints the report. Every process it
// starts is stopped before it returns, on every path.
func run(ctx context.Context, o options, out io.Writer) error {
	dir, err := os.MkdirTemp("", "switchboard-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var cs children
	defer cs.stopAll()

	bin := o.bin
	if bin == "" {
		bin = filepath.Join(dir, "switchboard")
		fmt.Fprintln(os.Stderr, "bench: building switchboard from this checkout")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "switchboard")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("go build switchboard (run the bench from the repository's root): %w", err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	up, err := cs.start(ctx, "upstream", dir, exec.Command(self, "-child", "upstream", "-words", strconv.Itoa(o.words)), benchReady)
	if err != nil {
		return err
	}
	proxy, err := cs.start(ctx, "proxy", dir, exec.Command(self, "-child", "proxy", "-upstream", up.base, "-idle", fmt.Sprint(o.conc)), benchReady)
	if err != nil {
		return err
	}
	sb, err := startServe(ctx, &cs, dir, bin, "switchboard", switchboardConfig(up.base, o.endpoints))
	if err != nil {
		return err
	}
	targets := []target{
		{name: "direct", base: up.base, label: "direct to the mock upstream"},
		{name: "proxy", base: proxy.base, proc: proxy, label: "bare httputil.ReverseProxy, pooled transport (the floor)",
			mallocs: root(proxy.base) + mallocsPath},
		{name: "switchboard", base: sb.base, proc: sb, label: "Switchboard (" + cmp.Or(o.bin, "this checkout") + ")", mallocs: root(sb.base) + "/metrics"},
	}
	if o.base != "" {
		b, err := startServe(ctx, &cs, dir, o.base, "base", switchboardConfig(up.base, o.endpoints))
		if err != nil {
			return err
		}
		targets = append(targets, target{name: "base", base: b.base, proc: b, label: "Switchboard (" + o.base + ")", mallocs: root(b.base) + "/metrics"})
	}
	var fl *fleet // nil alone
	if o.cluster {
		if fl, err = startFleet(ctx, &cs, dir, bin, self, o, up.base); err != nil {
			return err
		}
		targets[2].label += ", single"
		targets = append(targets, target{name: "cluster", base: fl.replica.base, proc: fl.replica,
			label: "Switchboard (" + cmp.Or(o.bin, "this checkout") + "), cluster: one replica of two, through Redis", mallocs: root(fl.replica.base) + "/metrics"})
	}

	// Every process the harness started is its own, Redis and the peer
	// included: what they take is not a neighbour's.
	others := &othersMeter{own: cs.all()}
	rec := newRecord(o)
	rec.loadStart = loadAvg()
	rec.started = time.Now()
	// The peer serves its trickle from before the warm-up to the end, on
	// every target's runs alike. stopPeer ends it on every way out.
	peerCtx, stopPeer := context.WithCancel(ctx)
	defer stopPeer()
	peerLoad := make(chan loadResult, 1)
	var redis0, peerCPU0 time.Duration
	var logs0 []int64
	if fl != nil {
		if redis0, peerCPU0, err = fl.cpu(); err != nil {
			return err
		}
		logs0 = fl.logSizes()
		go func() { peerLoad <- trickle(peerCtx, fl.peer.base, o.peerRate) }()
	}
	// The latency runs have one client, the throughput runs -c; with -c 1
	// they are the same runs.
	concs := []int{1}
	if o.conc > 1 {
		concs = append(concs, o.conc)
	}
	fmt.Fprintf(os.Stderr, "bench: %d reps × %d modes × %d concurrencies × %d targets × %v, load average %s\n",
		o.reps, len(o.modes), len(concs), len(targets), o.duration, rec.loadStart)
	if o.warmup > 0 {
		for _, m := range o.modes {
			for _, t := range targets {
				r := load(ctx, t.base, m.stream, o.conc, o.warmup)
				rec.addErrors(t.name+" "+m.name+" warm-up", r)
			}
		}
	}
	for rep := range o.reps {
		for _, m := range o.modes {
			for _, conc := range concs {
				for _, t := range repOrder(targets, rep) {
					if err := ctx.Err(); err != nil {
						return errors.New("interrupted")
					}
					s, err := measure(ctx, t, up, others, m, conc, o.duration)
					if err != nil {
						return err
					}
					rec.add(t.name, m.name, conc, s)
					fmt.Fprintf(os.Stderr, "bench: rep %d %-10s c=%-3d %-11s %8.0f req/s  p50 %-9v errors %d  others' CPU %3.0f%%\n",
						rep+1, m.name, conc, t.name, s.result.rps(), s.result.percentile(0.5).Round(time.Microsecond), s.result.errors, 100*s.others)
				}
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return errors.New("interrupted")
	}
	var apart error // the fleet came apart during the runs
	if fl != nil {
		stopPeer()
		f := &fleetFigures{redisVersion: fl.version, peerRate: o.peerRate, peer: <-peerLoad}
		redis1, peer1, err := fl.cpu()
		if err != nil {
			return err
		}
		f.redisCPU, f.peerCPU = redis1-redis0, peer1-peerCPU0
		rec.fleet = f
		rec.addErrors("the peer replica's trickle", f.peer)
		apart = fl.stayedLinked(logs0)
	}
	rec.loadEnd = loadAvg()
	rec.took = time.Since(rec.started)
	rec.report(out, targets)
	if rec.errors > 0 {
		// What the servers said may explain the errors.
		for _, c := range cs.all() {
			if t := c.tail(); t != "" {
				fmt.Fprintf(out, "\nThe end of %s's stderr:\n%s\n", c.name, t)
			}
		}
		return fmt.Errorf("%d requests did not get a whole answer (listed above): the figures are not to be trusted", rec.errors)
	}
	if apart != nil {
		return fmt.Errorf("the fleet came apart during the runs, so the cluster figures may be single mode's: %w", apart)
	}
	return nil
}

// repOrder is the order of the targets' runs in rep. With more than one
// Switchboard (-base, -cluster), they run in the reverse order every other
// rep, so that none always runs right after another: a drift of the
// machine's load within a rep falls on all alike.
func repOrder(targets []target, rep int) []target {
	if len(targets) < 4 || rep%2 == 0 {
		return targets
	}
	order := slices.Clone(targets)
	slices.Reverse(order[2:])
	return order
}

// sample is one measured run: the load generator's result and the CPU
// time the target's own process and the upstream's used during it.
type sample struct {
	result   loadResult
	cpu      time.Duration // the proxy's; 0 for the direct target
	mallocs  uint64        // the proxy's heap allocations; 0 for the direct target
	upstream time.Duration
	conns    int64   // connections the upstream accepted during the run
	others   float64 // the share of the machine's CPU other processes took
}

// statsClient asks the mock for its connections over one kept connection,
// so that asking adds none to the count.
var statsClient = &http.Client{Timeout: 10 * time.Second}

// measure runs the load once against t and reads the CPU times around it.
func measure(ctx context.Context, t target, up *child, others *othersMeter, m mode, conc int, d time.Duration) (sample, error) {
	// A collection now, not in the middle of the run, keeps the load
	// generator's garbage from one run out of the next.
	runtime.GC()
	if err := others.mark(); err != nil {
		return sample{}, err
	}
	var proc0 time.Duration
	var mallocs0 uint64
	var err error
	if t.proc != nil {
		if mallocs0, err = mallocs(statsClient, t.mallocs); err != nil {
			return sample{}, err
		}
		if proc0, err = t.proc.cpu(); err != nil {
			return sample{}, err
		}
	}
	up0, err := up.cpu()
	if err != nil {
		return sample{}, err
	}
	conns0, err := up.conns(statsClient)
	if err != nil {
		return sample{}, err
	}
	r := load(ctx, t.base, m.stream, conc, d)
	conns1, err := up.conns(statsClient)
	if err != nil {
		return sample{}, err
	}
	s := sample{result: r, conns: conns1 - conns0}
	if t.proc != nil {
		p1, err := t.proc.cpu()
		if err != nil {
			return sample{}, err
		}
		s.cpu = p1 - proc0
		m1, err := mallocs(statsClient, t.mallocs)
		if err != nil {
			return sample{}, err
		}
		s.mallocs = m1 - mallocs0
	}
	up1, err := up.cpu()
	if err != nil {
		return sample{}, err
	}
	s.upstream = up1 - up0
	if s.others, err = others.share(r.elapsed, runtime.NumCPU()); err != nil {
		return sample{}, err
	}
	return s, nil
}

// switchboardConfig is a config.toml with endpoints providers, all the
// mock upstream, serving one model at one price, so the router picks among
// them all.
func switchboardConfig(upstream string, endpoints int) string {
	var b strings.Builder
	b.WriteString("# Written by bench: every endpoint is the same mock upstream.\n\n")
	b.WriteString("[gateway]\nlisten = \"127.0.0.1:0\"\n\n")
	for i := range endpoints {
		fmt.Fprintf(&b, "[[provider]]\nname = \"up%03d\"\nbase_url = %q\n\n", i+1, upstream)
	}
	fmt.Fprintf(&b, "[[model]]\nname = %q\n\n", benchModel)
	for i := range endpoints {
		fmt.Fprintf(&b, "[[model.endpoint]]\nprovider = \"up%03d\"\nupstream_model = %q\nprice_in = 0.5\nprice_out = 0.5\n\n", i+1, upstreamModel)
	}
	return b.String()
}

// loadAvg is the 1, 5 and 15 minute load averages, as /proc/loadavg has them.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
