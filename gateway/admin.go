package gateway

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"switchboard/monitor"
	"switchboard/routing"
)

// Admin is the admin API (/admin/v1): the live health of every endpoint,
// as a stream of the monitor's snapshots, for a dashboard that watches a
// gateway from elsewhere (switchboard watch), and the switches a dashboard
// has: an endpoint turned off or on, a fault forced on a simulated
// provider. It is off without Keys.
type Admin struct {
	// Keys are the bearer tokens the admin API takes (as the API's
	// Options.Keys, and the API takes them too). Without any, every
	// /admin path answers 404 and says how to turn it on.
	Keys   []string
	Health AdminHealth
	Faults Faults // nil when no provider is simulated
	// Display names models for people (model -> "Claude Sonnet 4"), and
	// DefaultModel is the one a dashboard opens on; both go into the
	// routes, for a dashboard elsewhere.
	Display      map[string]string
	DefaultModel string
}

// AdminHealth is what the admin API reads and changes of the monitor.
type AdminHealth interface {
	Snapshot() *monitor.Snapshot
	// Subscribe sends the snapshots as they are published, the newest
	// only, until ctx ends (monitor.Monitor.Subscribe).
	Subscribe(ctx context.Context) <-chan *monitor.Snapshot
	// SetEnabledBy turns an endpoint on or off; by says who, for its
	// event.
	SetEnabledBy(id string, on bool, by string) error
	// Minutes is the last 30 minutes of one endpoint.
	Minutes(id string) []monitor.MinutePoint
}

// Faults forces faults on simulated providers (sim.Mode by name).
type Faults interface {
	Modes() []string                     // the modes there are, "normal" first
	Mode(provider string) (string, bool) // the provider's, and whether it is simulated
	SetMode(provider, mode string) error // an unknown provider or mode is an error that says so
}

// adminOff answers every /admin path while the admin API is off.
func adminOff(w http.ResponseWriter, r *http.Request) {
	writeError(w, &apiError{Status: http.StatusNotFound, Type: "not_found",
		Message: request(r) + ": the admin API is off; set admin_key_env in the config's [gateway] table to the name of an " +
			"environment variable that holds its key, and restart"})
}

// routeAdmin adds the admin API's paths to s.mux, or the answer that it is
// off.
func (s *Server) routeAdmin() {
	a := s.opts.Admin
	if len(a.Keys) == 0 || a.Health == nil {
		s.mux.HandleFunc("/admin/", adminOff)
		return
	}
	admin := func(method, path string, h http.HandlerFunc) {
		s.mux.Handle(path, only(method, s.keyed(a.Keys, "admin", h, writeError), writeError))
	}
	admin(http.MethodGet, "/admin/v1/snapshot", s.adminSnapshot)
	admin(http.MethodGet, "/admin/v1/stream", s.adminStream)
	admin(http.MethodGet, "/admin/v1/minutes/{id...}", s.adminMinutes)
	admin(http.MethodPost, "/admin/v1/endpoints/{id...}", s.adminEnable)
	admin(http.MethodGet, "/admin/v1/routes", s.adminRoutes)
	admin(http.MethodPost, "/admin/v1/resolve", s.adminResolve)
	admin(http.MethodGet, "/admin/v1/faults", s.adminFaults)
	admin(http.MethodPost, "/admin/v1/faults/{provider}", s.adminSetFault)
	s.mux.Handle("/admin/", s.keyed(a.Keys, "admin", s.notFound, writeError))
}

// adminSnapshot answers the monitor's snapshot, as the stream sends it.
func (s *Server) adminSnapshot(w http.ResponseWriter, r *http.Request) {
	b, err := json.Marshal(s.opts.Admin.Health.Snapshot())
	if err != nil {
		writeError(w, &apiError{Status: http.StatusInternalServerError, Type: "server", Message: "encoding the snapshot failed: " + err.Error()})
		return
	}
	w.Header()["Content-Type"] = jsonType
	w.Write(b)
}

