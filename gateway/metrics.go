package gateway

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"switchboard/monitor"
	"switchboard/routing"
)

// otherModel stands for every model name the router does not serve. The
// model is whatever a client typed, so passing it through as a label would
// let any client create series without bound.
const otherModel = "other"

// Histogram buckets, in seconds. A chat completion takes from a fraction of
// a second to minutes; the first token comes in tens of milliseconds to
// tens of seconds.
var (
	durationBuckets = []float64{0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300}
	ttftBuckets     = []float64{0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 30}
)

// metrics are the gateway's Prometheus metrics. They live on a registry of
// their own, not the global default one, so that two gateways in a process
// (or in tests) never share or collide on series.
type metrics struct {
	handle http.Handler
	models []string // the router's public model names: the only model labels allowed
	reqs   *prometheus.CounterVec
	dur    *prometheus.HistogramVec
	ttft   *prometheus.HistogramVec
	tokens *prometheus.CounterVec
	cost   *prometheus.CounterVec
	tries  *prometheus.CounterVec
	falls  *prometheus.CounterVec
	skips  *prometheus.CounterVec
	hedges *prometheus.CounterVec
}

// requestMetric is what the gateway knows about one finished chat
// completion request.
type requestMetric struct {
	Model            string              // public model name asked for (after :nitro/:floor are stripped by the caller)
	Provider         string              // provider that served; "" when none did
	Status           int                 // HTTP status answered (200 for a stream that began, even if it ended in an error chunk)
	Outcome          string              // "ok", or the error type (e.g. "provider_unavailable", "invalid_request", "stream_interrupted", "canceled")
	Stream           bool                // the client asked for a stream
	Duration         time.Duration       // whole request
	TTFT             time.Duration       // to the first content sent to the client; 0 if none
	PromptTokens     int                 // as the serving provider reported them
	CompletionTokens int                 // as the serving provider reported them
	Cost             float64             // USD, at the serving endpoint's prices (see Server.costOf)
	Attempts         int                 // upstream attempts the router made
	Fallback         bool                // served by another endpoint than the first tried, or a fallback model
	Skipped          int                 // upstream events skipped as not chunks (each held no text)
	Hedges           routing.HedgeCounts // the hedges the router asked for, by how each went
}

// hedgeResults are switchboard_hedges_total's results, in the order of
// routing.HedgeCounts' fields.
var hedgeResults = [...]string{"won", "lost", "failed", "denied"}

// newMetrics builds the gateway's metrics on a registry of its own. Health
// figures are read from h's latest snapshot at every scrape. models are the
// router's public model names (for pre-creating per-model series at zero).
func newMetrics(h Health, models []string) *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if h != nil {
		reg.MustRegister(newHealthCollector(h))
	}
	f := promauto.With(reg)
	m := &metrics{
		models: slices.Clone(models),
		reqs: f.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_requests_total",
			Help: "Chat completion requests finished, by model asked for, provider that served (none if none did), outcome and streaming.",
		}, []string{"model", "provider", "outcome", "stream"}),
		dur: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchboard_request_duration_seconds",
			Help:    "Time to answer a chat completion request in full, fallbacks included.",
			Buckets: durationBuckets,
		}, []string{"model", "stream"}),
		ttft: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchboard_time_to_first_token_seconds",
			Help:    "Time from a chat completion request to the first content sent to the client.",
			Buckets: ttftBuckets,
		}, []string{"model"}),
		tokens: f.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_tokens_total",
			Help: "Tokens of answered requests, as the serving provider counted them, by kind (prompt or completion).",
		}, []string{"model", "provider", "kind"}),
		cost: f.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_cost_usd_total",
			Help: "What answered requests cost in USD: the serving provider's token counts times the endpoint's configured prices, plus its price per request.",
		}, []string{"model", "provider"}),
		tries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_attempts_total",
			Help: "Upstream attempts the router made for chat completion requests; above requests_total when it retried or fell back.",
		}, []string{"model"}),
		falls: f.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_fallbacks_total",
			Help: "Requests served by another endpoint than the first tried, or by a fallback model.",
		}, []string{"model"}),
		skips: f.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_skipped_events_total",
			Help: "Upstream stream events that were not chunks and held no text, skipped with the answer going on without them.",
		}, []string{"model"}),
		hedges: f.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_hedges_total",
			Help: "Hedges of requests with hedging on (for a slow first token, or a stream gone silent), by result: won (its answer went to the client), lost (the other streamed first, or the client left), failed, or denied (the hedge budget had none to spare when asked).",
		}, []string{"model", "result"}),
	}
	// Series that exist from the start read 0 instead of being absent, so
	// rate() and alerts work before the first request of a model.
	for _, name := range append(slices.Clip(m.models), otherModel) {
		for _, stream := range []bool{false, true} {
			m.dur.WithLabelValues(name, strconv.FormatBool(stream))
		}
		m.ttft.WithLabelValues(name)
		m.tries.WithLabelValues(name)
		m.falls.WithLabelValues(name)
		m.skips.WithLabelValues(name)
		for _, result := range hedgeResults {
			m.hedges.WithLabelValues(name, result)
		}
	}
	m.handle = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.HTTPErrorOnError,
		Registry:      reg, // counts failed scrapes in promhttp_metric_handler_errors_total
	})
	return m
}

