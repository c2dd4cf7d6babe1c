package cluster_test

import (
	"bytes"
	"context"
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
	mon  *monitor.Monitor
	n    *cluster.Node
	logs *syncBuffer
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
	t.Cleanup(func() { cancel(); <-done })
	return &node{mon: mon, n: n, logs: logs}
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

// A Redis that does not answer at all (a port that accepts and says
// nothing) costs a replica no more than the timeout per round: it says once
// that Redis is out of reach, and the monitor works alone meanwhile.
func TestSilentRedisUnlinks(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	conns.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		l.Close()
		conns.Wait()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
	})
	x := startNode(t, "redis://"+l.Addr().String(), "a", cluster.Options{Timeout: 100 * time.Millisecond})
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
