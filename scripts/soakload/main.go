// Command soakload drives a running Switchboard gateway with a bounded mixed
// load for a while, counts on the client side what became of every request,
// samples the server's goroutines, resident memory and open files from its
// /metrics, and fails on any request lost, hung or truncated, or on growth.
// scripts/soak.sh starts the gateway on the shipped fleet and runs it.
//
//	soakload -url http://127.0.0.1:8788 -duration 60s
//
// The load is a fixed number of workers, each sending one request after the
// other: OpenAI chat completions and Anthropic messages, streaming and not,
// with routing options (provider.sort, order, only, ignore, allow_fallbacks,
// max_price, models fallbacks, max_tokens), some offering a tool (the first
// turn of a tool loop) or sending back a call's result (the second), some
// streams canceled by the client after a few deltas. The models and their providers are read from
// the gateway itself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// config is what the flags say.
type config struct {
	url      string
	duration time.Duration
	workers  int
	deadline time.Duration
	cancel   float64
	sample   time.Duration
	seed     uint64
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("soakload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8788", "the gateway's base URL, without /v1")
	fs.DurationVar(&c.duration, "duration", time.Minute, "how long to send requests; those in flight then finish")
	fs.IntVar(&c.workers, "workers", 12, "requests in flight at once")
	// Twice the shipped [routing] timeouts.total ("5m"): the router gives up
	// on any request by then, so an answer later than this never comes.
	fs.DurationVar(&c.deadline, "deadline", 10*time.Minute, "a request with no end by then is hung")
	fs.Float64Var(&c.cancel, "cancel", 0.1, "fraction of streams the client cancels after a few deltas")
	fs.DurationVar(&c.sample, "sample", 0, "how often to sample the server's /metrics (default: duration/30, 1s to 10s)")
	fs.Uint64Var(&c.seed, "seed", uint64(time.Now().UnixNano()), "seeds the choice of requests")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("soakload takes no arguments, got %q", strings.Join(fs.Args(), " "))
	case c.duration <= 0 || c.workers <= 0 || c.deadline <= 0 || c.cancel < 0 || c.cancel > 1:
		return nil, errors.New("-duration, -workers and -deadline must be positive and -cancel from 0 to 1")
	}
	if c.sample <= 0 {
		c.sample = min(max(c.duration/30, time.Second), 10*time.Second)
	}
	c.url = strings.TrimSuffix(c.url, "/")
	return c, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "soakload:", err)
		}
		return 2
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.workers}}
	defer client.CloseIdleConnections()
	cat, err := discover(client, cfg.url)
	if err != nil {
		fmt.Fprintln(stderr, "soakload:", err)
		return 1
	}
	fmt.Fprintf(stdout, "soakload: %s for %v, %d workers, deadline %v, seed %d; models: %s\n",
		cfg.url, cfg.duration, cfg.workers, cfg.deadline, cfg.seed, cat)

	s := &sampler{client: client, url: cfg.url, start: time.Now()}
	if err := s.take("idle", 0, 0); err != nil {
		fmt.Fprintln(stderr, "soakload:", err)
		return 1
	}
	t := newTally()
	load(client, cfg, cat, t, s)

	// Let the server close what the load opened, then sample it idle again:
	// the server must have finished every request, and let go of what they
	// held.
	client.CloseIdleConnections()
	after := s.settle(t.sent(), settleWait)

	t.print(stdout)
	s.print(stdout)
	failures := t.failures()
	failures = append(failures, s.failures(t.sent(), after)...)
	if len(failures) > 0 {
		fmt.Fprintln(stdout, "\nsoakload: FAILED")
		for _, f := range failures {
			fmt.Fprintln(stdout, "  -", f)
		}
		return 1
	}
	fmt.Fprintln(stdout, "\nsoakload: passed: nothing lost, hung or truncated, and no growth")
	return 0
}

// load runs the workers for cfg.duration and waits for the requests in
// flight, sampling the server meanwhile.
func load(client *http.Client, cfg *config, cat *catalog, t *tally, s *sampler) {
	ctx, stop := context.WithTimeout(context.Background(), cfg.duration)
	defer stop()
	var inflight atomic.Int64
	var wg sync.WaitGroup
	for w := range cfg.workers {
		wg.Go(func() {
			g := newGenerator(cfg.seed, uint64(w), cat, cfg.cancel)
			for ctx.Err() == nil {
				sc := g.next()
				inflight.Add(1)
				res := send(client, cfg.url, sc, cfg.deadline)
				inflight.Add(-1)
				t.add(sc, res)
			}
		})
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	tick := time.NewTicker(cfg.sample)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			label := "load"
			if ctx.Err() != nil {
				label = "drain"
			}
			if err := s.take(label, inflight.Load(), t.sent()); err != nil {
				s.errs = append(s.errs, err.Error())
			}
		}
	}
}