// handler serves the registry in Prometheus' text format; a failed
// collection is answered with an HTTP error rather than partial figures.
func (m *metrics) handler() http.Handler { return m.handle }

// request counts one finished chat completion request.
func (m *metrics) request(r requestMetric) {
	model := m.modelLabel(r.Model)
	stream := strconv.FormatBool(r.Stream)
	prov := r.Provider
	if prov == "" {
		prov = "none"
	}
	m.reqs.WithLabelValues(model, prov, r.Outcome, stream).Inc()
	m.dur.WithLabelValues(model, stream).Observe(r.Duration.Seconds())
	if r.TTFT > 0 {
		m.ttft.WithLabelValues(model).Observe(r.TTFT.Seconds())
	}
	if r.Provider != "" {
		// Counter.Add panics on a negative value: a bad count from upstream
		// must not take the request down with it.
		m.tokens.WithLabelValues(model, r.Provider, "prompt").Add(float64(max(r.PromptTokens, 0)))
		m.tokens.WithLabelValues(model, r.Provider, "completion").Add(float64(max(r.CompletionTokens, 0)))
		m.cost.WithLabelValues(model, r.Provider).Add(max(r.Cost, 0))
	}
	m.tries.WithLabelValues(model).Add(float64(max(r.Attempts, 0)))
	if r.Fallback {
		m.falls.WithLabelValues(model).Inc()
	}
	m.skips.WithLabelValues(model).Add(float64(max(r.Skipped, 0)))
	for i, n := range [len(hedgeResults)]int{r.Hedges.Won, r.Hedges.Lost, r.Hedges.Failed, r.Hedges.Denied} {
		if n > 0 {
			m.hedges.WithLabelValues(model, hedgeResults[i]).Add(float64(n))
		}
	}
}

// modelLabel returns name if the router serves it, else otherModel.
func (m *metrics) modelLabel(name string) string {
	if slices.Contains(m.models, name) {
		return name
	}
	return otherModel
}

// healthCollector turns the monitor's latest snapshot into gauges at every
// scrape. Reading the snapshot on demand, rather than copying it into
// gauges as it changes, means the figures are never staler than the scrape
// and nothing runs in the background.
type healthCollector struct {
	h Health

	up, state, enabled, breakerOpen, availability, errorRate *prometheus.Desc
	latency, ttft, throughput, window                        *prometheus.Desc
	delivered, bestSingle, perSecond                         *prometheus.Desc
	linked, replicas, hereRequests, hereAvailability         *prometheus.Desc // in a fleet
}

// throughputHelp says what the throughput gauges hold, and which quantile
// label is OpenRouter's p90.
const throughputHelp = "Quantiles of output tokens per second of successes, over the whole answer with its first token, over the last 5 minutes. " +
	`quantile has its usual meaning, the share of requests at most this fast: OpenRouter's p90, the speed 90% of requests reach, is quantile="0.1".`

