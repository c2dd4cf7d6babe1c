package gateway

import (
	"cmp"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"switchboard/monitor"
	"switchboard/routing"
)

// modelList is GET /v1/models: OpenAI's list, with OpenRouter's context
// length and the cheapest endpoint's pricing (USD per token, as strings).
type modelList struct {
	Object string      `json:"object"`
	Data   []modelInfo `json:"data"`
}

type modelInfo struct {
	ID            string  `json:"id"`
	Object        string  `json:"object"`
	Created       int64   `json:"created"`
	OwnedBy       string  `json:"owned_by"`
	ContextLength int     `json:"context_length,omitempty"`
	Pricing       pricing `json:"pricing"`
	// Architecture says what the model takes and gives, in OpenRouter's
	// words: text, and images where an endpoint takes them.
	Architecture architecture `json:"architecture"`
	Endpoints    int          `json:"endpoints"`
	Answering    int          `json:"answering"` // endpoints neither down nor turned off
}

type architecture struct {
	InputModalities  []string `json:"input_modalities"`
	OutputModalities []string `json:"output_modalities"`
}

type pricing struct {
	Prompt     string `json:"prompt"`
	Completion string `json:"completion"`
}

// perToken writes a price in USD per million tokens as OpenRouter does:
// USD per token, in a string.
func perToken(perMillion float64) string {
	// Rounded to 1e-15 USD, so that 0.79 reads 0.00000079 and not the
	// float division's 0.0000007900000000000001.
	return strconv.FormatFloat(math.Round(perMillion*1e9)/1e15, 'f', -1, 64)
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	snap := s.opts.Health.Snapshot()
	list := modelList{Object: "list", Data: []modelInfo{}}
	for _, name := range s.opts.Router.Models() {
		eps := s.opts.Router.Endpoints(name)
		info := modelInfo{ID: name, Object: "model", OwnedBy: "switchboard", Endpoints: len(eps),
			Architecture: architecture{InputModalities: []string{"text"}, OutputModalities: []string{"text"}}}
		if len(eps) > 0 {
			cheapest := slices.MinFunc(eps, func(a, b routing.Endpoint) int {
				return cmp.Compare(a.Price(), b.Price())
			})
			info.Pricing = pricing{Prompt: perToken(cheapest.PriceIn), Completion: perToken(cheapest.PriceOut)}
		}
		for _, e := range eps {
			info.ContextLength = max(info.ContextLength, e.ContextLength)
			for _, m := range e.InputModalities { // a request with images goes to those that take them
				if !slices.Contains(info.Architecture.InputModalities, m) {
					info.Architecture.InputModalities = append(info.Architecture.InputModalities, m)
				}
			}
			if st := snap.Status(e.ID); st != nil && answering(st.State) {
				info.Answering++
			}
		}
		list.Data = append(list.Data, info)
	}
	writeJSON(w, http.StatusOK, list)
}

// answering reports whether an endpoint in this state takes requests: all
// but those down or turned off, as the monitor counts them (a cooling one
// is tried when nothing else is left).
func answering(s monitor.State) bool { return s != monitor.Down && s != monitor.Disabled }

// endpointsAnswer is OpenRouter's GET /api/v1/models/{author}/{slug}/endpoints.
type endpointsAnswer struct {
	Data struct {
		ID        string         `json:"id"`
		Name      string         `json:"name"`
		Endpoints []endpointInfo `json:"endpoints"`
	} `json:"data"`
}

// endpointInfo is one endpoint with its live health, in OpenRouter's
// names and units (uptime in percent, latency in milliseconds to the first
// token, throughput in output tokens per second over the whole answer with
// its percentiles read from the slow side: p90 <= p50), plus Switchboard's
// state and why it is so.
type endpointInfo struct {
	Name                string       `json:"name"`
	ProviderName        string       `json:"provider_name"`
	Tag                 string       `json:"tag"`
	Quantization        *string      `json:"quantization"`
	ContextLength       int          `json:"context_length"`
	SupportedParameters []string     `json:"supported_parameters"`
	Pricing             pricing      `json:"pricing"`
	UptimeLast5m        *float64     `json:"uptime_last_5m"`
	UptimeLast30m       *float64     `json:"uptime_last_30m"`
	UptimeLast1d        *float64     `json:"uptime_last_1d"`
	LatencyLast30m      *percentiles `json:"latency_last_30m"`
	ThroughputLast30m   *percentiles `json:"throughput_last_30m"`
	Status              int          `json:"status"`
	State               string       `json:"state"`
	Reason              string       `json:"reason,omitempty"`
	Enabled             bool         `json:"enabled"`
	// In a fleet ([cluster]): whose the figures above are, "fleet" (every
	// replica's, merged) or "replica" (this one's own, while Redis is out
	// of reach), and this replica's own beside them. Left out alone.
	Figures string       `json:"figures,omitempty"`
	Replica *replicaInfo `json:"replica,omitempty"`
}

// replicaInfo is one endpoint as this replica alone saw it.
type replicaInfo struct {
	Name         string   `json:"name"`
	Requests     int      `json:"requests_last_5m"`
	UptimeLast5m *float64 `json:"uptime_last_5m"`
}

