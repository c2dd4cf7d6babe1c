package gateway

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"switchboard/monitor"
	"switchboard/monitor/monitortest"
	"switchboard/provider"
)

// The fleet of the metrics tests: groq answers every time, together fails
// three times in a row (an outage), anthropic has seen nothing yet.
const (
	metricsLlama  = "llama-3.3-70b"
	metricsClaude = "claude-sonnet-4"
	metricsGroq   = "groq/llama"
	metricsTogeth = "together/llama"
	metricsAnthro = "anthropic/claude"
)

// newMetricsFixture returns metrics over a real monitor fed with the
// fleet's traffic, and an httptest server serving them.
func newMetricsFixture(t *testing.T) (*metrics, *httptest.Server) {
	t.Helper()
	clock := monitortest.NewClock()
	mon, err := monitor.New(monitor.Options{Clock: clock}, []monitor.Endpoint{
		{ID: metricsGroq, Provider: "groq", Model: metricsLlama},
		{ID: metricsTogeth, Provider: "together", Model: metricsLlama},
		{ID: metricsAnthro, Provider: "anthropic", Model: metricsClaude},
	})
	if err != nil {
		t.Fatal(err)
	}
	ok := provider.Outcome{Class: provider.ClassOK, TTFT: 200 * time.Millisecond, Duration: time.Second, OutputTokens: 80}
	for range 10 {
		mon.Record(metricsGroq, ok)
		clock.Advance(2 * time.Second)
	}
	mon.Record(metricsTogeth, ok)
	mon.Record(metricsTogeth, ok)
	for range 3 { // three provider errors in a row make an outage
		mon.Record(metricsTogeth, provider.Outcome{Class: provider.ClassServer, Status: 502})
	}
	mon.RecordRequest(metricsLlama, provider.ClassOK)

	m := newMetrics(mon, []string{metricsLlama, metricsClaude})
	srv := httptest.NewServer(m.handler())
	t.Cleanup(srv.Close)
	return m, srv
}

// scrape fetches the metrics over HTTP, as Prometheus does, and parses them.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d, want 200", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// series returns the series of a family whose labels include want, or nil.
func series(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	for _, m := range fams[name].GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if containsAll(got, want) {
			return m
		}
	}
	return nil
}

// containsAll reports whether every label of want is in got with its value.
func containsAll(got, want map[string]string) bool {
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			return false
		}
	}
	return true
}

// value is the number a gauge or counter series holds.
func value(m *dto.Metric) float64 {
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return m.GetCounter().GetValue()
}

func TestMetricsEndpointUpAndStateFollowTheMonitor(t *testing.T) {
	_, srv := newMetricsFixture(t)
	const want = `
# HELP switchboard_endpoint_up 1 when the endpoint answers (healthy or degraded), else 0.
# TYPE switchboard_endpoint_up gauge
switchboard_endpoint_up{endpoint="anthropic/claude",model="claude-sonnet-4",provider="anthropic"} 1
switchboard_endpoint_up{endpoint="groq/llama",model="llama-3.3-70b",provider="groq"} 1
switchboard_endpoint_up{endpoint="together/llama",model="llama-3.3-70b",provider="together"} 0
# HELP switchboard_endpoint_breaker_open 1 when the endpoint's circuit breaker is open or half-open.
# TYPE switchboard_endpoint_breaker_open gauge
switchboard_endpoint_breaker_open{endpoint="anthropic/claude",model="claude-sonnet-4",provider="anthropic"} 0
switchboard_endpoint_breaker_open{endpoint="groq/llama",model="llama-3.3-70b",provider="groq"} 0
switchboard_endpoint_breaker_open{endpoint="together/llama",model="llama-3.3-70b",provider="together"} 1
`
	if err := testutil.ScrapeAndCompare(srv.URL, strings.NewReader(want),
		"switchboard_endpoint_up", "switchboard_endpoint_breaker_open"); err != nil {
		t.Error(err)
	}

	// Every state has a series per endpoint, 1 only for the current one.
	fams := scrape(t, srv.URL)
	for id, current := range map[string]string{metricsGroq: "healthy", metricsTogeth: "down", metricsAnthro: "healthy"} {
		for _, st := range []string{"healthy", "degraded", "cooling", "down", "disabled"} {
			s := series(fams, "switchboard_endpoint_state", map[string]string{"endpoint": id, "state": st})
			if s == nil {
				t.Errorf("switchboard_endpoint_state{endpoint=%q,state=%q} is missing", id, st)
				continue
			}
			want := 0.0
			if st == current {
				want = 1
			}
			if got := value(s); got != want {
				t.Errorf("switchboard_endpoint_state{endpoint=%q,state=%q} = %v, want %v", id, st, got, want)
			}
		}
	}
}