// adminStream streams server-sent events until the client goes away:
// "event: snapshot" with the monitor's snapshot as JSON (the newest at
// once, then each one the monitor publishes; a client that falls behind
// gets the newest), and "event: trace" with the decision trace of each
// chat request the gateway answered from then on (dropped, not queued
// without end, for a client that falls far behind).
func (s *Server) adminStream(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	snaps := s.opts.Admin.Health.Subscribe(ctx)
	traces := s.traces.subscribe(ctx)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	// A snapshot of the shipped fleet is about 86 KB of JSON, twice a
	// second; gzip makes it about 2.5 KB. Each event is flushed whole.
	var out io.Writer = w
	flush := rc.Flush
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		defer gz.Close()
		out = gz
		flush = func() error {
			if err := gz.Flush(); err != nil {
				return err
			}
			return rc.Flush()
		}
	}
	w.WriteHeader(http.StatusOK)
	send := func(event string, v any) bool {
		b, err := json.Marshal(v)
		if err != nil {
			s.opts.Log.LogAttrs(ctx, slog.LevelError, "admin stream: encoding an event failed", slog.String("event", event), slog.String("error", err.Error()))
			return true // the next may encode
		}
		if _, err := fmt.Fprintf(out, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		return flush() == nil
	}
	if !send("snapshot", s.opts.Admin.Health.Snapshot()) {
		return
	}
	for {
		select {
		case snap, ok := <-snaps:
			if !ok || !send("snapshot", snap) { // closed when the client goes away
				return
			}
		case t := <-traces:
			if !send("trace", t) {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// acceptsGzip reports whether the client takes a gzip-encoded answer.
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.ReplaceAll(params, " ", "") != "q=0" {
				return true
			}
		}
	}
	return false
}

// traceHub hands the traces of answered requests to the admin streams
// that watch, never holding a request up: a stream whose buffer is full
// misses the trace. Without watchers a request pays one atomic load.
type traceHub struct {
	watching atomic.Int32
	mu       sync.Mutex
	subs     map[chan *routing.Trace]struct{}
}

// traceBuffer is how many traces a watching stream may fall behind by.
const traceBuffer = 64

// subscribe returns a channel of the traces published from now until ctx
// ends. It is never closed: the stream ends by ctx.
func (h *traceHub) subscribe(ctx context.Context) <-chan *routing.Trace {
	ch := make(chan *routing.Trace, traceBuffer)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[chan *routing.Trace]struct{}{}
	}
	h.subs[ch] = struct{}{}
	h.watching.Add(1)
	h.mu.Unlock()
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.watching.Add(-1)
		h.mu.Unlock()
	})
	return ch
}

// publish hands t to every watching stream that has room for it.
func (h *traceHub) publish(t *routing.Trace) {
	if h.watching.Load() == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- t:
		default:
		}
	}
}

// adminMinutes answers an endpoint's last 30 minutes.
func (s *Server) adminMinutes(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !s.knownEndpoint(w, id) {
		return
	}
	writeJSON(w, http.StatusOK, s.opts.Admin.Health.Minutes(id))
}

// RouteEndpoint is an endpoint as GET /admin/v1/routes lists it: what a
// dashboard shows of it.
type RouteEndpoint struct {
	ID            string  `json:"id"`
	Provider      string  `json:"provider"`
	ProviderName  string  `json:"provider_name,omitempty"`
	Variant       string  `json:"variant,omitempty"`
	Model         string  `json:"model"`
	UpstreamModel string  `json:"upstream_model"`
	PriceIn       float64 `json:"price_in"`
	PriceOut      float64 `json:"price_out"`
	ContextLength int     `json:"context_length,omitempty"`
	Prefill       bool    `json:"prefill,omitempty"`
}

