package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"switchboard/config"
)

// loopback starts h on 127.0.0.1 for the test.
func loopback(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/v1"
}

// The mock's answers pass the load generator's checks, directly and
// through the bare proxy, streamed and not, and the mock counts the
// connections it accepts.
func TestMockAnswersAreWhole(t *testing.T) {
	m := &mockUpstream{bodies: newMockBodies()}
	srv := httptest.NewUnstartedServer(m)
	srv.Config.ConnState = m.connState
	srv.Start()
	t.Cleanup(srv.Close)
	upBase := srv.URL + "/v1"
	u, err := url.Parse(upBase)
	if err != nil {
		t.Fatal(err)
	}
	proxyBase := loopback(t, bareProxy(u, 4))
	for _, base := range []string{upBase, proxyBase} {
		for _, stream := range []bool{false, true} {
			r := load(context.Background(), base, stream, 2, 50*time.Millisecond)
			if r.errors != 0 || r.ok == 0 {
				t.Errorf("%s stream=%v: %d whole answers, %d errors: %v", base, stream, r.ok, r.errors, r.firstErrs)
			}
		}
	}
	up := &child{name: "upstream", base: upBase}
	n, err := up.conns(&http.Client{})
	if err != nil {
		t.Fatal(err)
	}
	// Each direct run opens a connection per client, two runs of two; the
	// proxy opens at least one; and this question one.
	if n < 6 {
		t.Errorf("the mock counted %d connections; at least 6 were opened", n)
	}
}

// Every way an answer can fall short fails the check.
func TestChecksRefuseAPartialAnswer(t *testing.T) {
	b := newMockBodies()
	whole := bytes.Join(b.events, nil)
	if err := checkStream(bytes.NewReader(whole)); err != nil {
		t.Fatalf("the whole stream fails the check: %v", err)
	}
	last := len(b.events) - 1 // [DONE]
	without := func(i int) []byte {
		return bytes.Join(append(append([][]byte{}, b.events[:i]...), b.events[i+1:]...), nil)
	}
	streams := map[string][]byte{
		"a content chunk missing": without(3),
		"no finish reason":        without(last - 2),
		"no usage chunk":          without(last - 1),
		"no [DONE]":               without(last),
		"cut mid-event":           whole[:len(whole)/2],
		"an error event":          append(bytes.Join(b.events[:5], nil), []byte("data: {\"error\":{\"message\":\"upstream failed\"}}\n\n")...),
	}
	for name, s := range streams {
		if err := checkStream(bytes.NewReader(s)); err == nil {
			t.Errorf("%s: the check passes", name)
		}
	}
	if err := checkCompletion(bytes.NewReader(b.json)); err != nil {
		t.Fatalf("the whole completion fails the check: %v", err)
	}
	completions := map[string]string{
		"content cut":     strings.Replace(string(b.json), "long.", "lo", 1),
		"finish reason":   strings.Replace(string(b.json), `"finish_reason":"stop"`, `"finish_reason":"length"`, 1),
		"not JSON":        string(b.json[:40]),
		"an error answer": `{"error":{"message":"no endpoint"}}`,
	}
	for name, c := range completions {
		if err := checkCompletion(strings.NewReader(c)); err == nil {
			t.Errorf("%s: the check passes", name)
		}
	}
}

// -words makes every answer that long, the sentence said again and again:
// the mock's events and completion carry it whole, and the checks take
// it; the default is the sentence once.
func TestAnswerOfWords(t *testing.T) {
	defer setAnswer(20)
	if answer != sentence {
		t.Fatalf("the default answer is %q", answer)
	}
	setAnswer(45)
	if n := len(strings.Fields(answer)); n != 45 || !strings.HasPrefix(answer, sentence+" "+sentence+" Switchboard") {
		t.Fatalf("45 words: %d words, %q", n, answer)
	}
	b := newMockBodies()
	if len(b.events) != 45+3 {
		t.Errorf("%d events for 45 words; want a chunk a word, the finish, the usage and [DONE]", len(b.events))
	}
	if err := checkStream(bytes.NewReader(bytes.Join(b.events, nil))); err != nil {
		t.Errorf("the stream: %v", err)
	}
	if err := checkCompletion(bytes.NewReader(b.json)); err != nil {
		t.Errorf("the completion: %v", err)
	}
}

