// Package simtest starts simulated providers for tests: fast by default, so
// a test spends its time on the behaviour it checks, and closed when the
// test ends.
package simtest

import (
	"testing"
	"time"

	"switchboard/sim"
)

// Start starts a simulated provider from p, filling what p leaves unset: a
// first token in about a millisecond, 20,000 tokens per second, the name
// "simmed", and the model "m". The server is closed when the test ends.
func Start(t testing.TB, p sim.Profile) *sim.Server {
	t.Helper()
	if p.Name == "" {
		p.Name = "simmed"
	}
	if len(p.Models) == 0 {
		p.Models = []string{"m"}
	}
	if p.TTFT.P50 == 0 {
		p.TTFT = sim.Latency{P50: time.Millisecond, P95: 2 * time.Millisecond}
	}
	if p.TokensPerSecond == 0 {
		p.TokensPerSecond = 20000
	}
	srv, err := sim.Start(p, sim.Options{})
	if err != nil {
		t.Fatalf("starting simulated provider %s: %v", p.Name, err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}
