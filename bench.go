package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
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
	rate := fs.Float64("rate", 10, "requests per second, for each strategy")
	length := fs.Duration("duration", 0, "how long requests are sent [3m; 25s with --quick]")
	out := fs.String("out", "", "write the report to this file instead of stdout")
	rest, code, ok := benchCmd.parse(fs, args, stdout)
	if !ok {
		return code
	}
	if len(rest) != 1 || rest[0] != "uptime" {
		fmt.Fprintf(stderr, "bench: which benchmark? the one there is: switchboard bench uptime\n")
		return 2
	}
	if *rate <= 0 {
		fmt.Fprintf(stderr, "bench: --rate is %g; it must be above 0\n", *rate)
		return 2
	}
	o := uptime.Options{Gateway: startGateway, Client: client, Seed: *seed, Rate: *rate,
		Progress: func(s string) { fmt.Fprintln(stderr, "bench:", s) }}
	if *quick {
		o = uptime.Quick(o)
	} else {
		o = uptime.Full(o)
	}
	if *length > 0 {
		o.Length = *length
	}
	card, err := uptime.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		defer f.Close()
		w = f
	}
	card.Write(w, "switchboard bench "+strings.Join(args, " "), "")
	if bad := card.Check(); len(bad) > 0 {
		for _, b := range bad {
			fmt.Fprintln(stderr, "bench: out of order:", b)
		}
		return 1
	}
	return 0
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