// newHealthCollector describes the health metrics read from h.
func newHealthCollector(h Health) *healthCollector {
	ep := []string{"endpoint", "provider", "model"}
	desc := func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append(slices.Clone(ep), extra...), nil)
	}
	model := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, []string{"model"}, nil)
	}
	return &healthCollector{
		h:            h,
		up:           desc("switchboard_endpoint_up", "1 when the endpoint answers (healthy or degraded), else 0."),
		state:        desc("switchboard_endpoint_state", "1 for the endpoint's current health state, 0 for the others.", "state"),
		enabled:      desc("switchboard_endpoint_enabled", "1 unless the user turned the endpoint off."),
		breakerOpen:  desc("switchboard_endpoint_breaker_open", "1 when the endpoint's circuit breaker is open or half-open."),
		availability: desc("switchboard_endpoint_availability", "Successes / (successes + provider errors) over the window, 0..1; absent without data.", "window"),
		errorRate:    desc("switchboard_endpoint_error_rate", "Provider errors / requests over the last 5 minutes, 0..1."),
		latency:      desc("switchboard_endpoint_latency_seconds", "Quantiles of whole-answer latency of successes over the last 5 minutes.", "quantile"),
		ttft:         desc("switchboard_endpoint_ttft_seconds", "Quantiles of time to first token of successes over the last 5 minutes.", "quantile"),
		throughput:   desc("switchboard_endpoint_throughput_tokens_per_second", throughputHelp, "quantile"),
		window:       desc("switchboard_endpoint_window_requests", "Outcomes over the last 5 minutes by kind; all includes probes.", "kind"),
		delivered:    model("switchboard_model_delivered_availability", "Share of routed requests answered over the last 5 minutes, the caller's own errors aside, 0..1."),
		bestSingle:   model("switchboard_model_best_single_availability", "The best availability of any one endpoint of the model over the last 5 minutes, 0..1."),
		perSecond:    model("switchboard_model_requests_per_second", "Routed requests per second over the last minute."),
		linked: prometheus.NewDesc("switchboard_cluster_linked",
			"In a fleet ([cluster]): 1 while this replica is linked through Redis and the endpoint and model figures are the fleet's (the same on every replica: take one, not their sum), 0 while it is cut off and they are its own.", []string{"replica"}, nil),
		replicas:         prometheus.NewDesc("switchboard_cluster_replicas", "In a fleet: the replicas this one saw in the last few seconds, itself among them.", []string{"replica"}, nil),
		hereRequests:     desc("switchboard_endpoint_replica_requests", "In a fleet: the outcomes this replica recorded itself over the last 5 minutes, probes included."),
		hereAvailability: desc("switchboard_endpoint_replica_availability", "In a fleet: this replica's own successes / (successes + provider errors) over the last 5 minutes, 0..1; absent without data."),
	}
}

// Describe sends every descriptor, so the registry checks the collector's
// series for consistency.
func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.up, c.state, c.enabled, c.breakerOpen, c.availability, c.errorRate,
		c.latency, c.ttft, c.throughput, c.window, c.delivered, c.bestSingle, c.perSecond,
		c.linked, c.replicas, c.hereRequests, c.hereAvailability,
	} {
		ch <- d
	}
}

// Collect reads one snapshot, so every figure of a scrape comes from the
// same instant.
func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.h.Snapshot()
	if s == nil {
		return
	}
	for i := range s.Endpoints {
		c.collectEndpoint(ch, &s.Endpoints[i])
	}
	for _, m := range s.Models {
		if m.Delivered >= 0 {
			ch <- prometheus.MustNewConstMetric(c.delivered, prometheus.GaugeValue, m.Delivered, m.Name)
		}
		if m.BestSingle >= 0 {
			ch <- prometheus.MustNewConstMetric(c.bestSingle, prometheus.GaugeValue, m.BestSingle, m.Name)
		}
		ch <- prometheus.MustNewConstMetric(c.perSecond, prometheus.GaugeValue, m.PerSecond, m.Name)
	}
	if f := s.Fleet; f != nil {
		linked := 0.0
		if f.Linked {
			linked = 1
		}
		ch <- prometheus.MustNewConstMetric(c.linked, prometheus.GaugeValue, linked, f.Replica)
		ch <- prometheus.MustNewConstMetric(c.replicas, prometheus.GaugeValue, float64(len(f.Replicas)), f.Replica)
	}
}