type percentiles struct {
	P50 float64 `json:"p50"`
	P75 float64 `json:"p75"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
}

// statusCodes are OpenRouter's endpoint status: 0 when all is well,
// negative when not.
var statusCodes = map[monitor.State]int{monitor.Healthy: 0, monitor.Degraded: -1, monitor.CoolingDown: -2,
	monitor.Down: -3, monitor.Disabled: -5}

func (s *Server) endpoints(w http.ResponseWriter, r *http.Request) {
	name := s.opts.Router.Canonical(r.PathValue("author") + "/" + r.PathValue("slug")) // an alias names its model
	if !slices.Contains(s.opts.Router.Models(), name) {
		writeError(w, &apiError{Status: http.StatusNotFound, Type: "model_not_found",
			Message: "no model " + routing.Clip(name, routing.EchoLimit) + " here; GET /v1/models lists the models served"})
		return
	}
	snap := s.opts.Health.Snapshot()
	var a endpointsAnswer
	a.Data.ID, a.Data.Name, a.Data.Endpoints = name, name, []endpointInfo{}
	for _, e := range s.opts.Router.Endpoints(name) {
		a.Data.Endpoints = append(a.Data.Endpoints, endpointInfoOf(e, snap))
	}
	writeJSON(w, http.StatusOK, a)
}

func endpointInfoOf(e routing.Endpoint, snap *monitor.Snapshot) endpointInfo {
	st := snap.Status(e.ID)
	tag := e.Provider
	if e.Variant != "" {
		tag += "/" + e.Variant
	}
	info := endpointInfo{Name: e.Provider + " | " + e.Model, ProviderName: e.Provider, Tag: tag,
		ContextLength: e.ContextLength, SupportedParameters: carried(e.Parameters),
		Pricing: pricing{Prompt: perToken(e.PriceIn), Completion: perToken(e.PriceOut)}}
	if e.Quantization != "" {
		info.Quantization = &e.Quantization
	}
	if st == nil {
		return info
	}
	info.UptimeLast5m, info.UptimeLast30m, info.UptimeLast1d = percent(st.Availability), percent(st.Availability30m), percent(st.Availability1d)
	if l := st.TTFT30m; l.P50 > 0 {
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		info.LatencyLast30m = &percentiles{ms(l.P50), ms(l.P75), ms(l.P90), ms(l.P99)}
	}
	if t := st.Throughput30m; t.P50 >= 0 {
		// Rates count as OpenRouter does (first token included, p90 the
		// speed 90% of requests reach), so they go out as they are.
		info.ThroughputLast30m = &percentiles{t.P50, t.P75, t.P90, t.P99}
	}
	info.Status, info.State, info.Reason, info.Enabled = statusCodes[st.State], st.State.String(), st.Reason, st.Enabled
	if f := snap.Fleet; f != nil && st.Here != nil {
		info.Figures = "replica"
		if f.Linked {
			info.Figures = "fleet"
		}
		info.Replica = &replicaInfo{Name: f.Replica, Requests: st.Here.Requests, UptimeLast5m: percent(st.Here.Availability)}
	}
	return info
}

// percent is an availability as OpenRouter's uptime: a percentage, or null
// without data.
func percent(a float64) *float64 {
	if a < 0 {
		return nil
	}
	p := a * 100
	return &p
}

// healthAnswer is GET /api/v1/health: every model's endpoints with their
// live health, and what routing delivered.
type healthAnswer struct {
	At     time.Time     `json:"at"`
	Models []modelHealth `json:"models"`
}

type modelHealth struct {
	ID         string         `json:"id"`
	Delivered  *float64       `json:"delivered_uptime_5m"`   // percent: what routing answered
	BestSingle *float64       `json:"best_single_uptime_5m"` // percent: the best one endpoint did
	PerSecond  float64        `json:"requests_per_second"`
	Endpoints  []endpointInfo `json:"endpoints"`
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	snap := s.opts.Health.Snapshot()
	a := healthAnswer{At: snap.At, Models: []modelHealth{}}
	for _, name := range s.opts.Router.Models() {
		mh := modelHealth{ID: name, Endpoints: []endpointInfo{}}
		if ms, ok := snap.Model(name); ok {
			mh.Delivered, mh.BestSingle, mh.PerSecond = percent(ms.Delivered), percent(ms.BestSingle), ms.PerSecond
		}
		for _, e := range s.opts.Router.Endpoints(name) {
			mh.Endpoints = append(mh.Endpoints, endpointInfoOf(e, snap))
		}
		a.Models = append(a.Models, mh)
	}
	writeJSON(w, http.StatusOK, a)
}

// live answers while the process serves at all.
func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// ready answers 200 when every model has an endpoint taking requests, and
// 503 naming the models that have none: a load balancer should then send
// traffic elsewhere. A replica cut off from its fleet (Redis out of reach)
// is still ready, on its own health, and says so in "cluster".
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	snap := s.opts.Health.Snapshot()
	var dark []string
	for _, name := range s.opts.Router.Models() {
		up := false
		for _, e := range s.opts.Router.Endpoints(name) {
			if st := snap.Status(e.ID); st != nil && answering(st.State) {
				up = true
				break
			}
		}
		if !up {
			dark = append(dark, name)
		}
	}
	a := map[string]any{"status": "ready"}
	if f := snap.Fleet; f != nil {
		c := map[string]any{"replica": f.Replica, "linked": f.Linked, "replicas": len(f.Replicas)}
		if f.Detail != "" {
			c["detail"] = f.Detail
		}
		a["cluster"] = c
	}
	if len(dark) > 0 {
		a["status"], a["models_without_endpoints"] = "unavailable", dark
		writeJSON(w, http.StatusServiceUnavailable, a)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// carried returns the parameters an endpoint supports that Switchboard can
// carry to it and back: a client that reads supported_parameters must not
// be told of tools a request would be refused for.
func carried(params []string) []string {
	out := []string{}
	for _, p := range params {
		if _, refused := unsupported[p]; !refused {
			out = append(out, p)
		}
	}
	return out
}