func TestMetricsEndpointFiguresFromTheSnapshot(t *testing.T) {
	_, srv := newMetricsFixture(t)
	fams := scrape(t, srv.URL)
	tests := []struct {
		name   string
		metric string
		labels map[string]string
		want   float64
		tol    float64 // how far from want the value may be: the monitor's quantiles are estimates
		absent bool    // the series must not exist
	}{
		{"availability over 5m of a healthy endpoint", "switchboard_endpoint_availability",
			map[string]string{"endpoint": metricsGroq, "window": "5m"}, 1, 0, false},
		{"availability over 5m of a failing endpoint", "switchboard_endpoint_availability",
			map[string]string{"endpoint": metricsTogeth, "window": "5m"}, 0.4, 0, false},
		{"availability over a day", "switchboard_endpoint_availability",
			map[string]string{"endpoint": metricsTogeth, "window": "1d"}, 0.4, 0, false},
		{"no availability without data, rather than -1", "switchboard_endpoint_availability",
			map[string]string{"endpoint": metricsAnthro}, 0, 0, true},
		{"error rate", "switchboard_endpoint_error_rate",
			map[string]string{"endpoint": metricsTogeth}, 0.6, 0, false},
		{"median latency", "switchboard_endpoint_latency_seconds",
			map[string]string{"endpoint": metricsGroq, "quantile": "0.5"}, 1, 0.01, false},
		{"p99 time to first token", "switchboard_endpoint_ttft_seconds",
			map[string]string{"endpoint": metricsGroq, "quantile": "0.99"}, 0.2, 0.005, false},
		{"no latency without successes, rather than 0", "switchboard_endpoint_latency_seconds",
			map[string]string{"endpoint": metricsAnthro}, 0, 0, true},
		{"median throughput", "switchboard_endpoint_throughput_tokens_per_second",
			map[string]string{"endpoint": metricsGroq, "quantile": "0.5"}, 80, 1, false}, // 80 tokens in 1s, first token included
		{"no throughput without data, rather than -1", "switchboard_endpoint_throughput_tokens_per_second",
			map[string]string{"endpoint": metricsAnthro}, 0, 0, true},
		{"requests in the window", "switchboard_endpoint_window_requests",
			map[string]string{"endpoint": metricsTogeth, "kind": "all"}, 5, 0, false},
		{"successes in the window", "switchboard_endpoint_window_requests",
			map[string]string{"endpoint": metricsTogeth, "kind": "success"}, 2, 0, false},
		{"provider errors in the window", "switchboard_endpoint_window_requests",
			map[string]string{"endpoint": metricsTogeth, "kind": "provider_error"}, 3, 0, false},
		{"rate limits in the window", "switchboard_endpoint_window_requests",
			map[string]string{"endpoint": metricsTogeth, "kind": "rate_limited"}, 0, 0, false},
		{"enabled", "switchboard_endpoint_enabled",
			map[string]string{"endpoint": metricsGroq}, 1, 0, false},
		{"delivered availability of a routed model", "switchboard_model_delivered_availability",
			map[string]string{"model": metricsLlama}, 1, 0, false},
		{"no delivered availability without routed requests", "switchboard_model_delivered_availability",
			map[string]string{"model": metricsClaude}, 0, 0, true},
		{"best single availability", "switchboard_model_best_single_availability",
			map[string]string{"model": metricsLlama}, 1, 0, false},
		{"no best single availability without data", "switchboard_model_best_single_availability",
			map[string]string{"model": metricsClaude}, 0, 0, true},
		{"requests per second", "switchboard_model_requests_per_second",
			map[string]string{"model": metricsLlama}, 1.0 / 60, 1e-9, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := series(fams, tt.metric, tt.labels)
			switch {
			case tt.absent:
				if s != nil {
					t.Errorf("%s%v = %v, want no series", tt.metric, tt.labels, value(s))
				}
			case s == nil:
				t.Errorf("%s%v is missing", tt.metric, tt.labels)
			default:
				if got := value(s); math.Abs(got-tt.want) > tt.tol {
					t.Errorf("%s%v = %v, want %v ± %v", tt.metric, tt.labels, got, tt.want, tt.tol)
				}
			}
		})
	}
}

