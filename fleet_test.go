package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/cluster"
	"switchboard/cluster/redistest"
	"switchboard/config"
	"switchboard/monitor"
	"switchboard/sim"
)

// Three replicas of switchboard serve in one test process, each with its
// own HTTP API, monitor and router, share one real redis-server. Their
// upstreams are real loopback servers (simulated providers behind a proxy
// that counts what reaches them and fails on demand), and every figure
// below is counted there, on the upstream side.

// upstream is a simulated provider in a server that counts the chat
// requests reaching it and can answer them with a failure instead.
type upstream struct {
	srv  *httptest.Server
	mode atomic.Value // "ok", "dead" (500 to everything), "429" (429, Retry-After: 30, to chats)

	mu    sync.Mutex
	chats []time.Time // when each chat request arrived
}

func newUpstream(t *testing.T, name string) *upstream {
	t.Helper()
	s, err := sim.Start(sim.Profile{Name: name, Models: []string{"test/model"}, TTFT: sim.Latency{P50: time.Millisecond, P95: 2 * time.Millisecond}, TokensPerSecond: 20000}, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	serve := s.Handler()
	u := &upstream{}
	u.mode.Store("ok")
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chat := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/chat/completions")
		if chat {
			u.mu.Lock()
			u.chats = append(u.chats, time.Now())
			u.mu.Unlock()
		}
		switch mode := u.mode.Load().(string); {
		case mode == "dead":
			io.Copy(io.Discard, r.Body)
			answerJSON(w, http.StatusInternalServerError, map[string]any{"error": map[string]any{"message": "down", "type": "server_error"}})
			return
		case mode == "429" && chat:
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Retry-After", "30")
			answerJSON(w, http.StatusTooManyRequests, map[string]any{"error": map[string]any{"message": "slow down", "type": "rate_limit_error"}})
			return
		}
		serve.ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// since returns when the chat requests that arrived from t on arrived.
func (u *upstream) since(t time.Time) []time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	i, _ := slices.BinarySearchFunc(u.chats, t, func(a, b time.Time) int { return a.Compare(b) })
	return slices.Clone(u.chats[i:])
}

// replica is one switchboard serve of the fleet.
type replica struct {
	name string
	base string // the API, .../v1
	s    *stack
	logs *lockedBuffer
}

// fleetConfig is a model served by alpha (cheap: routing's first choice)
// and beta, probed by their model lists only (so that every chat request
// an upstream counts is a routed request or a breaker's trial), with a
// backoff that stays at 1s, in fleet prefix, as replica name.
func fleetConfig(redisURL, prefix, name string, alpha, beta *upstream) string {
	return fmt.Sprintf(`
[monitor]
breaker_backoff = "1s"
breaker_max_backoff = "1s"
probe_interval = "1h"

[gateway]
admin_key_env = "SB_TEST_FLEET_ADMIN"

[cluster]
redis_url = %q
prefix = %q
replica = %q

[[provider]]
name = "alpha"
base_url = %q
probe = "models"

[[provider]]
name = "beta"
base_url = %q
probe = "models"

[[model]]
name = "test/model"
[[model.endpoint]]
provider = "alpha"
price_in = 0.1
price_out = 0.1
[[model.endpoint]]
provider = "beta"
price_in = 5
price_out = 5
`, redisURL, prefix, name, alpha.srv.URL+"/v1", beta.srv.URL+"/v1")
}

const fleetAdminKey = "sb-admin-fleet-test"

// startFleet runs n replicas against one redis-server, and returns once
// every one of them is linked and sees all n.
func startFleet(t *testing.T, redis *redistest.Server, n int, alpha, beta *upstream) []*replica {
	t.Helper()
	t.Setenv("SB_TEST_FLEET_ADMIN", fleetAdminKey)
	prefix := "sb-test-" + regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-")
	var rs []*replica
	for i := range n {
		r := &replica{name: fmt.Sprintf("r%d", i+1), logs: newLockedBuffer()}
		path := writeConfig(t, fleetConfig(redis.URL(), prefix, r.name, alpha, beta))
		ctx, cancel := context.WithCancel(context.Background())
		out, w := io.Pipe()
		got := make(chan *stack, 1)
		code := make(chan int, 1)
		go func() {
			code <- runServe(ctx, []string{"--no-history", "--config", path, "--listen", "127.0.0.1:0"}, w, r.logs,
				func(s *stack) { got <- s })
			w.Close()
		}()
		t.Cleanup(func() {
			cancel()
			if c := <-code; c != 0 {
				t.Errorf("replica %s exited %d; its log:\n%s", r.name, c, r.logs)
			}
		})
		line, err := bufio.NewReader(out).ReadString('\n')
		go io.Copy(io.Discard, out)
		if err != nil {
			t.Fatalf("replica %s said nothing: %v; its log:\n%s", r.name, err, r.logs)
		}
		_, after, _ := strings.Cut(line, "API on ")
		r.base, _, _ = strings.Cut(after, " ")
		r.s = <-got
		rs = append(rs, r)
	}
	for _, r := range rs {
		r.waitSnapshot(t, "linked, seeing every replica", func(s *monitor.Snapshot) bool {
			return s.Fleet != nil && s.Fleet.Linked && len(s.Fleet.Replicas) == n
		})
	}
	return rs
}

// fleetWait bounds every wait for the fleet to agree: news goes out every
// 250ms and a heartbeat every second.
const fleetWait = 10 * time.Second

// waitSnapshot waits until a snapshot the replica's monitor publishes
// meets cond.
func (r *replica) waitSnapshot(t *testing.T, what string, cond func(*monitor.Snapshot) bool) {
	t.Helper()
	if cond(r.s.mon.Snapshot()) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), fleetWait)
	defer cancel()
	for s := range r.s.mon.Subscribe(ctx) {
		if cond(s) {
			return
		}
	}
	t.Fatalf("replica %s: not %s within %s; fleet: %+v", r.name, what, fleetWait, r.s.mon.Snapshot().Fleet)
}