// Routes is GET /admin/v1/routes: the models the gateway serves, in its
// configuration's order, the other names each answers to, and its
// endpoints.
type Routes struct {
	Models       []RouteModel `json:"models"`
	DefaultModel string       `json:"default_model,omitempty"`
}

// RouteModel is one model of Routes.
type RouteModel struct {
	Name      string          `json:"name"`
	Display   string          `json:"display,omitempty"`
	Aliases   []string        `json:"aliases,omitempty"`
	Endpoints []RouteEndpoint `json:"endpoints"`
}

// adminRoutes answers the models and their endpoints.
func (s *Server) adminRoutes(w http.ResponseWriter, r *http.Request) {
	aliases := s.opts.Router.Aliases()
	a := Routes{Models: []RouteModel{}, DefaultModel: s.opts.Admin.DefaultModel}
	for _, name := range s.opts.Router.Models() {
		m := RouteModel{Name: name, Display: s.opts.Admin.Display[name], Endpoints: []RouteEndpoint{}}
		for alias, model := range aliases {
			if model == name {
				m.Aliases = append(m.Aliases, alias)
			}
		}
		slices.Sort(m.Aliases)
		for _, e := range s.opts.Router.Endpoints(name) {
			m.Endpoints = append(m.Endpoints, RouteEndpoint{ID: e.ID, Provider: e.Provider, ProviderName: e.ProviderName, Variant: e.Variant,
				Model: e.Model, UpstreamModel: e.UpstreamModel, PriceIn: e.PriceIn, PriceOut: e.PriceOut,
				ContextLength: e.ContextLength, Prefill: e.Prefill})
		}
		a.Models = append(a.Models, m)
	}
	writeJSON(w, http.StatusOK, a)
}

// ResolveBody is what POST /admin/v1/resolve takes: models, the first the
// one asked for and the rest its fallbacks, and a request's provider
// object.
type ResolveBody struct {
	Models   []string        `json:"models"`
	Provider json.RawMessage `json:"provider"`
}

// adminResolve resolves the provider names of a provider object as a chat
// request's would be (slugs, display names, any case), for a dashboard
// that checks a console command before it sends anything: the resolved
// object, or the error a request would get ("did you mean").
func (s *Server) adminResolve(w http.ResponseWriter, r *http.Request) {
	var b ResolveBody
	if !s.readAdminBody(w, r, &b) {
		return
	}
	if len(b.Models) == 0 {
		writeError(w, &apiError{Status: http.StatusBadRequest, Type: "invalid_request", Param: "models", Message: "models must name at least one model"})
		return
	}
	prefs, e := decodeProvider(b.Provider)
	if e != nil {
		writeError(w, e)
		return
	}
	out, err := s.opts.Router.ResolveProviders(b.Models, prefs)
	if err != nil {
		writeError(w, fromRouting(err, nil))
		return
	}
	writeJSON(w, http.StatusOK, map[string]routing.Preferences{"provider": out})
}

// enableBody is what POST /admin/v1/endpoints/{id} takes.
type enableBody struct {
	Enabled *bool `json:"enabled"`
}

// adminEnable turns an endpoint on or off: {"enabled": false}.
func (s *Server) adminEnable(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !s.knownEndpoint(w, id) {
		return
	}
	var b enableBody
	if !s.readAdminBody(w, r, &b) {
		return
	}
	if b.Enabled == nil {
		writeError(w, &apiError{Status: http.StatusBadRequest, Type: "invalid_request", Param: "enabled",
			Message: `the body must say {"enabled": true} or {"enabled": false}`})
		return
	}
	by := "the admin API, from " + r.RemoteAddr
	if err := s.opts.Admin.Health.SetEnabledBy(id, *b.Enabled, by); err != nil {
		writeError(w, &apiError{Status: http.StatusNotFound, Type: "not_found", Message: err.Error()})
		return
	}
	word := map[bool]string{true: "on", false: "off"}[*b.Enabled]
	s.opts.Log.LogAttrs(r.Context(), slog.LevelInfo, "admin: endpoint turned "+word, slog.String("endpoint", id), slog.String("client", r.RemoteAddr))
	writeJSON(w, http.StatusOK, map[string]any{"endpoint": id, "enabled": *b.Enabled})
}

