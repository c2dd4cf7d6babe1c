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
	"net/url"
	"path"
	"slices"
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
	// (Authorization: Bearer <key>, the scheme in any case, or x-api-key:
	// <key> as Anthropic's clients send it) to use /v1, /api/v1 and, unless
	// MetricsPublic, /metrics; without keys the API is open, for a gateway
	// on loopback. Health checks (/healthz, /readyz) are always open.
	Keys []string
	// MetricsPublic leaves /metrics open when there are Keys, for a
	// Prometheus that scrapes without one.
	MetricsPublic bool
	// MaxBody caps a request body, in bytes; default 4 MiB.
	MaxBody int64
	// BodyTimeout is how long a client has to send a request's body once
	// its headers are in; default 30s. A body that is not in by then is
	// answered with a 408 and its connection closed, so a client that
	// stalls holds no connection for longer.
	BodyTimeout time.Duration
	// HeaderTimeout is how long a client has to send a request's headers;
	// default 10s. IdleTimeout is how long a kept-alive connection may wait
	// for its next request; default 2m. Both apply to HTTPServer.
	HeaderTimeout, IdleTimeout time.Duration
	// MaxConnections caps the client connections open at once on
	// HTTPServer's listener (see HTTPServer for which one makes way for a
	// new one, and when a new one is refused with a 503). Default
	// DefaultMaxConnections, from the process's open-file limit.
	MaxConnections int
	// KeepAlive is how long a streaming answer may wait for its first token
	// before the status is sent and SSE comments start to keep idle
	// connections open (as OpenRouter's ": OPENROUTER PROCESSING"); default
	// 3s. Until then, a failure is answered with its own HTTP status.
	KeepAlive time.Duration
	Log       *slog.Logger     // default: discard
	Now       func() time.Time // default time.Now
	// Admin is the admin API, off without keys.
	Admin Admin
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
	reqs    counter  // numbers requests, for request-id
	traces  traceHub // the answered requests' traces, for the admin API's streams
}

// New returns a gateway over o.Router and o.Health.
func New(o Options) *Server {
	if o.MaxBody <= 0 {
		o.MaxBody = 4 << 20
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = 30 * time.Second
	}
	if o.HeaderTimeout <= 0 {
		o.HeaderTimeout = 10 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = DefaultMaxConnections()
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
	s.mux.Handle("/v1/messages/count_tokens", only(http.MethodPost, s.authorized(s.countTokens, writeAnthropicError), writeAnthropicError))
	s.mux.Handle("/v1/messages/", s.authorized(s.messagesNotFound, writeAnthropicError))
	api(http.MethodGet, "/api/v1/models/{author}/{slug}/endpoints", s.endpoints)
	api(http.MethodGet, "/api/v1/health", s.health)
	metrics := s.metrics.handler()
	if !o.MetricsPublic {
		metrics = s.authorized(metrics.ServeHTTP, writeError)
	}
	s.mux.Handle("/metrics", only(http.MethodGet, metrics, writeError))
	s.mux.Handle("/healthz", only(http.MethodGet, http.HandlerFunc(s.live), writeError))
	s.mux.Handle("/readyz", only(http.MethodGet, http.HandlerFunc(s.ready), writeError))
	s.routeAdmin()
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
			Message: fmt.Sprintf("%s is not served; use %s", request(r), method)})
	})
}

// request names a request in an error message: its method and path, as
// much of them as a message repeats.
func request(r *http.Request) string {
	return routing.Clip(r.Method, 16) + " " + routing.Clip(r.URL.Path, routing.EchoLimit)
}

