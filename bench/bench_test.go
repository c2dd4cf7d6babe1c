package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
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