func TestMetricsRequestMovesCountersAndHistograms(t *testing.T) {
	m, srv := newMetricsFixture(t)
	m.request(requestMetric{Model: metricsLlama, Provider: "groq", Status: 200, Outcome: "ok", Stream: true,
		Duration: 3 * time.Second, TTFT: 400 * time.Millisecond, PromptTokens: 12, CompletionTokens: 30,
		Cost: 0.25, Attempts: 2, Fallback: true})
	m.request(requestMetric{Model: metricsLlama, Provider: "groq", Status: 200, Outcome: "ok",
		Duration: time.Second, TTFT: 300 * time.Millisecond, PromptTokens: 8, CompletionTokens: 20, Cost: 0.5, Attempts: 1})
	m.request(requestMetric{Model: metricsLlama, Status: 503, Outcome: "provider_unavailable",
		Duration: 2 * time.Second, Attempts: 3})
	m.request(requestMetric{Model: "no-such-model", Status: 404, Outcome: "model_not_found"})

	fams := scrape(t, srv.URL)
	counters := []struct {
		metric string
		labels map[string]string
		want   float64
	}{
		{"switchboard_requests_total", map[string]string{"model": metricsLlama, "provider": "groq", "outcome": "ok", "stream": "true"}, 1},
		{"switchboard_requests_total", map[string]string{"model": metricsLlama, "provider": "groq", "outcome": "ok", "stream": "false"}, 1},
		{"switchboard_requests_total", map[string]string{"model": metricsLlama, "provider": "none", "outcome": "provider_unavailable", "stream": "false"}, 1},
		{"switchboard_requests_total", map[string]string{"model": otherModel, "provider": "none", "outcome": "model_not_found"}, 1},
		{"switchboard_tokens_total", map[string]string{"model": metricsLlama, "provider": "groq", "kind": "prompt"}, 20},
		{"switchboard_tokens_total", map[string]string{"model": metricsLlama, "provider": "groq", "kind": "completion"}, 50},
		{"switchboard_cost_usd_total", map[string]string{"model": metricsLlama, "provider": "groq"}, 0.75},
		{"switchboard_attempts_total", map[string]string{"model": metricsLlama}, 6},
		{"switchboard_fallbacks_total", map[string]string{"model": metricsLlama}, 1},
		{"switchboard_fallbacks_total", map[string]string{"model": metricsClaude}, 0}, // created at zero
	}
	for _, c := range counters {
		s := series(fams, c.metric, c.labels)
		if s == nil {
			t.Errorf("%s%v is missing", c.metric, c.labels)
			continue
		}
		if got := value(s); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.metric, c.labels, got, c.want)
		}
	}
	if s := series(fams, "switchboard_tokens_total", map[string]string{"provider": "none"}); s != nil {
		t.Errorf("tokens counted for a request no provider served: %v", s)
	}
	if s := series(fams, "switchboard_cost_usd_total", map[string]string{"provider": "none"}); s != nil {
		t.Errorf("a cost counted for a request no provider served: %v", s)
	}
	if s := series(fams, "switchboard_requests_total", map[string]string{"model": "no-such-model"}); s != nil {
		t.Errorf("a model the router does not serve got its own series: %v", s)
	}

	hists := []struct {
		metric string
		labels map[string]string
		count  uint64
		sum    float64
	}{
		{"switchboard_request_duration_seconds", map[string]string{"model": metricsLlama, "stream": "true"}, 1, 3},
		{"switchboard_request_duration_seconds", map[string]string{"model": metricsLlama, "stream": "false"}, 2, 3},
		{"switchboard_time_to_first_token_seconds", map[string]string{"model": metricsLlama}, 2, 0.7}, // not the failed one
		{"switchboard_time_to_first_token_seconds", map[string]string{"model": metricsClaude}, 0, 0},  // created at zero
	}
	for _, h := range hists {
		s := series(fams, h.metric, h.labels)
		if s == nil {
			t.Errorf("%s%v is missing", h.metric, h.labels)
			continue
		}
		got := s.GetHistogram()
		if got.GetSampleCount() != h.count || got.GetSampleSum() < h.sum-1e-9 || got.GetSampleSum() > h.sum+1e-9 {
			t.Errorf("%s%v: count %d, sum %v; want %d, %v", h.metric, h.labels,
				got.GetSampleCount(), got.GetSampleSum(), h.count, h.sum)
		}
	}
}

