// Package gateway is Switchboard's HTTP API: OpenAI's chat completions with
// OpenRouter's routing extensions over the router, the models and their
// endpoints' live health, Prometheus metrics, and health checks for the
// process itself. Programs that speak to OpenAI or OpenRouter speak to it
// by changing their base URL.
package gateway

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"switchboard/monitor"
	"switchboard/routing"
)

// Health is what the gateway reads of the monitor.
type Health interface {
	Snapshot() *monitor.Snapshot
}

// Options configure a gateway.
type Options struct {
	Router *routing.Router
	Health Health
	// Keys, if any, are the bearer tokens a client must present
	// (Authorization: Bearer <key>, or x-api-key: <key> as Anthropic's
	// clients send it) to use /v1 and /api/v1; without keys
	// the API is open, for a gateway on loopback. Health checks and
	// metrics are always open.
	Keys []string
	// MaxBody caps a request body, in bytes; default 4 MiB.
	MaxBody int64
	// KeepAlive is how long a streaming answer may wait for its first token
	// before the status is sent and SSE comments start to keep idle
	// connections open (as OpenRouter's ": OPENROUTER PROCESSING"); default
	// 3s. Until then, a failure is answered with its own HTTP status.
	KeepAlive time.Duration
	Log       *slog.Logger     // default: discard
	Now       func() time.Time // default time.Now
	// Routed, if set, is given the decision trace of every chat request the
	// router took on, once it has ended: the dashboard shows their fallbacks
	// and hedges. It must not block.
	Routed func(*routing.Trace)
}

// Server serves the API. It holds no goroutines of its own: every request
// is served on the goroutine net/http gives it (and one for the router).
type Server struct {
	opts    Options
	mux     *http.ServeMux
	metrics *metrics
	seq     counter
}

// New returns a gateway over o.Router and o.Health.
func New(o Options) *Server {
	if o.MaxBody <= 0 {
		o.MaxBody = 4 << 20
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = 3 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{opts: o, mux: http.NewServeMux(), metrics: newMetrics(o.Health, o.Router.Models())}
	api := func(method, path string, h http.HandlerFunc) {
		s.mux.Handle(path, only(method, s.authorized(h, writeError), writeError))
	}
	for _, base := range []string{"/v1", "/api/v1"} { // OpenAI's paths and OpenRouter's
		api(http.MethodPost, base+"/chat/completions", s.chat)
		api(http.MethodGet, base+"/models", s.models)
	}
	// Anthropic's Messages API, whose clients read errors in its own shape.
	s.mux.Handle("/v1/messages", only(http.MethodPost, s.authorized(s.messages, writeAnthropicError), writeAnthropicError))
	api(http.MethodGet, "/api/v1/models/{author}/{slug}/endpoints", s.endpoints)
	api(http.MethodGet, "/api/v1/health", s.health)
	s.mux.Handle("/metrics", only(http.MethodGet, s.metrics.handler(), writeError))
	s.mux.Handle("/healthz", only(http.MethodGet, http.HandlerFunc(s.live), writeError))
	s.mux.Handle("/readyz", only(http.MethodGet, http.HandlerFunc(s.ready), writeError))
	s.mux.HandleFunc("/", s.notFound)
	return s
}

// only serves method (GET also serves HEAD) and answers any other with a
// JSON 405, written by writeErr, that says which one to use.
func only(method string, h http.Handler, writeErr func(http.ResponseWriter, *apiError)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == method || method == http.MethodGet && r.Method == http.MethodHead {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Allow", method)
		writeErr(w, &apiError{Status: http.StatusMethodNotAllowed, Type: "invalid_request",
			Message: fmt.Sprintf("%s %s is not served; use %s", r.Method, r.URL.Path, method)})
	})
}

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// authorized lets a request through when the gateway has no keys or the
// request presents one of them, as a bearer token or (as Anthropic's
// clients send it) in x-api-key; else writeErr refuses it.
func (s *Server) authorized(h http.HandlerFunc, writeErr func(http.ResponseWriter, *apiError)) http.Handler {
	if len(s.opts.Keys) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			got = r.Header.Get("X-Api-Key")
		}
		if got != "" {
			for _, k := range s.opts.Keys {
				if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(k)) == 1 {
					h(w, r)
					return
				}
			}
		}
		writeErr(w, &apiError{Status: http.StatusUnauthorized, Type: "authentication",
			Message: "missing or unknown API key: send Authorization: Bearer <key> (or x-api-key: <key>) with a key the gateway was given"})
	})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, &apiError{Status: http.StatusNotFound, Type: "not_found",
		Message: r.Method + " " + r.URL.Path + " is not an endpoint of this API; try POST /v1/chat/completions or GET /v1/models"})
}