// state is the endpoint's state on the replica now.
func (r *replica) state(id string) monitor.State { return r.s.mon.Snapshot().Status(id).State }

// ask sends one chat request through the replica's API and returns the
// provider that answered it, failing the test on any error.
func (r *replica) ask(t *testing.T, extra string) string {
	t.Helper()
	return r.askAbout(t, "hi", extra)
}

// askAbout is ask with the user's message: each message its own
// conversation, which no replica keeps on the endpoint that served it
// last (sticky routing).
func (r *replica) askAbout(t *testing.T, content, extra string) string {
	t.Helper()
	body := `{"model":"test/model","messages":[{"role":"user","content":` + strconv.Quote(content) + `}],"max_tokens":5` + extra + `}`
	resp, err := http.Post(r.base+"/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("replica %s: %v", r.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("replica %s answered %d: %s", r.name, resp.StatusCode, b)
	}
	return resp.Header.Get("X-Switchboard-Provider")
}

var alphaID = config.EndpointID("test/model", "alpha")

// A provider that dies is tried once per backoff across the whole fleet:
// once one replica's breaker opens, the others' open within a second, and
// each half-open trial is leased to one replica. Alone, each of three
// replicas would send its own trial every backoff. Each request is a
// conversation of its own: one kept on beta, which served it last, would
// never try alpha (and sticky routing is shared across the fleet).
func TestFleetSharesABreakerAndItsTrial(t *testing.T) {
	redis := redistest.Start(t)
	alpha, beta := newUpstream(t, "alpha"), newUpstream(t, "beta")
	alpha.mode.Store("dead")
	rs := startFleet(t, redis, 3, alpha, beta)

	// Requests go round the replicas until one has seen enough errors.
	for i := 0; rs[0].state(alphaID) != monitor.Down && rs[1].state(alphaID) != monitor.Down && rs[2].state(alphaID) != monitor.Down; i++ {
		if i == 30 {
			t.Fatalf("alpha is not down anywhere after 30 requests")
		}
		rs[i%3].askAbout(t, fmt.Sprintf("question %d", i), "")
	}
	opened := time.Now()
	for _, r := range rs {
		r.waitSnapshot(t, "seeing alpha down", func(s *monitor.Snapshot) bool { return s.Status(alphaID).State == monitor.Down })
	}
	if spread := time.Since(opened); spread > time.Second {
		t.Errorf("the breaker took %s to open on every replica; want within a second", spread)
	}

	// Five backoffs of traffic through all three: every request answered
	// (by beta), and alpha reached once per backoff at most.
	from := time.Now()
	for i := 0; time.Since(from) < 5*time.Second; i++ {
		rs[i%3].askAbout(t, fmt.Sprintf("later question %d", i), "")
	}
	trials := alpha.since(from)
	t.Logf("alpha was reached %d times in %s after its breaker opened everywhere", len(trials), time.Since(from).Round(time.Millisecond))
	if len(trials) < 2 {
		t.Errorf("alpha was tried %d times in 5 backoffs of 1s; the fleet's trials should go on (want at least 2)", len(trials))
	}
	for i := 1; i < len(trials); i++ {
		if gap := trials[i].Sub(trials[i-1]); gap < 900*time.Millisecond {
			t.Errorf("trials %d and %d reached alpha %s apart: two trials in one backoff of 1s", i, i+1, gap)
		}
	}
	if t.Failed() {
		for _, r := range rs {
			t.Logf("replica %s's log:\n%s", r.name, r.logs)
		}
	}
}