// Each Switchboard's figures over the floor's come from the runs of the
// same rep: the added p50s both over the rep's direct run.
func TestAgainstFloor(t *testing.T) {
	o := options{conc: 4, reps: 2, modes: allModes[:1]}
	rec := newRecord(o)
	run := func(lat time.Duration, ok int, cpu time.Duration) sample {
		return sample{result: loadResult{ok: ok, elapsed: time.Second, latencies: []time.Duration{lat}}, cpu: cpu}
	}
	for rep, slow := range []time.Duration{0, 100 * time.Microsecond} { // the second rep: everything slower alike
		for _, conc := range []int{1, 4} {
			rec.add("direct", "non-stream", conc, run(100*time.Microsecond+slow, 4000, 0))
			rec.add("proxy", "non-stream", conc, run(300*time.Microsecond+slow, 2000, time.Duration(rep+1)*time.Second))
			rec.add("switchboard", "non-stream", conc, run(700*time.Microsecond+slow, 1000, time.Duration(rep+1)*time.Second))
		}
	}
	var b strings.Builder
	rec.againstFloor(&b, []target{{name: "switchboard", label: "sb"}}, "non-stream",
		func(f func(string) string) string { return f("non-stream") })
	if want := "| sb | 3.00 (3.00…3.00) | 0.50 (0.50…0.50) | 2.00 (2.00…2.00) |"; !strings.Contains(b.String(), want) {
		t.Errorf("no %q in\n%s", want, b.String())
	}
}

// A failing status fails the round trip, with the status in the error.
func TestRoundTripRefusesAnErrorStatus(t *testing.T) {
	base := loopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":{"message":"overloaded"}}`, http.StatusServiceUnavailable)
	}))
	err := roundTrip(context.Background(), http.DefaultClient, base+"/chat/completions", requestBody(false), false)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("a 503 gives %v", err)
	}
}

// The generated configuration is one Switchboard accepts, with the
// endpoints asked for, all at the mock.
func TestSwitchboardConfigLoads(t *testing.T) {
	const up = "http://127.0.0.1:9/v1"
	cfg, err := config.Parse("bench.toml", []byte(switchboardConfig(up, 10)), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Providers) != 10 {
		t.Errorf("%d providers, not 10", len(cfg.Providers))
	}
	for _, p := range cfg.Providers {
		if p.BaseURL != up {
			t.Errorf("provider %s is at %q, not the mock", p.Name, p.BaseURL)
		}
	}
	if host, _, _ := net.SplitHostPort(cfg.Gateway.Listen); host != "127.0.0.1" {
		t.Errorf("the gateway listens on %q, not loopback", cfg.Gateway.Listen)
	}
}

// The first lines the servers print give their base URLs; anything else,
// or an address off loopback, is refused.
func TestListeningLines(t *testing.T) {
	if base, ok := benchListening(listeningPrefix + "127.0.0.1:4000"); !ok || base != "http://127.0.0.1:4000/v1" {
		t.Errorf("bench child: %q %v", base, ok)
	}
	if _, ok := benchListening("panic: oops"); ok {
		t.Error("a bench child's panic is taken for its address")
	}
	line := "switchboard: OpenAI-compatible API on http://127.0.0.1:4001/v1 (models: bench/model)"
	if base, ok := serveListening(line); !ok || base != "http://127.0.0.1:4001/v1" {
		t.Errorf("serve: %q %v", base, ok)
	}
	if _, ok := serveListening("switchboard: OpenAI-compatible API on http://0.0.0.0:4001/v1 (models: m)"); ok {
		t.Error("serve listening on every interface is taken")
	}
}

// The CPU counters read as this process's own time and the machine's.
func TestCPUCounters(t *testing.T) {
	self, err := procCPU("self")
	if err != nil {
		t.Fatal(err)
	}
	busy, err := machineBusy()
	if err != nil {
		t.Fatal(err)
	}
	if self < 0 || busy < self {
		t.Errorf("this process used %v, the machine %v", self, busy)
	}
}

