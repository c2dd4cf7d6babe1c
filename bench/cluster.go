package main

// Cluster mode (-cluster): Switchboard as one replica of a fleet of two,
// linked through Redis, measured in the same run as the same Switchboard
// alone.
//
// The harness starts redis-server on a free loopback port, without
// persistence, and two more `switchboard serve`: the cluster target
// (replica bench-a), whose config is the single target's plus a [cluster]
// table, in front of the same mock upstream, and its peer (replica
// bench-b), in front of a mock of its own so that the peer's requests stay
// out of the measured mock's CPU and connections. The peer serves a steady
// trickle (-peer-rate requests a second) for the whole run, so that news
// flows both ways: the target takes in the peer's tallies and changes as
// it would a real peer's, and the peer takes in the target's. A replica
// sends a tally per tick (four a second) holding its counts per endpoint
// and bucket, whatever their number, so a peer that records something
// every tick sends about as much news as one under full load would, while
// it takes a few percent of one core (the report says how much) of the
// two the measured runs need. A peer under the full load would halve the
// cores left to the target, which is not what cluster mode costs.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The replicas' names in the fleet.
const (
	replicaName = "bench-a" // the cluster target, measured
	peerName    = "bench-b" // its peer, serving the trickle
)

// fleet is the cluster target and what it is linked to.
type fleet struct {
	redis   *child
	replica *child // the cluster target, measured
	peer    *child // the other replica
	version string // redis-server's, for the report
}

// startFleet starts Redis, the peer's mock upstream and the two replicas,
// and returns once both are linked and see each other. upstream is the
// measured mock, the one the single target is in front of.
func startFleet(ctx context.Context, cs *children, dir, bin, self string, o options, upstream string) (*fleet, error) {
	f := &fleet{version: redisVersion(o.redis)}
	var err error
	if f.redis, err = startRedis(ctx, cs, dir, o.redis); err != nil {
		return nil, err
	}
	peerUp, err := cs.start(ctx, "peer-upstream", dir, exec.Command(self, "-child", "upstream", "-words", strconv.Itoa(o.words)), benchReady)
	if err != nil {
		return nil, err
	}
	if f.replica, err = startServe(ctx, cs, dir, bin, "cluster", clusterConfig(upstream, o.endpoints, f.redis.base, replicaName)); err != nil {
		return nil, err
	}
	if f.peer, err = startServe(ctx, cs, dir, bin, "peer", clusterConfig(peerUp.base, o.endpoints, f.redis.base, peerName)); err != nil {
		return nil, err
	}
	if err := awaitFleet(ctx, f.replicas()); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *fleet) replicas() []*child { return []*child{f.replica, f.peer} }

// startServe runs `switchboard serve` with config, its state in a
// directory of its own, and returns once it listens.
func startServe(ctx context.Context, cs *children, dir, bin, name, config string) (*child, error) {
	cfg := filepath.Join(dir, name+".toml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--config", cfg, "--state", filepath.Join(dir, name+"-state"))
	return cs.start(ctx, name, dir, cmd, serveReady)
}

// clusterConfig is the single target's config (switchboardConfig) with a
// [cluster] table that makes it a replica of the fleet at redisURL.
func clusterConfig(upstream string, endpoints int, redisURL, replica string) string {
	return switchboardConfig(upstream, endpoints) +
		fmt.Sprintf("[cluster]\nredis_url = %q\nreplica = %q\n", redisURL, replica)
}

// startRedis runs redis-server on a free loopback port, without
// persistence (nothing written, no fork to save), and returns once it logs
// that it accepts connections. Its log goes to its stdout, where start
// reads it.
func startRedis(ctx context.Context, cs *children, dir, path string) (*child, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--loglevel", "notice")
	return cs.start(ctx, "redis", dir, cmd, readiness{parse: redisReady("redis://127.0.0.1:" + port), chatty: true})
}

// redisReady takes the line redis-server logs once it accepts
// connections, and gives its address, url.
func redisReady(url string) func(line string) (string, bool) {
	return func(line string) (string, bool) {
		return url, strings.Contains(line, "Ready to accept connections")
	}
}

// freePort is a loopback port that was free a moment ago: redis-server
// takes its port from its flags, not from a listener passed to it. Should
// another process take the port in between, redis-server fails at start
// and says why.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

// redisVersion is what `redis-server --version` says of itself, as
// "7.0.15"; "" when it says nothing readable.
func redisVersion(path string) string {
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return ""
	}
	for f := range strings.FieldsSeq(string(out)) {
		if v, ok := strings.CutPrefix(f, "v="); ok {
			return v
		}
	}
	return ""
}

// fleetWait bounds how long the replicas may take to link: each says it
// is alive once a second (cluster.DefaultHeartbeat), and counts the
// replicas it has heard of when it does.
const fleetWait = 20 * time.Second