// admin sends an admin API call to the replica and fails the test unless it
// is answered 200.
func (r *replica) admin(t *testing.T, method, path, body string) string {
	t.Helper()
	req, _ := http.NewRequest(method, strings.TrimSuffix(r.base, "/v1")+"/admin/v1/"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+fleetAdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("replica %s: %v", r.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("replica %s: %s %s answered %d: %s", r.name, method, path, resp.StatusCode, b)
	}
	return string(b)
}

var betaID = config.EndpointID("test/model", "beta")

// A 429 with Retry-After that one replica gets keeps all three away from
// the provider until it ends: the cooldown belongs to the account.
func TestFleetSharesACooldown(t *testing.T) {
	redis := redistest.Start(t)
	alpha, beta := newUpstream(t, "alpha"), newUpstream(t, "beta")
	rs := startFleet(t, redis, 3, alpha, beta)
	alpha.mode.Store("429")
	first := alpha.since(time.Time{})
	if got := rs[0].ask(t, `,"provider":{"order":["alpha","beta"]}`); got != "beta" {
		t.Fatalf("with alpha rate limited, %s answered; want beta", got)
	}
	if n := len(alpha.since(time.Time{})) - len(first); n != 1 {
		t.Fatalf("alpha got %d requests; want the one it answered 429", n)
	}
	for _, r := range rs {
		r.waitSnapshot(t, "seeing alpha cool down", func(s *monitor.Snapshot) bool { return s.Status(alphaID).State == monitor.CoolingDown })
	}
	from := time.Now()
	for i := range 30 {
		if got := rs[i%3].ask(t, `,"provider":{"order":["alpha","beta"]}`); got != "beta" {
			t.Errorf("request %d through %s: %s answered; want beta while alpha cools down", i, rs[i%3].name, got)
		}
	}
	if n := len(alpha.since(from)); n != 0 {
		t.Errorf("alpha got %d requests from the fleet during the cooldown its 429 asked for; want 0", n)
	}
	if why := rs[2].s.mon.Snapshot().Status(alphaID).Reason; !strings.Contains(why, "cooling down") {
		t.Errorf("r3 says of alpha %q; want it cooling down", why)
	}
}

// Turning an endpoint off through one replica's admin API turns it off on
// all, saying who did it and where; turning it on through another turns it
// on everywhere.
func TestFleetSharesAToggle(t *testing.T) {
	redis := redistest.Start(t)
	alpha, beta := newUpstream(t, "alpha"), newUpstream(t, "beta")
	rs := startFleet(t, redis, 3, alpha, beta)
	rs[0].admin(t, http.MethodPost, "endpoints/"+betaID, `{"enabled":false}`)
	for _, r := range rs {
		r.waitSnapshot(t, "seeing beta off", func(s *monitor.Snapshot) bool { return s.Status(betaID).State == monitor.Disabled })
	}
	if by := rs[1].s.mon.Snapshot().Status(betaID).OffBy; !strings.Contains(by, "admin API") || !strings.Contains(by, "replica r1") {
		t.Errorf("r2 says beta was turned off by %q; want the admin API, on replica r1", by)
	}
	from := time.Now()
	for i := range 30 {
		if got := rs[i%3].ask(t, `,"provider":{"order":["beta","alpha"]}`); got != "alpha" {
			t.Errorf("request %d through %s: %s answered; want alpha while beta is off", i, rs[i%3].name, got)
		}
	}
	if n := len(beta.since(from)); n != 0 {
		t.Errorf("beta got %d requests from the fleet while turned off; want 0", n)
	}
	rs[1].admin(t, http.MethodPost, "endpoints/"+betaID, `{"enabled":true}`)
	for _, r := range rs {
		r.waitSnapshot(t, "seeing beta on again", func(s *monitor.Snapshot) bool { return s.Status(betaID).State != monitor.Disabled })
	}
}

// waitHeard waits until the replica has taken in news of kind from another.
func (r *replica) waitHeard(t *testing.T, kind byte) {
	t.Helper()
	guard := time.NewTimer(fleetWait)
	defer guard.Stop()
	for {
		select {
		case k := <-r.s.node.Heard():
			if k == kind {
				return
			}
		case <-guard.C:
			t.Fatalf("replica %s heard no news %q within %s", r.name, kind, fleetWait)
		}
	}
}

// A conversation stays on the endpoint that served it whichever replica
// serves its next requests: beta served its first (asked for by order),
// and though alpha is every replica's first choice by price, the
// conversation's later requests through r2, r3 and r1 in turn go to beta.
func TestFleetSharesStickySessions(t *testing.T) {
	redis := redistest.Start(t)
	alpha, beta := newUpstream(t, "alpha"), newUpstream(t, "beta")
	rs := startFleet(t, redis, 3, alpha, beta)
	for _, r := range rs[1:] {
		for len(r.s.node.Heard()) > 0 {
			<-r.s.node.Heard()
		}
	}
	if got := rs[0].ask(t, `,"session_id":"conv-1","provider":{"order":["beta"]}`); got != "beta" {
		t.Fatalf("the conversation's first request went to %s; want beta, as ordered", got)
	}
	for _, r := range rs[1:] {
		r.waitHeard(t, cluster.NewsSticky)
	}
	for i := 1; i <= 9; i++ {
		r := rs[i%3]
		if got := r.ask(t, `,"session_id":"conv-1"`); got != "beta" {
			t.Errorf("request %d of the conversation, through %s, went to %s; want beta, which served it first", i+1, r.name, got)
		}
	}
	// Another conversation, with no history, goes by price: the test
	// would prove nothing if every request went to beta anyway.
	if got := rs[1].ask(t, `,"session_id":"conv-2"`); got != "alpha" {
		t.Errorf("a new conversation went to %s; want alpha, the cheaper", got)
	}

	// The endpoints API says whose its figures are: beta's are the
	// fleet's (10 answers), r2's own beside them (3).
	var answer struct {
		Data struct {
			Endpoints []struct {
				ProviderName string `json:"provider_name"`
				Figures      string `json:"figures"`
				Replica      struct {
					Name     string `json:"name"`
					Requests int    `json:"requests_last_5m"`
				} `json:"replica"`
			} `json:"endpoints"`
		} `json:"data"`
	}
	// Every replica counts the fleet's answers, and reads the same
	// percentiles from them. Their probes, each replica's own, go out
	// with its next tally: a replica may have heard of another's last one
	// or not yet, so the requests compared are those that were not.
	var seen []monitor.EndpointStatus
	for _, r := range rs {
		r.waitSnapshot(t, "counting beta's 10 answers", func(s *monitor.Snapshot) bool { return s.Status(betaID).Successes == 10 })
		seen = append(seen, *r.s.mon.Snapshot().Status(betaID))
	}
	for i, st := range seen[1:] {
		if st.Requests-st.Probes != seen[0].Requests-seen[0].Probes || st.TTFT != seen[0].TTFT || st.Availability != seen[0].Availability {
			t.Errorf("%s sees beta as %d requests but probes, ttft %v, %v available; r1 as %d, %v, %v", rs[i+1].name,
				st.Requests-st.Probes, st.TTFT, st.Availability, seen[0].Requests-seen[0].Probes, seen[0].TTFT, seen[0].Availability)
		}
	}
	resp, err := http.Get(rs[1].base + "/models/test/model/endpoints")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		t.Fatal(err)
	}
	for _, e := range answer.Data.Endpoints {
		// r2 sent beta 3 of the conversation's requests, and may have
		// probed it once before the fleet was linked: its own, not the
		// fleet's 10 answers.
		if e.ProviderName == "beta" && (e.Figures != "fleet" || e.Replica.Name != "r2" || e.Replica.Requests < 3 || e.Replica.Requests > 4) {
			t.Errorf("r2's endpoints API on beta: figures %q, replica %+v; want the fleet's, and r2's own 3 requests (4 with a probe)", e.Figures, e.Replica)
		}
	}
	// And its metrics, likewise.
	metrics := rs[1].get(t, "/metrics")
	for _, want := range []string{`switchboard_cluster_linked{replica="r2"} 1`, `switchboard_cluster_replicas{replica="r2"} 3`,
		`switchboard_endpoint_replica_availability{endpoint="test/model@beta",model="test/model",provider="beta"} 1`,
		`switchboard_endpoint_window_requests{endpoint="test/model@beta",kind="success",model="test/model",provider="beta"} 10`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("r2's /metrics lacks %s", want)
		}
	}
}

