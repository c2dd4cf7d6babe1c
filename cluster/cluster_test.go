package cluster_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"switchboard/cluster"
	"switchboard/cluster/redistest"
	"switchboard/monitor"
	"switchboard/provider"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// node is a replica of one endpoint, linked through redisURL, running until
// the test ends; logs collect what it says.
type node struct {
	mon      *monitor.Monitor
	n        *cluster.Node
	logs     *syncBuffer
	stopNode func() // stops the node, as a crash would stop it talking to Redis
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startNode(t *testing.T, redisURL, name string, o cluster.Options) *node {
	t.Helper()
	mon, err := monitor.New(monitor.Options{}, []monitor.Endpoint{{ID: "m@p", Provider: "p", Model: "m"}})
	if err != nil {
		t.Fatal(err)
	}
	o.RedisURL, o.Replica, o.Monitor, o.Prefix = redisURL, name, mon, "test-"+strings.ReplaceAll(t.Name(), "/", "-")
	n, err := cluster.New(o)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	n.LogTo(slog.New(slog.NewTextHandler(logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return &node{mon: mon, n: n, logs: logs, stopNode: stop}
}

// waitFleet waits for a snapshot of the node's whose fleet meets cond.
func (x *node) waitFleet(t *testing.T, what string, cond func(*monitor.FleetStatus) bool) {
	t.Helper()
	x.waitSnapshot(t, what, func(s *monitor.Snapshot) bool { return cond(s.Fleet) })
}

// waitStatus waits for a snapshot of the node's whose endpoint meets cond.
func (x *node) waitStatus(t *testing.T, what string, cond func(*monitor.EndpointStatus) bool) {
	t.Helper()
	x.waitSnapshot(t, what, func(s *monitor.Snapshot) bool { return cond(s.Status("m@p")) })
}

// waitSnapshot waits for a snapshot the node's monitor publishes (its Run
// must be running) that meets cond.
func (x *node) waitSnapshot(t *testing.T, what string, cond func(*monitor.Snapshot) bool) {
	t.Helper()
	if cond(x.mon.Snapshot()) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for s := range x.mon.Subscribe(ctx) {
		if cond(s) {
			return
		}
	}
	t.Fatalf("not %s within 10s: %+v", what, x.mon.Snapshot().Fleet)
}

// Two nodes link, see each other, and share what they count: an outcome
// recorded on one shows in the other's figures, not in its own.
func TestNodesShareTallies(t *testing.T) {
	redis := redistest.Start(t)
	a := startNode(t, redis.URL(), "a", cluster.Options{})
	b := startNode(t, redis.URL(), "b", cluster.Options{})
	// The monitors do not Run here (no probes, no publishing): snapshots
	// are read by hand.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.mon.Run(ctx)
	go b.mon.Run(ctx)
	for _, x := range []*node{a, b} {
		x.waitFleet(t, "linked with both", func(f *monitor.FleetStatus) bool { return f.Linked && len(f.Replicas) == 2 })
	}
	a.mon.Record("m@p", provider.Outcome{Class: provider.ClassOK, Duration: 40 * time.Millisecond, TTFT: 10 * time.Millisecond, OutputTokens: 5})
	b.waitStatus(t, "counting a's outcome", func(st *monitor.EndpointStatus) bool { return st.Requests == 1 })
	if st := b.mon.Snapshot().Status("m@p"); st.Here == nil || st.Here.Requests != 0 {
		t.Errorf("b counts a's outcome as its own: %+v", st.Here)
	}
	cancel()
}

// silentPort is a port on loopback that takes connections and says
// nothing on them, until passTo: from then on it passes new ones on to an
// address. Everything it opened closes with the test.
type silentPort struct {
	l     net.Listener
	conns sync.WaitGroup
	mu    sync.Mutex
	open  []net.Conn
	to    string // "" while silent
	done  bool   // the test ended: a connection taken now is closed at once
}

func newSilentPort(t *testing.T) *silentPort {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &silentPort{l: l}
	p.conns.Go(p.accept)
	t.Cleanup(func() {
		l.Close()
		p.mu.Lock()
		p.done = true
		for _, c := range p.open {
			c.Close()
		}
		p.mu.Unlock()
		p.conns.Wait()
	})
	return p
}

func (p *silentPort) addr() string { return p.l.Addr().String() }

// passTo passes the connections to come on to addr.
func (p *silentPort) passTo(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.to = addr
}

// hold keeps c to close at the end, and says where to pass it on ("" to
// keep it silent).
func (p *silentPort) hold(c net.Conn) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		c.Close()
		return ""
	}
	p.open = append(p.open, c)
	return p.to
}

func (p *silentPort) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		to := p.hold(c)
		if to == "" {
			continue // taken, never answered
		}
		up, err := net.Dial("tcp", to)
		if err != nil {
			c.Close()
			continue
		}
		p.hold(up)
		p.conns.Go(func() { _, _ = io.Copy(up, c); up.Close() })
		p.conns.Go(func() { _, _ = io.Copy(c, up); c.Close() })
	}
}