// faultsAnswer is GET /admin/v1/faults: the modes there are, and each
// simulated provider's.
type faultsAnswer struct {
	Modes     []string          `json:"modes"`
	Providers map[string]string `json:"providers"`
}

// adminFaults answers the faults forced on the simulated providers.
func (s *Server) adminFaults(w http.ResponseWriter, r *http.Request) {
	a := faultsAnswer{Modes: []string{}, Providers: map[string]string{}}
	if f := s.opts.Admin.Faults; f != nil {
		a.Modes = f.Modes()
		for _, p := range s.providers() {
			if mode, simulated := f.Mode(p); simulated {
				a.Providers[p] = mode
			}
		}
	}
	writeJSON(w, http.StatusOK, a)
}

// faultBody is what POST /admin/v1/faults/{provider} takes.
type faultBody struct {
	Mode string `json:"mode"`
}

// adminSetFault forces a fault on a simulated provider: {"mode": "down"};
// "normal" ends it.
func (s *Server) adminSetFault(w http.ResponseWriter, r *http.Request) {
	p := r.PathValue("provider")
	f := s.opts.Admin.Faults
	if f == nil {
		writeError(w, &apiError{Status: http.StatusNotFound, Type: "not_found",
			Message: "no provider of this gateway is simulated: faults can be forced only on simulated providers"})
		return
	}
	var b faultBody
	if !s.readAdminBody(w, r, &b) {
		return
	}
	if err := f.SetMode(p, b.Mode); err != nil {
		writeError(w, &apiError{Status: http.StatusBadRequest, Type: "invalid_request", Param: "mode", Message: err.Error()})
		return
	}
	s.opts.Log.LogAttrs(r.Context(), slog.LevelInfo, "admin: fault forced", slog.String("provider", echo(p)),
		slog.String("mode", echo(b.Mode)), slog.String("client", r.RemoteAddr))
	writeJSON(w, http.StatusOK, map[string]string{"provider": p, "mode": b.Mode})
}

// knownEndpoint reports whether id is an endpoint of the router, and
// answers 404 naming them when it is not.
func (s *Server) knownEndpoint(w http.ResponseWriter, id string) bool {
	var ids []string
	for _, m := range s.opts.Router.Models() {
		for _, e := range s.opts.Router.Endpoints(m) {
			if e.ID == id {
				return true
			}
			ids = append(ids, e.ID)
		}
	}
	writeError(w, &apiError{Status: http.StatusNotFound, Type: "not_found",
		Message: fmt.Sprintf("no endpoint %q; the endpoints are %s", echo(id), strings.Join(ids, ", "))})
	return false
}

// providers lists the router's providers, each once, in the order of
// their first endpoints.
func (s *Server) providers() []string {
	var ps []string
	for _, m := range s.opts.Router.Models() {
		for _, e := range s.opts.Router.Endpoints(m) {
			if !slices.Contains(ps, e.Provider) {
				ps = append(ps, e.Provider)
			}
		}
	}
	return ps
}

// adminBodyLimit bounds an admin request's body: a switch is a few bytes.
const adminBodyLimit = 4 << 10

// readAdminBody reads a JSON object of the fields of v, and nothing else,
// into v; on failure it answers the client's error and reports false.
func (s *Server) readAdminBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, adminBodyLimit))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("more than one JSON value")
	}
	if err != nil {
		writeError(w, &apiError{Status: http.StatusBadRequest, Type: "invalid_request",
			Message: "the body is not what this path takes: " + echo(err.Error())})
		return false
	}
	return true
}