// get reads path from the replica's root (not under /v1), failing the test
// unless it answers 200.
func (r *replica) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get(strings.TrimSuffix(r.base, "/v1") + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("replica %s: GET %s answered %d: %s", r.name, path, resp.StatusCode, b)
	}
	return string(b)
}

// Redis killed mid-run and started again, empty: not one request fails;
// every replica says once that it lost the fleet, carries on alone (ready,
// saying why in /readyz), and says once that it rejoined; and what changed
// meanwhile converges: an endpoint turned off on one replica while Redis
// was gone is off on all once it is back.
func TestFleetOutlivesRedis(t *testing.T) {
	redis := redistest.Start(t)
	alpha, beta := newUpstream(t, "alpha"), newUpstream(t, "beta")
	rs := startFleet(t, redis, 3, alpha, beta)

	var failed, sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := w; ; i += 3 {
				select {
				case <-stop:
					return
				default:
				}
				body := `{"model":"test/model","messages":[{"role":"user","content":"hi"}],"max_tokens":5}`
				resp, err := http.Post(rs[i%3].base+"/chat/completions", "application/json", strings.NewReader(body))
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()

	redis.Kill()
	for _, r := range rs {
		r.waitSnapshot(t, "unlinked", func(s *monitor.Snapshot) bool { return !s.Fleet.Linked })
	}
	resp, err := http.Get(strings.TrimSuffix(rs[0].base, "/v1") + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	ready, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(ready), "out of reach") {
		t.Errorf("/readyz with Redis gone: %d %s; want 200, saying Redis is out of reach", resp.StatusCode, ready)
	}
	if m := rs[0].get(t, "/metrics"); !strings.Contains(m, `switchboard_cluster_linked{replica="r1"} 0`) {
		t.Errorf("r1's /metrics with Redis gone does not say it is cut off")
	}
	rs[0].admin(t, http.MethodPost, "endpoints/"+betaID, `{"enabled":false}`)

	redis.Restart()
	for _, r := range rs {
		r.waitSnapshot(t, "linked again, seeing every replica, beta off", func(s *monitor.Snapshot) bool {
			return s.Fleet.Linked && len(s.Fleet.Replicas) == 3 && s.Status(betaID).State == monitor.Disabled
		})
	}
	close(stop)
	wg.Wait()
	stop = make(chan struct{})
	// The fleet works as one again: beta turned on through one replica
	// is on everywhere.
	rs[2].admin(t, http.MethodPost, "endpoints/"+betaID, `{"enabled":true}`)
	for _, r := range rs {
		r.waitSnapshot(t, "seeing beta on", func(s *monitor.Snapshot) bool { return s.Status(betaID).State != monitor.Disabled })
	}
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed while Redis died and came back; want none", failed.Load(), sent.Load())
	}
	t.Logf("%d requests, none failed", sent.Load())
	for _, r := range rs {
		logs := r.logs.String()
		if n := strings.Count(logs, "Redis is out of reach"); n != 1 {
			t.Errorf("replica %s said %d times that Redis is out of reach; want once", r.name, n)
		}
		if n := strings.Count(logs, "rejoined the fleet"); n != 1 {
			t.Errorf("replica %s said %d times that it rejoined; want once", r.name, n)
		}
		if strings.Contains(logs, "another replica has this replica's name") {
			t.Errorf("replica %s took another for its twin", r.name)
		}
	}
}
