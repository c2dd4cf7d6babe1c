package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The server's figures, from client_golang's Go and process collectors and
// the gateway's own request counter.
const (
	metricGoroutines = "go_goroutines"
	metricRSS        = "process_resident_memory_bytes"
	metricFDs        = "process_open_fds"
	metricRequests   = "switchboard_requests_total" // chat requests finished, every outcome
)

// scrape reads /metrics and sums each metric's series.
func scrape(client *http.Client, url string) (map[string]float64, error) {
	resp, err := client.Get(url + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("scraping /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping /metrics: %s", resp.Status)
	}
	sums := map[string]float64{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		// name{labels} value, or name value; label values may hold spaces,
		// so the value is what follows the last one.
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("scraping /metrics: a line that is not a sample: %.200q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("scraping /metrics: a line that is not a sample: %.200q", line)
		}
		name, _, _ := strings.Cut(line[:i], "{")
		sums[strings.TrimSpace(name)] += v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scraping /metrics: %w", err)
	}
	// The request counter has no series before the first request: absent is 0.
	for _, name := range []string{metricGoroutines, metricRSS, metricFDs} {
		if _, ok := sums[name]; !ok {
			return nil, fmt.Errorf("/metrics has no %s", name)
		}
	}
	return sums, nil
}

// sample is the server's state at one moment.
type sample struct {
	label      string // idle, load, drain (requests finishing), after (idle again)
	at         time.Duration
	goroutines float64
	rss        float64 // bytes
	fds        float64
	served     float64 // chat requests the server finished since the first sample
	inflight   int64   // the client's requests in flight
	sent       int     // the client's requests finished
}

// sampler takes samples of one server.
type sampler struct {
	client  *http.Client
	url     string
	start   time.Time
	base    float64 // the request counter at the first sample
	samples []sample
	errs    []string
}

func (s *sampler) take(label string, inflight int64, sent int) error {
	m, err := scrape(s.client, s.url)
	if err != nil {
		return err
	}
	if len(s.samples) == 0 {
		s.base = m[metricRequests]
	}
	s.samples = append(s.samples, sample{label: label, at: time.Since(s.start), goroutines: m[metricGoroutines],
		rss: m[metricRSS], fds: m[metricFDs], served: m[metricRequests] - s.base, inflight: inflight, sent: sent})
	return nil
}

// The growth rule. A noisy two-core machine shared with others moves every
// figure about, so single samples are not compared: after a warm-up (the
// first sixth of the load, while pools, caches and the heap reach their
// working size), the median of the last third of the load's samples is
// compared with the median of the first third. Growth is a rise of more
// than half the first median, and never less than an absolute floor: a few
// connections more in flight, or the garbage collector's heap target
// moving, are not a leak. At the shipped fleet's pace (7 to 8 requests a
// second with 12 workers, the two medians some 250 requests apart in a
// 60s run and 2,500 in 10 minutes), a leak of one goroutine or one file
// per request passes its floor in the 60s run, and one of 20 KB per
// request passes the RSS floor in 10 minutes.
var growthFloors = []struct {
	name  string
	get   func(sample) float64
	floor float64
	unit  string
}{
	{"goroutines", func(s sample) float64 { return s.goroutines }, 150, ""},
	{"open fds", func(s sample) float64 { return s.fds }, 60, ""},
	{"RSS", func(s sample) float64 { return s.rss / (1 << 20) }, 48, " MB"},
}

// After the load, once the client has closed its connections and the
// upstream connections the provider clients pool have gone idle long
// enough to close (the transport's idle timeout, 90s), the server should
// be back near where it started.
const (
	settleGoroutines = 100
	settleFDs        = 50
	// settleWait is how long the server has to get there: past the idle
	// timeout of its pooled upstream connections, which under the load
	// hold up to one per request in flight at each provider.
	settleWait = 2 * time.Minute
)

// settle waits, up to timeout, for the server to finish the sent requests
// and to let go of their goroutines, then takes the last sample.
func (s *sampler) settle(sent int, timeout time.Duration) sample {
	idle := s.samples[0]
	for end := time.Now().Add(timeout); ; {
		err := s.take("after", 0, sent)
		if err != nil {
			s.errs = append(s.errs, err.Error())
		}
		last := s.samples[len(s.samples)-1]
		if err == nil && last.served >= float64(sent) && last.goroutines <= idle.goroutines+settleGoroutines && last.fds <= idle.fds+settleFDs ||
			time.Now().After(end) {
			return last
		}
		s.samples = s.samples[:len(s.samples)-1] // keep only the last "after"
		time.Sleep(500 * time.Millisecond)       // polling a live server
	}
}

func (s *sampler) print(w io.Writer) {
	fmt.Fprintf(w, "\nserver (/metrics)\n%8s  %-6s %9s %8s %8s %11s %8s %9s\n",
		"t", "state", "in flight", "done", "served", "goroutines", "RSS MB", "open fds")
	for _, x := range s.samples {
		fmt.Fprintf(w, "%8s  %-6s %9d %8d %8.0f %11.0f %8.1f %9.0f\n",
			x.at.Round(time.Second), x.label, x.inflight, x.sent, x.served, x.goroutines, x.rss/(1<<20), x.fds)
	}
	if load := s.load(); len(load) >= 6 {
		first, last := thirds(load)
		fmt.Fprintf(w, "growth check over %d samples after warm-up (medians, first third -> last third):", len(load))
		for _, g := range growthFloors {
			fmt.Fprintf(w, " %s %.1f -> %.1f%s;", g.name, median(first, g.get), median(last, g.get), g.unit)
		}
		fmt.Fprintln(w)
	}
}

// load returns the samples taken under load, after the warm-up.
func (s *sampler) load() []sample {
	var load []sample
	for _, x := range s.samples {
		if x.label == "load" {
			load = append(load, x)
		}
	}
	return load[len(load)/6:]
}

func thirds(xs []sample) (first, last []sample) {
	n := len(xs) / 3
	return xs[:n], xs[len(xs)-n:]
}

func median(xs []sample, get func(sample) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = get(x)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// failures says what in the samples fails the soak.
func (s *sampler) failures(sent int, after sample) []string {
	var out []string
	for _, e := range s.errs {
		out = append(out, "the server's metrics: "+e)
	}
	if after.served != float64(sent) {
		out = append(out, fmt.Sprintf("the server finished %.0f chat requests, the client sent %d", after.served, sent))
	}
	if load := s.load(); len(load) >= 6 {
		first, last := thirds(load)
		for _, g := range growthFloors {
			a, b := median(first, g.get), median(last, g.get)
			if allowed := max(g.floor, a/2); b-a > allowed {
				out = append(out, fmt.Sprintf("%s grew under a steady load from %.1f to %.1f%s (allowed: +%.1f)", g.name, a, b, g.unit, allowed))
			}
		}
	} else {
		out = append(out, fmt.Sprintf("only %d samples under load after the warm-up, too few to judge growth: run longer or sample more often", len(load)))
	}
	idle := s.samples[0]
	if after.goroutines > idle.goroutines+settleGoroutines || after.fds > idle.fds+settleFDs {
		out = append(out, fmt.Sprintf("after the load the server kept %.0f goroutines and %.0f open fds; idle before it had %.0f and %.0f (allowed: +%d, +%d)",
			after.goroutines, after.fds, idle.goroutines, idle.fds, settleGoroutines, settleFDs))
	}
	return out
}