// metricQuantiles name the quantiles of monitor.Percentiles, in the order of
// its fields, as Prometheus means a quantile: that share of values is at or
// below it.
var metricQuantiles = [...]string{"0.5", "0.75", "0.9", "0.95", "0.99"}

// rateQuantileLabels name monitor.Rates' fields in rateQuantiles' order. A
// Rates percentile counts from the slow side (P90 is the speed 90% of
// requests reach, so 10% are at or below it): in Prometheus' sense it is
// the 1-p quantile, and labelling it "0.9" would tell a query the opposite.
var rateQuantileLabels = [...]string{"0.5", "0.25", "0.1", "0.05", "0.01"}

// collectEndpoint sends one endpoint's gauges. Figures without data (-1
// for ratios and rates, 0 for durations) are left out instead of being
// exported as numbers a query would average in.
func (c *healthCollector) collectEndpoint(ch chan<- prometheus.Metric, e *monitor.EndpointStatus) {
	gauge := func(d *prometheus.Desc, v float64, extra ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{e.ID, e.Provider, e.Model}, extra...)...)
	}
	gauge(c.up, boolGauge(e.State == monitor.Healthy || e.State == monitor.Degraded))
	// Disabled is the last state: every state gets a series, so a query
	// can tell "not in this state" from "no data".
	for st := monitor.Healthy; st <= monitor.Disabled; st++ {
		gauge(c.state, boolGauge(e.State == st), st.String())
	}
	gauge(c.enabled, boolGauge(e.Enabled))
	gauge(c.breakerOpen, boolGauge(e.Breaker != monitor.BreakerClosed))
	if h := e.Here; h != nil {
		gauge(c.hereRequests, float64(h.Requests))
		if h.Availability >= 0 {
			gauge(c.hereAvailability, h.Availability)
		}
	}
	for _, w := range []struct {
		name string
		v    float64
	}{{"5m", e.Availability}, {"30m", e.Availability30m}, {"1d", e.Availability1d}} {
		if w.v >= 0 {
			gauge(c.availability, w.v, w.name)
		}
	}
	if e.ErrorRate >= 0 { // NoData without requests: no figure, not a negative one
		gauge(c.errorRate, e.ErrorRate)
	}
	lat, ttft, tp := durationQuantiles(e.Latency), durationQuantiles(e.TTFT), rateQuantiles(e.Throughput)
	for i, q := range metricQuantiles {
		if lat[i] > 0 {
			gauge(c.latency, lat[i].Seconds(), q)
		}
		if ttft[i] > 0 {
			gauge(c.ttft, ttft[i].Seconds(), q)
		}
		if tp[i] >= 0 {
			gauge(c.throughput, tp[i], rateQuantileLabels[i])
		}
	}
	for _, k := range []struct {
		kind string
		n    int
	}{
		{"all", e.Requests}, {"probe", e.Probes}, {"success", e.Successes},
		{"provider_error", e.ProviderErrors}, {"user_error", e.UserErrors}, {"rate_limited", e.RateLimited},
	} {
		gauge(c.window, float64(k.n), k.kind)
	}
}

// durationQuantiles lists p's quantiles in metricQuantiles' order.
func durationQuantiles(p monitor.Percentiles) [5]time.Duration {
	return [5]time.Duration{p.P50, p.P75, p.P90, p.P95, p.P99}
}

// rateQuantiles lists r's percentiles in rateQuantileLabels' order.
func rateQuantiles(r monitor.Rates) [5]float64 {
	return [5]float64{r.P50, r.P75, r.P90, r.P95, r.P99}
}

// boolGauge is 1 for true and 0 for false, as Prometheus writes a boolean.
func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