// The cluster target's configuration is the single one's with a
// [cluster] table naming the fleet's Redis and the replica.
func TestClusterConfigLoads(t *testing.T) {
	const up, redis = "http://127.0.0.1:9/v1", "redis://127.0.0.1:6380"
	cfg, err := config.Parse("bench.toml", []byte(clusterConfig(up, 3, redis, replicaName)), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Providers) != 3 {
		t.Errorf("%d providers, not 3", len(cfg.Providers))
	}
	if cfg.Cluster.RedisURL != redis || cfg.Cluster.Replica != replicaName {
		t.Errorf("the cluster table is %+v", cfg.Cluster)
	}
}

// A chatty child's ready line may come after others; anyone else's must
// come first, and another first line fails the start at once.
func TestStartWaitsForTheReadyLine(t *testing.T) {
	dir := t.TempDir()
	var cs children
	t.Cleanup(cs.stopAll)
	const script = `echo starting; echo still starting; echo "ready at 127.0.0.1:1"; exec sleep 60`
	ready := func(line string) (string, bool) { return strings.CutPrefix(line, "ready at ") }
	c, err := cs.start(context.Background(), "chatty", dir, exec.Command("sh", "-c", script), readiness{parse: ready, chatty: true})
	if err != nil || c.base != "127.0.0.1:1" {
		t.Fatalf("a chatty child: %v, base %q", err, c.base)
	}
	_, err = cs.start(context.Background(), "terse", dir, exec.Command("sh", "-c", script), readiness{parse: ready})
	if err == nil || !strings.Contains(err.Error(), `"starting"`) {
		t.Errorf("a child whose first line is not the ready one: %v", err)
	}
	_, err = cs.start(context.Background(), "quitter", dir, exec.Command("sh", "-c", "echo starting; echo oops >&2; exit 3"), readiness{parse: ready, chatty: true})
	if err == nil || !strings.Contains(err.Error(), "starting") || !strings.Contains(err.Error(), "oops") {
		t.Errorf("a child that exits at start: %v", err)
	}
}

// redis-server starts on a free port, says so, and stops with the rest.
// Without redis-server the test is skipped (the harness needs it only for
// -cluster), except under CI, which installs it.
func TestRedisStarts(t *testing.T) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not installed; .ci/run installs it")
		}
		t.Skip("redis-server is not installed")
	}
	if v := redisVersion(path); v == "" {
		t.Error("redis-server --version gives no version")
	}
	var cs children
	r, err := startRedis(context.Background(), &cs, t.TempDir(), path)
	if err != nil {
		cs.stopAll()
		t.Fatal(err)
	}
	u, err := url.Parse(r.base)
	if err != nil || u.Scheme != "redis" {
		t.Fatalf("redis listens at %q", r.base)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatalf("redis does not accept connections: %v", err)
	}
	conn.Close()
	cs.stopAll()
	select {
	case <-r.done:
	default:
		t.Error("redis still runs after stopAll")
	}
}

// Only a fleet where every replica is linked and sees them all is formed.
func TestFleetFormed(t *testing.T) {
	answer := func(body string) *child {
		return &child{name: "replica", base: loopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/readyz" {
				http.NotFound(w, r)
				return
			}
			io.WriteString(w, body)
		}))}
	}
	a := answer(`{"status":"ready","cluster":{"replica":"a","linked":true,"replicas":2}}`)
	b := answer(`{"status":"ready","cluster":{"replica":"b","linked":true,"replicas":2}}`)
	if err := fleetFormed([]*child{a, b}); err != nil {
		t.Errorf("two linked replicas that see each other: %v", err)
	}
	for name, c := range map[string]*child{
		"alone":     answer(`{"status":"ready"}`),
		"unlinked":  answer(`{"status":"ready","cluster":{"replica":"b","linked":false,"replicas":0,"detail":"Redis at x out of reach"}}`),
		"seen late": answer(`{"status":"ready","cluster":{"replica":"b","linked":true,"replicas":1}}`),
	} {
		if err := fleetFormed([]*child{a, c}); err == nil {
			t.Errorf("%s: the fleet is taken as formed", name)
		}
	}
}