func TestMetricsWithoutHealthServeRequestAndRuntimeMetrics(t *testing.T) {
	m := newMetrics(nil, []string{metricsLlama})
	srv := httptest.NewServer(m.handler())
	defer srv.Close()
	fams := scrape(t, srv.URL)
	for name := range fams {
		if strings.HasPrefix(name, "switchboard_endpoint_") || strings.HasPrefix(name, "switchboard_model_") {
			t.Errorf("%s served without a monitor", name)
		}
	}
	for _, name := range []string{"switchboard_attempts_total", "go_goroutines", "process_start_time_seconds"} {
		if fams[name] == nil {
			t.Errorf("%s is missing", name)
		}
	}
}

func TestMetricsTwoGatewaysDoNotShareSeries(t *testing.T) {
	a, b := newMetrics(nil, []string{metricsLlama}), newMetrics(nil, []string{metricsLlama})
	a.request(requestMetric{Model: metricsLlama, Outcome: "ok", Provider: "groq", Attempts: 1})
	if got := testutil.ToFloat64(b.tries.WithLabelValues(metricsLlama)); got != 0 {
		t.Errorf("second gateway's attempts = %v after a request to the first, want 0", got)
	}
}

// Throughput quantiles keep Prometheus' meaning of a quantile: the slow
// side is at the low quantiles. OpenRouter's p90 (the speed 90% of
// requests reach) is quantile="0.1", and no series claims 0.9.
func TestMetricsThroughputQuantilesFromTheSlowSide(t *testing.T) {
	clock := monitortest.NewClock()
	mon, err := monitor.New(monitor.Options{Clock: clock}, []monitor.Endpoint{{ID: metricsGroq, Provider: "groq", Model: metricsLlama}})
	if err != nil {
		t.Fatal(err)
	}
	for tokens := 10; tokens <= 100; tokens += 10 { // ten requests at each of 10, 20, ..., 100 tokens/s
		for range 10 {
			mon.Record(metricsGroq, provider.Outcome{Class: provider.ClassOK, TTFT: 100 * time.Millisecond, Duration: time.Second, OutputTokens: tokens})
		}
	}
	srv := httptest.NewServer(newMetrics(mon, []string{metricsLlama}).handler())
	t.Cleanup(srv.Close)
	fams := scrape(t, srv.URL)
	got := map[string]float64{}
	for _, m := range fams["switchboard_endpoint_throughput_tokens_per_second"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "quantile" {
				got[l.GetValue()] = value(m)
			}
		}
	}
	// At most 10% of requests are at or below 20 tokens/s, half at or below 60.
	want := map[string]float64{"0.01": 10, "0.05": 10, "0.1": 20, "0.25": 30, "0.5": 60}
	if len(got) != len(want) {
		t.Errorf("throughput quantiles %v, want exactly %v", got, want)
	}
	for q, w := range want {
		if g, ok := got[q]; !ok || math.Abs(g-w) > 0.02*w {
			t.Errorf("throughput quantile %s = %v (present %v), want %v", q, g, ok, w)
		}
	}
}
