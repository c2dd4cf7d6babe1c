package main

import (
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// runKey names one kind of run: a target, a mode and a concurrency.
type runKey struct {
	target, mode string
	conc         int
}

// record is every sample of a bench run, in rep order per kind of run.
type record struct {
	o         options
	samples   map[runKey][]sample
	errors    int
	errLines  []string
	loadStart string
	loadEnd   string
	started   time.Time
	took      time.Duration
	fleet     *fleetFigures // with -cluster; nil alone
}

func newRecord(o options) *record {
	return &record{o: o, samples: map[runKey][]sample{}}
}

func (r *record) add(target, mode string, conc int, s sample) {
	k := runKey{target, mode, conc}
	r.samples[k] = append(r.samples[k], s)
	r.addErrors(fmt.Sprintf("%s %s c=%d", target, mode, conc), s.result)
}

// addErrors counts a run's failed requests and keeps a few of their
// reasons.
func (r *record) addErrors(run string, l loadResult) {
	r.errors += l.errors
	if l.errors > 0 {
		r.errLines = append(r.errLines, fmt.Sprintf("%s: %d errors, e.g. %s", run, l.errors, strings.Join(l.firstErrs, "; ")))
	}
}

// figures are one figure per rep, to be summed up as a median and a range.
type figures []float64

// summary is the median and the range of the figures, each formatted by f.
func (fs figures) summary(f func(float64) string) string {
	if len(fs) == 0 {
		return "–"
	}
	s := slices.Clone(fs)
	slices.Sort(s)
	var med float64
	if n := len(s); n%2 == 1 {
		med = s[n/2]
	} else {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	if len(s) == 1 {
		return f(med)
	}
	return fmt.Sprintf("%s (%s…%s)", f(med), f(s[0]), f(s[len(s)-1]))
}

// againstFloor prints each Switchboard's figures over the floor's, each
// run against the floor's run of the same rep: the terms the overhead
// issue's goals are in.
func (r *record) againstFloor(w io.Writer, sbs []target, modes string, cells func(func(mode string) string) string) {
	c := r.o.conc
	fmt.Fprintf(w, "| against the floor, times the floor's | added p50, c=1 (%s) | RPS, c=%d (%s) | CPU per request, c=%d (%s) |\n|---|---|---|---|\n", modes, c, modes, c, modes)
	over := func(target, mode string, conc int, f func(t, floor, direct sample) float64) string {
		var fs figures
		for _, s := range r.byRep(mode, conc, target, "proxy", "direct") {
			fs = append(fs, f(s[0], s[1], s[2]))
		}
		return fs.summary(ratio)
	}
	for _, t := range sbs {
		added := cells(func(m string) string {
			return over(t.name, m, 1, func(t, floor, direct sample) float64 {
				return (p(0.5)(t) - p(0.5)(direct)) / (p(0.5)(floor) - p(0.5)(direct))
			})
		})
		rps := cells(func(m string) string {
			return over(t.name, m, c, func(t, floor, _ sample) float64 { return t.result.rps() / floor.result.rps() })
		})
		cpu := cells(func(m string) string {
			return over(t.name, m, c, func(t, floor, _ sample) float64 {
				return cpuPer10k(t.cpu, t.result.ok) / cpuPer10k(floor.cpu, floor.result.ok)
			})
		})
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", t.label, added, rps, cpu)
	}
	fmt.Fprintf(w, "\nEach a run over the floor's run of the same rep (the added p50s both over the rep's direct run); medians of the reps, the range in brackets.\n\n")
}

// per is one figure per rep of a kind of run.
func (r *record) per(target, mode string, conc int, f func(sample) float64) figures {
	var fs figures
	for _, s := range r.samples[runKey{target, mode, conc}] {
		fs = append(fs, f(s))
	}
	return fs
}

// paired is one figure per rep from a target's run and the direct run of
// the same rep, which ran beside it.
func (r *record) paired(target, mode string, conc int, f func(t, direct sample) float64) figures {
	var fs figures
	for _, s := range r.byRep(mode, conc, target, "direct") {
		fs = append(fs, f(s[0], s[1]))
	}
	return fs
}

// byRep is, for each rep that has them all, the runs of the targets named
// in that rep, in the order named.
func (r *record) byRep(mode string, conc int, targets ...string) [][]sample {
	reps := -1
	for _, t := range targets {
		if n := len(r.samples[runKey{t, mode, conc}]); reps < 0 || n < reps {
			reps = n
		}
	}
	out := make([][]sample, max(reps, 0))
	for i := range out {
		for _, t := range targets {
			out[i] = append(out[i], r.samples[runKey{t, mode, conc}][i])
		}
	}
	return out
}

// micros formats microseconds.
func micros(v float64) string {
	if v >= 10000 || v <= -10000 {
		return fmt.Sprintf("%.1f ms", v/1000)
	}
	return fmt.Sprintf("%.0f µs", v)
}

// addedMicros formats an added latency in microseconds, signed.
func addedMicros(v float64) string {
	if v >= 0 {
		return "+" + micros(v)
	}
	return micros(v)
}

func ratio(v float64) string   { return fmt.Sprintf("%.2f", v) }
func ratio3(v float64) string  { return fmt.Sprintf("%.3f", v) }
func seconds(v float64) string { return fmt.Sprintf("%.2f", v) }
func rate(v float64) string    { return fmt.Sprintf("%.0f", v) }
func percent(v float64) string { return fmt.Sprintf("%.0f%%", v) }

func p(q float64) func(sample) float64 {
	return func(s sample) float64 { return float64(s.result.percentile(q)) / float64(time.Microsecond) }
}

// cpuPer10k is CPU seconds per 10,000 whole answers.
func cpuPer10k(cpu time.Duration, ok int) float64 {
	if ok == 0 {
		return 0
	}
	return cpu.Seconds() / float64(ok) * 10000
}

// allocsPer is a run's heap allocations in the target per answer.
func allocsPer(s sample) float64 {
	if s.result.ok == 0 {
		return 0
	}
	return float64(s.mallocs) / float64(s.result.ok)
}

// report prints the summary table, the details and the conditions.
func (r *record) report(w io.Writer, targets []target) {
	c := r.o.conc
	var names []string
	for _, m := range r.o.modes {
		names = append(names, m.name)
	}
	modes := strings.Join(names, " / ")
	cells := func(f func(mode string) string) string {
		var cs []string
		for _, m := range r.o.modes {
			cs = append(cs, f(m.name))
		}
		return strings.Join(cs, " / ")
	}

	fmt.Fprintf(w, "| | added p50, c=1 (%s) | RPS ratio to direct, c=%d (%s) | CPU s per 10k requests, c=%d (%s) | allocations per request, c=%d (%s) |\n|---|---|---|---|---|\n", modes, c, modes, c, modes, c, modes)
	for _, t := range targets[1:] {
		added := cells(func(m string) string {
			return r.paired(t.name, m, 1, func(ts, ds sample) float64 { return p(0.5)(ts) - p(0.5)(ds) }).summary(addedMicros)
		})
		ratios := cells(func(m string) string {
			return r.paired(t.name, m, c, func(ts, ds sample) float64 { return ts.result.rps() / ds.result.rps() }).summary(ratio)
		})
		cpu := cells(func(m string) string {
			return r.per(t.name, m, c, func(s sample) float64 { return cpuPer10k(s.cpu, s.result.ok) }).summary(seconds)
		})
		allocs := cells(func(m string) string { return r.per(t.name, m, c, allocsPer).summary(rate) })
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", t.label, added, ratios, cpu, allocs)
	}
	fmt.Fprintf(w, "\nMedians of %d reps, the range in brackets. Added p50 and the ratio compare each run with the direct run of the same rep.\n\n", r.o.reps)
	r.againstFloor(w, targets[2:], modes, cells)

	fmt.Fprintf(w, "| target | mode | p50 / p90 / p99, c=1 | req/s, c=1 | req/s, c=%d | p50, c=%d | target CPU s / 10k | upstream CPU s / 10k | upstream connections opened, c=%d |\n|---|---|---|---|---|---|---|---|---|\n", c, c, c)
	for _, t := range targets {
		for _, m := range r.o.modes {
			lat := r.per(t.name, m.name, 1, p(0.5)).summary(micros) + " / " +
				r.per(t.name, m.name, 1, p(0.9)).summary(micros) + " / " +
				r.per(t.name, m.name, 1, p(0.99)).summary(micros)
			rps := func(conc int) string {
				return r.per(t.name, m.name, conc, func(s sample) float64 { return s.result.rps() }).summary(rate)
			}
			cpu := "–"
			if t.proc != nil {
				cpu = r.per(t.name, m.name, c, func(s sample) float64 { return cpuPer10k(s.cpu, s.result.ok) }).summary(seconds)
			}
			upCPU := r.per(t.name, m.name, c, func(s sample) float64 { return cpuPer10k(s.upstream, s.result.ok) }).summary(seconds)
			conns := r.per(t.name, m.name, c, func(s sample) float64 { return float64(s.conns) }).summary(rate)
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", t.name, m.name, lat, rps(1), rps(c),
				r.per(t.name, m.name, c, p(0.5)).summary(micros), cpu, upCPU, conns)
		}
	}

	if r.fleet != nil {
		r.clusterRatios(w)
	}

	fmt.Fprintf(w, "\n%s, %s, %d CPUs, %s; %d endpoints behind Switchboard; answers of %d words (%d chunks streamed); %v per run, %d reps, c=1 and c=%d; took %v.\n",
		r.started.UTC().Format("2006-01-02 15:04 MST"), revision(), runtime.NumCPU(), runtime.Version(),
		r.o.endpoints, r.o.words, r.o.words+2, r.o.duration, r.o.reps, c, r.took.Round(time.Second))
	if f := r.fleet; f != nil {
		share := func(d time.Duration) string {
			return fmt.Sprintf("%.1f%%", 100*d.Seconds()/f.peer.elapsed.Seconds())
		}
		fmt.Fprintf(w, "Cluster: replica %s of a fleet of two on redis-server %s (loopback, no persistence); its peer %s, in front of a mock of its own, served %d requests a second throughout (%d whole answers); Redis took %s of a CPU, the peer %s.\n",
			replicaName, f.redisVersion, peerName, f.peerRate, f.peer.ok, share(f.redisCPU), share(f.peerCPU))
	}
	fmt.Fprintf(w, "Load average (1 5 15 min): %s at the start, %s at the end.\n", r.loadStart, r.loadEnd)
	var others figures
	for _, ss := range r.samples {
		for _, s := range ss {
			others = append(others, 100*s.others)
		}
	}
	fmt.Fprintf(w, "Other processes took %s of the machine's CPU during the runs.\n", others.summary(percent))
	if slices.Max(others) > 10 {
		fmt.Fprintln(w, "The machine was shared during some runs: a ratio whose range is wide came from a run beside a busy neighbour; run again on a quiet machine before trusting it.")
	}
	if r.errors == 0 {
		fmt.Fprintln(w, "Errors: none; every answer was a 200 and whole.")
		return
	}
	fmt.Fprintf(w, "Errors: %d requests did not get a whole answer:\n", r.errors)
	for _, l := range r.errLines {
		fmt.Fprintln(w, "  "+l)
	}
}

// clusterRatios prints each figure of the cluster target over the single
// target's, rep by rep: the two ran in the same rep, one right after the
// other.
func (r *record) clusterRatios(w io.Writer) {
	c := r.o.conc
	var head, rule string
	for _, m := range r.o.modes {
		head += " " + m.name + " |"
		rule += "---|"
	}
	fmt.Fprintf(w, "\n| cluster / single |%s\n|---|%s\n", head, rule)
	// Each figure: its name, the concurrency of the runs it is read from,
	// and how it is read from a rep's cluster, single and direct runs.
	rows := []struct {
		name string
		conc int
		f    func(cl, single, direct sample) float64
	}{
		{"p50, c=1", 1, func(cl, s, _ sample) float64 { return p(0.5)(cl) / p(0.5)(s) }},
		{"added p50, c=1", 1, func(cl, s, d sample) float64 { return (p(0.5)(cl) - p(0.5)(d)) / (p(0.5)(s) - p(0.5)(d)) }},
		{"p99, c=1", 1, func(cl, s, _ sample) float64 { return p(0.99)(cl) / p(0.99)(s) }},
		{fmt.Sprintf("req/s, c=%d", c), c, func(cl, s, _ sample) float64 { return cl.result.rps() / s.result.rps() }},
		{fmt.Sprintf("p50, c=%d", c), c, func(cl, s, _ sample) float64 { return p(0.5)(cl) / p(0.5)(s) }},
		{fmt.Sprintf("CPU s per 10k requests, c=%d", c), c, func(cl, s, _ sample) float64 {
			return cpuPer10k(cl.cpu, cl.result.ok) / cpuPer10k(s.cpu, s.result.ok)
		}},
		{fmt.Sprintf("allocations per request, c=%d", c), c, func(cl, s, _ sample) float64 { return allocsPer(cl) / allocsPer(s) }},
	}
	for _, row := range rows {
		fmt.Fprintf(w, "| %s |", row.name)
		for _, m := range r.o.modes {
			var fs figures
			for _, s := range r.byRep(m.name, row.conc, "cluster", "switchboard", "direct") {
				fs = append(fs, row.f(s[0], s[1], s[2]))
			}
			fmt.Fprintf(w, " %s |", fs.summary(ratio3))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nEach cell: the cluster target's figure over the single target's in the same rep, the median of %d reps, the range in brackets; above 1 is more (of time, CPU, allocations, or of requests a second). Added p50 is each one's p50 less the rep's direct p50. The two change places every rep.\n", r.o.reps)
}

// revision is the checkout's commit, marked when it has changes, for the
// record; "unknown revision" outside git.
func revision() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown revision"
	}
	rev := "commit " + strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		rev += " (with uncommitted changes)"
	}
	return rev
}
