package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"switchboard/config"
	"switchboard/sim"
	"switchboard/uptime"
)

// runBench runs a benchmark: uptime, the scorecard of what a caller gets
// from misbehaving providers through Switchboard and through simpler
// strategies.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, _ := benchCmd.flags(stderr)
	quick := fs.Bool("quick", false, "a short run (25 s, the fault script 6 times faster) that checks the strategies' order, for CI")
	seed := fs.Int64("seed", 1, "seeds every provider's faults and the router's draws")
	rate := fs.Float64("rate", 0, "requests per second, for each strategy [10, and 20 on the chaos fleet; 5 with --quick]")
	length := fs.Duration("duration", 0, "how long requests are sent in each scenario [3m, and 10m on the chaos fleet; 20s with --quick]")
	out := fs.String("out", "", "write the report to this file instead of stdout; a file that has the lines "+
		uptimeBegin+" and "+uptimeEnd+" (BENCHMARKS.md) gets it between them, the rest kept")
	plot := fs.String("plot", "", "draw the chaos fleet's whole answers over time in this PNG file, embedded in the report")
	traces := fs.String("traces", "", "write every request sent through Switchboard, in every scenario, with its routing trace, to this file, a line of JSON each")
	rest, code, ok := benchCmd.parse(fs, args, stdout)
	if !ok {
		return code
	}
	if len(rest) != 1 || rest[0] != "uptime" {
		fmt.Fprintf(stderr, "bench: which benchmark? the one there is: switchboard bench uptime\n")
		return 2
	}
	if *rate < 0 || *length < 0 {
		fmt.Fprintf(stderr, "bench: --rate %g and --duration %s must be above 0 (or left out)\n", *rate, *length)
		return 2
	}
	o := uptime.Options{Gateway: startGateway, Client: client, Seed: *seed,
		Progress: func(s string) { fmt.Fprintln(stderr, "bench:", s) }}
	if *quick {
		o = uptime.Quick(o)
	} else {
		o = uptime.Full(o)
	}
	if *length > 0 { // every scenario's, the chaos fleet's too
		o.Length, o.ChaosLength = *length, 0
	}
	if *rate > 0 {
		o.Rate, o.ChaosRate = *rate, 0
	}
	closeTraces := func() error { return nil }
	if *traces != "" {
		f, err := os.Create(*traces)
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		w := bufio.NewWriter(f)
		o.Traces = w
		closeTraces = func() error { return cmp.Or(w.Flush(), f.Close()) }
	}
	card, err := uptime.Run(ctx, o)
	if cerr := closeTraces(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	embed := ""
	if *plot != "" {
		if err := writePlot(card, *plot); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		// The report names the plot as a path from where it is.
		embed = *plot
		if rel, err := filepath.Rel(filepath.Dir(cmp.Or(*out, ".")), *plot); err == nil {
			embed = filepath.ToSlash(rel)
		}
	}
	var report bytes.Buffer
	card.Write(&report, "switchboard bench "+strings.Join(args, " "), embed)
	if err := writeReport(stdout, *out, report.Bytes()); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	if bad := card.Check(); len(bad) > 0 {
		for _, b := range bad {
			fmt.Fprintln(stderr, "bench: out of order:", b)
		}
		return 1
	}
	return 0
}

// The lines between which --out puts the report in a file that has them.
const (
	uptimeBegin = "<!-- switchboard bench uptime: begin -->"
	uptimeEnd   = "<!-- switchboard bench uptime: end -->"
)

// writeReport writes report to stdout when path is "", else to path: between
// its uptimeBegin and uptimeEnd lines when it has both, else as the whole
// file.
func writeReport(stdout io.Writer, path string, report []byte) error {
	if path == "" {
		_, err := stdout.Write(report)
		return err
	}
	if old, err := os.ReadFile(path); err == nil {
		before, rest, ok1 := bytes.Cut(old, []byte(uptimeBegin+"\n"))
		_, after, ok2 := bytes.Cut(rest, []byte(uptimeEnd))
		if ok1 && ok2 {
			report = slices.Concat(before, []byte(uptimeBegin+"\n"), report, []byte(uptimeEnd), after)
		}
	}
	return os.WriteFile(path, report, 0o644)
}

func writePlot(card *uptime.Scorecard, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := card.Chaos.Plot(f, card.Options.Bucket); err != nil {
		f.Close()
		return fmt.Errorf("drawing %s: %w", path, err)
	}
	return f.Close()
}

// startGateway starts Switchboard over cfg as serve does, on a loopback
// port of its own, logging nothing.
func startGateway(ctx context.Context, cfg *config.Config) (string, *sim.Fleet, func(), error) {
	s, err := build(cfg, nil)
	if err != nil {
		return "", nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.mon.Run(ctx) })
	quiet := slog.New(slog.DiscardHandler)
	a, err := s.startAPI("127.0.0.1:0", quiet, quiet.Handler(), nil)
	stop := func() {
		if a != nil {
			a.stop(5 * time.Second)
		}
		cancel()
		wg.Wait()
		s.Close()
	}
	if err != nil {
		stop()
		return "", nil, nil, err
	}
	return a.url(), s.fleet, stop, nil
}