// awaitFleet returns once every replica says it is linked and sees all of
// them, so that no measured run is of a replica still alone.
func awaitFleet(ctx context.Context, replicas []*child) error {
	deadline := time.Now().Add(fleetWait)
	for {
		err := fleetFormed(replicas)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the fleet did not form within %v: %w", fleetWait, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// fleetFormed is nil when every replica's /readyz says that it is linked
// to the fleet and sees all the replicas, else says which does not.
func fleetFormed(replicas []*child) error {
	for _, r := range replicas {
		st, err := readStanding(r.base)
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		if !st.Linked || st.Replicas != len(replicas) {
			why := ""
			if st.Detail != "" {
				why = " (" + st.Detail + ")"
			}
			return fmt.Errorf("%s, replica %s, is linked: %v, and sees %d replicas of %d%s", r.name, st.Replica, st.Linked, st.Replicas, len(replicas), why)
		}
	}
	return nil
}

// outOfReach is in the line a replica logs when it loses Redis
// (cluster.Node's unlink); it carries on alone until it links again.
const outOfReach = "Redis is out of reach"

// logSizes are how far each replica's log (its stderr) has come, so that
// stayedLinked reads only what came later.
func (f *fleet) logSizes() []int64 {
	var sizes []int64
	for _, r := range f.replicas() {
		var n int64
		if fi, err := os.Stat(r.stderr.Name()); err == nil {
			n = fi.Size()
		}
		sizes = append(sizes, n)
	}
	return sizes
}

// stayedLinked is nil when both replicas are linked now, see each other,
// and logged no loss of Redis since their logs were at from: a replica
// cut off for a while measured single mode under cluster mode's name.
func (f *fleet) stayedLinked(from []int64) error {
	for i, r := range f.replicas() {
		b, err := os.ReadFile(r.stderr.Name())
		if err != nil {
			return err
		}
		if i < len(from) && from[i] <= int64(len(b)) {
			b = b[from[i]:]
		}
		if at := bytes.Index(b, []byte(outOfReach)); at >= 0 {
			line, _, _ := bytes.Cut(b[at:], []byte("\n"))
			return fmt.Errorf("%s lost Redis during the runs: ...%s", r.name, line)
		}
	}
	return fleetFormed(f.replicas())
}

// standing is a replica's place in its fleet, as its /readyz says.
type standing struct {
	Replica  string `json:"replica"`
	Linked   bool   `json:"linked"`
	Replicas int    `json:"replicas"`
	Detail   string `json:"detail"`
}

// readStanding asks a replica at base where it stands in its fleet.
// /readyz answers 503 when a model has no endpoint taking requests, with
// the same body: its standing is read either way.
func readStanding(base string) (standing, error) {
	resp, err := statsClient.Get(root(base) + "/readyz")
	if err != nil {
		return standing{}, fmt.Errorf("asking its standing in the fleet: %w", err)
	}
	defer resp.Body.Close()
	var a struct {
		Cluster *standing `json:"cluster"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return standing{}, fmt.Errorf("its /readyz (status %s) is not JSON: %w", resp.Status, err)
	}
	if a.Cluster == nil {
		return standing{}, errors.New("its /readyz says nothing of a fleet: it runs alone")
	}
	return *a.Cluster, nil
}

// trickle is the peer's share of the load: rate requests a second, one at
// a time, non-streamed and streamed in turn, until ctx ends; none at all
// when rate is 0 (the peer then records only its probes). Each answer is
// checked as the measured ones are, and its errors fail the run as theirs
// do.
func trickle(ctx context.Context, base string, rate int) loadResult {
	start := time.Now()
	if rate == 0 {
		<-ctx.Done()
		return loadResult{elapsed: time.Since(start)}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DisableCompression = true
	client := &http.Client{Transport: t}
	defer t.CloseIdleConnections()
	bodies := [2][]byte{requestBody(false), requestBody(true)}
	url := base + "/chat/completions"
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	var r loadResult
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			r.elapsed = time.Since(start)
			return r
		case <-tick.C:
		}
		err := roundTrip(ctx, client, url, bodies[i%2], i%2 == 1)
		switch {
		case err == nil:
			r.ok++
		case ctx.Err() == nil: // not the end of the run cutting it short
			r.errors++
			if len(r.firstErrs) < 3 {
				r.firstErrs = append(r.firstErrs, err.Error())
			}
		}
	}
}

// fleetFigures are, with -cluster, what the cluster target's surroundings
// did while the runs were measured, for the report's footer.
type fleetFigures struct {
	redisVersion      string
	peerRate          int
	peer              loadResult    // the trickle
	redisCPU, peerCPU time.Duration // over peer.elapsed
}

// cpu is the CPU time Redis and the peer have used so far.
func (f *fleet) cpu() (redis, peer time.Duration, err error) {
	if redis, err = f.redis.cpu(); err != nil {
		return 0, 0, err
	}
	if peer, err = f.peer.cpu(); err != nil {
		return 0, 0, err
	}
	return redis, peer, nil
}