// A Redis that does not answer at all (a port that accepts and says
// nothing) costs a replica no more than the timeout per round: it says once
// that Redis is out of reach, and the monitor works alone meanwhile.
func TestSilentRedisUnlinks(t *testing.T) {
	port := newSilentPort(t)
	x := startNode(t, "redis://"+port.addr(), "a", cluster.Options{Timeout: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go x.mon.Run(ctx)
	x.waitFleet(t, "saying Redis is out of reach", func(f *monitor.FleetStatus) bool {
		return !f.Linked && strings.Contains(f.Detail, "out of reach")
	})
	// Admit and Record work on, as alone.
	for range 1000 {
		if _, ok := x.mon.Admit("m@p"); !ok {
			t.Fatal("an unlinked replica refused a request to a healthy endpoint")
		}
		x.mon.Record("m@p", provider.Outcome{Class: provider.ClassOK, Duration: time.Millisecond})
	}
	x.waitFleet(t, "still unlinked", func(f *monitor.FleetStatus) bool { return !f.Linked })
	cancel()
	if n := strings.Count(x.logs.String(), "out of reach"); n != 1 {
		t.Errorf("said %d times that Redis is out of reach; want once:\n%s", n, x.logs)
	}
}

// A replica that took a half-open breaker's trial and died cannot hold
// the fleet's trial: its lease runs out (LeaseTTL) and another replica's
// trial goes. While it lives, the other's does not. The test looks each
// time a snapshot is published.
func TestTrialLeaseOutlivesItsHolder(t *testing.T) {
	redis := redistest.Start(t)
	nodes := map[string]*node{}
	stops := map[string]func(){}
	for _, name := range []string{"a", "b"} {
		ctx, cancel := context.WithCancel(context.Background())
		x := startNode(t, redis.URL(), name, cluster.Options{}) // a lease of cluster.DefaultLeaseTTL, 3s: longer than the snapshots' 500ms the test looks at
		go x.mon.Run(ctx)
		t.Cleanup(cancel)
		nodes[name], stops[name] = x, cancel
		x.waitFleet(t, "linked", func(f *monitor.FleetStatus) bool { return f.Linked })
	}
	// Both open the breaker as one, its backoff ending at once.
	opened := monitor.Change{Kind: monitor.ChangeOpened, Endpoint: "m@p", Until: time.Now().Add(100 * time.Millisecond),
		Backoff: 100 * time.Millisecond, Why: "a test", At: time.Now()}
	nodes["a"].mon.Apply("z", opened)
	nodes["b"].mon.Apply("z", opened)

	// Whichever replica is granted the lease sends its trial, and no other
	// may meanwhile.
	var holder, other string
	deadline := time.After(10 * time.Second)
	snaps := nodes["a"].mon.Subscribe(t.Context())
	for holder == "" {
		for _, name := range []string{"a", "b"} {
			if _, ok := nodes[name].mon.Admit("m@p"); ok {
				holder = name
				break
			}
		}
		if holder != "" {
			break
		}
		select {
		case <-snaps:
		case <-deadline:
			t.Fatal("no replica was granted the trial within 10s")
		}
	}
	other = map[string]string{"a": "b", "b": "a"}[holder]
	if _, ok := nodes[other].mon.Admit("m@p"); ok {
		t.Fatalf("both %s and %s let a trial go in one round", holder, other)
	}

	// The holder dies with its trial out: its lease is renewed no more,
	// runs out, and the other's trial goes.
	stops[holder]()
	nodes[holder].stopNode()
	snaps = nodes[other].mon.Subscribe(t.Context())
	deadline = time.After(10 * time.Second)
	for {
		if _, ok := nodes[other].mon.Admit("m@p"); ok {
			break
		}
		select {
		case <-snaps:
		case <-deadline:
			st := nodes[other].mon.Snapshot()
			t.Fatalf("%s was not granted the trial within 10s of %s dying: breaker %s (%s), fleet %+v; %s said:\n%s",
				other, holder, st.Status("m@p").Breaker, st.Status("m@p").Reason, st.Fleet, other, nodes[other].logs)
		}
	}
}

// A replica links over TLS (rediss://) trusting the certificate authority
// of tls_ca_file, and with a password; one that trusts only the system's
// authorities, or gives a wrong password, does not link, and says why.
func TestLinksOverTLSWithAPassword(t *testing.T) {
	redis := redistest.StartTLS(t, "--requirepass", "s3cret-pw")
	linking := func(name string, o cluster.Options) *node {
		x := startNode(t, redis.URL(), name, o)
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go x.mon.Run(ctx)
		return x
	}
	// A TLS handshake under -race, on two cores busy with the other
	// packages' tests, took longer than the default half second: the
	// first failure a replica says is then a timeout, not the certificate
	// or the password this test waits for (it failed so in CI once).
	const slow = 5 * time.Second
	ok := linking("ok", cluster.Options{TLSCAFile: redis.CAFile, Password: "s3cret-pw", Timeout: slow})
	noCA := linking("no-ca", cluster.Options{Password: "s3cret-pw", Timeout: slow})
	badPW := linking("bad-pw", cluster.Options{TLSCAFile: redis.CAFile, Password: "wrong", Timeout: slow})
	ok.waitFleet(t, "linked over TLS", func(f *monitor.FleetStatus) bool { return f.Linked })
	noCA.waitFleet(t, "refusing a certificate it cannot verify", func(f *monitor.FleetStatus) bool {
		return !f.Linked && strings.Contains(f.Detail, "certificate")
	})
	badPW.waitFleet(t, "refused for its password", func(f *monitor.FleetStatus) bool {
		return !f.Linked && strings.Contains(f.Detail, "WRONGPASS")
	})
	for _, x := range []*node{ok, noCA, badPW} {
		if strings.Contains(x.logs.String(), "s3cret-pw") || strings.Contains(x.mon.Snapshot().Fleet.Detail, "s3cret-pw") {
			t.Errorf("the password is in what a replica says")
		}
	}
}

// A replica whose first failure only timed out (a Redis slow to answer)
// says why it stays out of reach once a later failure names a cause: here
// a certificate it cannot verify, reached through a port that first took
// connections and said nothing.
func TestATimeoutGivesWayToTheCause(t *testing.T) {
	redis := redistest.StartTLS(t)
	port := newSilentPort(t)
	// Long enough for a TLS handshake under -race on busy cores (see
	// TestLinksOverTLSWithAPassword).
	x := startNode(t, "rediss://"+port.addr(), "a", cluster.Options{Timeout: 3 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go x.mon.Run(ctx)
	x.waitFleet(t, "saying Redis timed out", func(f *monitor.FleetStatus) bool {
		return !f.Linked && strings.Contains(f.Detail, "out of reach") && strings.Contains(f.Detail, "deadline exceeded")
	})
	port.passTo(strings.TrimPrefix(redis.URL(), "rediss://"))
	x.waitFleet(t, "saying it cannot verify the certificate", func(f *monitor.FleetStatus) bool {
		return !f.Linked && strings.Contains(f.Detail, "certificate")
	})
	cancel()
	logs := x.logs.String()
	if strings.Count(logs, "Redis is out of reach") != 1 || strings.Count(logs, "Redis is still out of reach") != 1 ||
		!strings.Contains(logs, "certificate") {
		t.Errorf("the log does not say once that Redis is out of reach, then once why:\n%s", logs)
	}
}

// Two replicas given one name would take each other's news for their own
// and share nothing: each says so.
func TestTwoReplicasOfOneName(t *testing.T) {
	redis := redistest.Start(t)
	a := startNode(t, redis.URL(), "gw-1", cluster.Options{})
	b := startNode(t, redis.URL(), "gw-1", cluster.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.mon.Run(ctx)
	go b.mon.Run(ctx)
	for _, x := range []*node{a, b} {
		x.waitFleet(t, "linked", func(f *monitor.FleetStatus) bool { return f.Linked })
	}
	// Each heartbeat replaces the other's: within a few, both have seen it.
	for _, x := range []*node{a, b} {
		x.waitSnapshot(t, "saying its name is taken", func(*monitor.Snapshot) bool {
			return strings.Count(x.logs.String(), "another replica has this replica's name") == 1
		})
	}
}

// A replica that joins later takes in where the fleet stands: an endpoint
// another replica turned off, whose breaker it opened, and that is cooling
// down after a 429 (the same account: none, here).
func TestJoiningLateTakesInTheStanding(t *testing.T) {
	redis := redistest.Start(t)
	a := startNode(t, redis.URL(), "a", cluster.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.mon.Run(ctx)
	a.waitFleet(t, "linked", func(f *monitor.FleetStatus) bool { return f.Linked })
	if err := a.mon.SetEnabledBy("m@p", false, "alice"); err != nil {
		t.Fatal(err)
	}
	a.mon.Record("m@p", provider.Outcome{Class: provider.ClassRateLimited, RetryAfter: time.Minute})
	for range 3 {
		a.mon.Record("m@p", provider.Outcome{Class: provider.ClassServer})
	}
	a.waitStatus(t, "down", func(st *monitor.EndpointStatus) bool { return st.Breaker == monitor.BreakerOpen })

	b := startNode(t, redis.URL(), "b", cluster.Options{})
	go b.mon.Run(ctx)
	b.waitStatus(t, "off, open and cooling down as a left it", func(st *monitor.EndpointStatus) bool {
		return !st.Enabled && st.Breaker == monitor.BreakerOpen && !st.CooldownUntil.IsZero()
	})
	if by := b.mon.Snapshot().Status("m@p").OffBy; by != "alice on replica a" {
		t.Errorf("b says it was turned off by %q; want alice on replica a", by)
	}
}