// ServeHTTP serves one request. A request with a body has BodyTimeout to
// send it, whichever handler reads it (or net/http, which reads what a
// handler left before the connection's next request); until it is read,
// its connection may be made to give way to a new one (see HTTPServer).
// Requests that ServeMux would answer in plain text or HTML ("*" but
// OPTIONS *, which net/http answers itself; CONNECT; an unclean path) are
// answered here in JSON.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Every answer, errors included, names its request: request-id as
	// Anthropic's clients read it, x-request-id as OpenAI's do. Like theirs,
	// it is the request's id, not the answer's (gen-..., msg_...).
	id := seqID("req_", s.opts.Now().Unix(), s.reqs.next())
	h, ids := w.Header(), []string{id} // one slice for both (see jsonType)
	h["Request-Id"], h["X-Request-Id"] = ids, ids
	if r.Body != nil && r.Body != http.NoBody {
		// The connection's deadline is on the wall clock, whatever Now says.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.opts.BodyTimeout))
	} else {
		_ = connOf(r).read("headers") // all there is to read is in; served even if told to make way since
	}
	switch clean := cleanPath(r.URL.Path); {
	case r.RequestURI == "*":
		w.Header().Set("Connection", "close")
		writeError(w, &apiError{Status: http.StatusBadRequest, Type: "invalid_request",
			Message: routing.Clip(r.Method, 16) + " * is not a request this API serves; name a path, such as POST /v1/chat/completions"})
	case r.Method == http.MethodConnect: // ServeMux answers it "404 page not found"
		w.Header().Set("Connection", "close")
		w.Header().Set("Allow", "GET, HEAD, POST")
		writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Type: "invalid_request",
			Message: "CONNECT is not served: Switchboard is an HTTP API, not a proxy; send POST /v1/chat/completions"})
	case clean != r.URL.Path:
		// Where ServeMux would redirect with an HTML page or none: the
		// same redirect, which keeps the method and body, with a JSON body
		// for a client that does not follow it.
		to := url.URL{Path: clean, RawQuery: r.URL.RawQuery}
		w.Header().Set("Location", to.String())
		writerFor(clean)(w, &apiError{Status: http.StatusTemporaryRedirect, Type: "invalid_request",
			Message: fmt.Sprintf("%s is not a clean path; send the request to %s", request(r), routing.Clip(clean, routing.EchoLimit))})
	default:
		s.mux.ServeHTTP(w, r)
	}
}

// writerFor is how errors are written on path p: in Anthropic's shape on
// its Messages API (every path under /v1/messages), else in OpenAI's.
func writerFor(p string) func(http.ResponseWriter, *apiError) {
	if isMessagesPath(p) {
		return writeAnthropicError
	}
	return writeError
}

// cleanPath is the path ServeMux serves p at: p with . and .. elements and
// doubled slashes removed, keeping a trailing slash, as net/http has it.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// authorized lets a request through when the gateway has no keys or the
// request presents one of them, as a bearer token or (as Anthropic's
// clients send it) in x-api-key; else writeErr refuses it.
func (s *Server) authorized(h http.HandlerFunc, writeErr func(http.ResponseWriter, *apiError)) http.Handler {
	if len(s.opts.Keys) == 0 {
		return h
	}
	return s.keyed(append(slices.Clip(s.opts.Keys), s.opts.Admin.Keys...), "API", h, writeErr)
}

// keyed serves h to a client that presents one of keys, the what's (the
// "API"'s, the "admin" API's), and refuses any other with a 401.
func (s *Server) keyed(keys []string, what string, h http.HandlerFunc, writeErr func(http.ResponseWriter, *apiError)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := bearer(r.Header.Get("Authorization"))
		if got == "" {
			got = r.Header.Get("X-Api-Key")
		}
		why := "no API key"
		if got = strings.TrimSpace(got); got != "" {
			for _, k := range keys {
				if subtle.ConstantTimeCompare([]byte(got), []byte(k)) == 1 {
					h(w, r)
					return
				}
			}
			why = "an " + what + " key the gateway was not given" // which one is not said: it may be a real key of something else
		}
		s.opts.Log.LogAttrs(r.Context(), slog.LevelWarn, "refused", slog.Int("status", http.StatusUnauthorized),
			slog.String("path", echo(r.URL.Path)), slog.String("client", r.RemoteAddr), slog.String("error", why))
		writeErr(w, &apiError{Status: http.StatusUnauthorized, Type: "authentication",
			Message: "missing or unknown " + what + " key: send Authorization: Bearer <key> (or x-api-key: <key>) with a key the gateway was given for its " + what})
	})
}

// bearer is the token of an Authorization header of the Bearer scheme,
// whose name is case-insensitive (RFC 7235), else "".
func bearer(authorization string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return token
}

// isMessagesPath reports whether p is Anthropic's Messages API or a path
// under it, whose errors are in Anthropic's shape.
func isMessagesPath(p string) bool {
	return p == "/v1/messages" || strings.HasPrefix(p, "/v1/messages/")
}

// messagesNotFound answers a path under /v1/messages that is not served,
// in Anthropic's shape, as Anthropic's clients read it.
func (s *Server) messagesNotFound(w http.ResponseWriter, r *http.Request) {
	writeAnthropicError(w, &apiError{Status: http.StatusNotFound, Type: "not_found",
		Message: request(r) + " is not an endpoint of this API; Anthropic's paths here are POST /v1/messages and POST /v1/messages/count_tokens"})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, &apiError{Status: http.StatusNotFound, Type: "not_found",
		Message: request(r) + " is not an endpoint of this API; try POST /v1/chat/completions or GET /v1/models"})
}