// The peer's trickle is paced, and every answer checked.
func TestTrickle(t *testing.T) {
	base := loopback(t, &mockUpstream{bodies: newMockBodies()})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	r := trickle(ctx, base, 50)
	if r.errors != 0 || r.ok < 5 || r.ok > 20 {
		t.Errorf("50 a second for 300ms: %d whole answers, %d errors %v", r.ok, r.errors, r.firstErrs)
	}
}

// With -cluster or -base the Switchboards run in the reverse order every
// other rep; the rest keep their places.
func TestRepOrder(t *testing.T) {
	names := func(ts []target) string {
		var s []string
		for _, t := range ts {
			s = append(s, t.name)
		}
		return strings.Join(s, " ")
	}
	four := []target{{name: "direct"}, {name: "proxy"}, {name: "switchboard"}, {name: "cluster"}}
	if got := names(repOrder(four, 0)); got != "direct proxy switchboard cluster" {
		t.Errorf("rep 0: %s", got)
	}
	if got := names(repOrder(four, 1)); got != "direct proxy cluster switchboard" {
		t.Errorf("rep 1: %s", got)
	}
	if names(four) != "direct proxy switchboard cluster" {
		t.Error("repOrder changed its argument")
	}
	if got := names(repOrder(four[:3], 1)); got != "direct proxy switchboard" {
		t.Errorf("alone, rep 1: %s", got)
	}
	five := []target{{name: "direct"}, {name: "proxy"}, {name: "switchboard"}, {name: "base"}, {name: "cluster"}}
	if got := names(repOrder(five, 1)); got != "direct proxy cluster base switchboard" {
		t.Errorf("with -base and -cluster, rep 1: %s", got)
	}
}

// A replica that logged the loss of Redis after the runs began did not
// stay linked, even if it is linked again at the end; what it logged
// before does not count.
func TestStayedLinked(t *testing.T) {
	dir := t.TempDir()
	replica := func(name, log string) *child {
		f, err := os.Create(dir + "/" + name + ".stderr")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		io.WriteString(f, log)
		base := loopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"status":"ready","cluster":{"replica":"`+name+`","linked":true,"replicas":2}}`)
		}))
		return &child{name: name, base: base, stderr: f}
	}
	lost := `level=WARN msg="cluster: Redis is out of reach; this replica carries on with its own health"` + "\n"
	f := &fleet{replica: replica("a", "level=INFO msg=start\n"), peer: replica("b", lost)}
	from := f.logSizes()
	if err := f.stayedLinked(from); err != nil {
		t.Errorf("a loss before the runs counts: %v", err)
	}
	io.WriteString(f.replica.stderr, "level=INFO msg=request\n"+lost)
	if err := f.stayedLinked(from); err == nil || !strings.Contains(err.Error(), "a lost Redis") {
		t.Errorf("a loss during the runs: %v", err)
	}
}

// The cluster table divides each figure of the cluster run by the single
// run's of the same rep.
func TestClusterRatios(t *testing.T) {
	o := options{conc: 4, reps: 1, modes: allModes[:1]}
	rec := newRecord(o)
	run := func(lat time.Duration, ok int, cpu time.Duration, mallocs uint64) sample {
		return sample{result: loadResult{ok: ok, elapsed: time.Second, latencies: []time.Duration{lat}}, cpu: cpu, mallocs: mallocs}
	}
	for _, conc := range []int{1, 4} {
		rec.add("direct", "non-stream", conc, run(100*time.Microsecond, 1000, 0, 0))
		rec.add("switchboard", "non-stream", conc, run(500*time.Microsecond, 1000, time.Second, 200_000))
		rec.add("cluster", "non-stream", conc, run(600*time.Microsecond, 800, time.Second, 200_000))
	}
	var b strings.Builder
	rec.clusterRatios(&b)
	for _, want := range []string{
		"| p50, c=1 | 1.200 |",
		"| added p50, c=1 | 1.250 |",
		"| req/s, c=4 | 0.800 |",
		"| CPU s per 10k requests, c=4 | 1.250 |",
		"| allocations per request, c=4 | 1.250 |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
}
