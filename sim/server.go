package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// defaultKeepAlive is how often a stream waiting for its first token sends an
// SSE comment, as real gateways do so that proxies keep the connection open.
const defaultKeepAlive = time.Second

// Options are the run-time settings shared by every simulated server.
type Options struct {
	// Now is the clock that drives the outage schedule and the timestamps in
	// answers; nil means time.Now. Waits inside a request (time to first
	// token, pacing) use real timers, which tests keep short with fast
	// profiles.
	Now func() time.Time

	// KeepAlive is the interval of the ": keep-alive" comments sent while a
	// stream waits for its first token; zero means one second.
	KeepAlive time.Duration

	// ErrorLog receives the HTTP server's own errors; nil discards them, so
	// that a dashboard owning the terminal is not scribbled over.
	ErrorLog *log.Logger

	// ended, if set, hears how each chat request ended, once its handler is
	// done with it; tests use it to see a handler finish without polling.
	ended func(outcome)
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = defaultKeepAlive
	}
	if o.ErrorLog == nil {
		o.ErrorLog = log.New(io.Discard, "", 0)
	}
	return o
}

// Server is one running simulated provider.
type Server struct {
	profile  Profile
	opts     Options
	statuses []int // the profile's error statuses, or the defaults
	started  time.Time
	url      string

	mode  atomic.Uint32 // a Mode
	seq   atomic.Uint64 // numbers answers, for their ids
	stats counters

	rngMu sync.Mutex // guards rng and rng2, which handlers share
	rng   *rand.Rand
	rng2  *rand.Rand // the draws of the faults added later (see decide)
	short shortLimiter
	cache promptCache // the prompt prefixes this server saw, as a provider's prompt cache

	http   *http.Server
	ctx    context.Context // ends when Close starts; every request derives from it
	cancel context.CancelFunc
	served chan struct{} // closed when Serve has returned

	// gate lets Close wait for every handler: a handler joins active under a
	// read lock only while the server is open, so no Add races the Wait.
	gate   sync.RWMutex
	closed bool
	active sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// Start validates the profile, listens on a free loopback port and serves
// the profile until Close.
func Start(p Profile, o Options) (*Server, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("start simulated provider: %w", err)
	}
	o = o.withDefaults()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start simulated provider %q: listen on loopback: %w", p.Name, err)
	}
	p.Models = slices.Clone(p.Models)
	p.ImageModels = slices.Clone(p.ImageModels)
	p.ContextLengths = maps.Clone(p.ContextLengths)
	p.Outages = slices.Clone(p.Outages)
	s := &Server{
		profile:  p,
		opts:     o,
		statuses: slices.Clone(p.ErrorStatuses),
		started:  o.Now(),
		url:      "http://" + ln.Addr().String() + "/v1",
		// The second PCG word only separates this stream from the text
		// generator's, which is seeded with the same Seed.
		rng:    rand.New(rand.NewPCG(uint64(p.Seed), 0x5157_4954_4348)),
		rng2:   rand.New(rand.NewPCG(uint64(p.Seed), 0x4641_554c_5432)),
		served: make(chan struct{}),
	}
	s.mode.Store(uint32(p.Mode))
	if len(s.statuses) == 0 {
		s.statuses = slices.Clone(defaultErrorStatuses)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.http = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          o.ErrorLog,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
	}
	go func() {
		defer close(s.served)
		// Serve always returns ErrServerClosed after Close; any other error
		// would have shown at Listen.
		_ = s.http.Serve(ln)
	}()
	return s, nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", s.handleModels)
	mux.HandleFunc("POST /v1/chat/completions", s.handleChat)
	mux.HandleFunc("POST /v1/messages", s.handleMessages)
	mux.HandleFunc("GET /_sim/mode", s.handleGetMode)
	mux.HandleFunc("POST /_sim/mode", s.handleSetMode)
	mux.HandleFunc("GET /_sim/stats", s.handleStats)
	// Without these the catch-all below would answer a wrong method with 404.
	for path, allow := range map[string]string{
		"/v1/models": "GET, HEAD", "/v1/chat/completions": "POST", "/v1/messages": "POST",
		"/_sim/mode": "GET, HEAD, POST", "/_sim/stats": "GET, HEAD",
	} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			dialectOf(r).methodNotAllowed(r.Method, r.URL.Path, allow).write(w)
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		dialectOf(r).notFound(r.URL.Path).write(w)
	})
	return s.track(mux)
}

// track registers every handler with Close, and turns requests away once
// Close has begun.
func (s *Server) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.gate.RLock()
		if s.closed {
			s.gate.RUnlock()
			dialectOf(r).unavailable(s.profile.Name).write(w)
			return
		}
		s.active.Add(1)
		s.gate.RUnlock()
		// Deferred, so a handler that aborts with http.ErrAbortHandler is
		// still counted out.
		defer s.active.Done()
		h.ServeHTTP(w, r)
	})
}

// Handler serves the simulated API as the server does, for a test that
// puts the provider behind a server of its own (one that counts what
// reaches it, say). Requests to it count toward Close's wait.
func (s *Server) Handler() http.Handler { return s.routes() }

// URL is the base URL of the API, ending in /v1: an OpenAI client posts to
// URL()+"/chat/completions", an Anthropic client to URL()+"/messages".
func (s *Server) URL() string { return s.url }

// ControlURL is the base URL of the control API, ending in /_sim; POST
// {"mode":"down"} to ControlURL()+"/mode" to force a fault.
func (s *Server) ControlURL() string { return strings.TrimSuffix(s.url, "/v1") + "/_sim" }

// Name is the provider slug from the profile.
func (s *Server) Name() string { return s.profile.Name }

// Profile returns a copy of the profile the server follows.
func (s *Server) Profile() Profile {
	p := s.profile
	p.Models = slices.Clone(p.Models)
	p.ImageModels = slices.Clone(p.ImageModels)
	p.ContextLengths = maps.Clone(p.ContextLengths)
	p.Outages = slices.Clone(p.Outages)
	p.ErrorStatuses = slices.Clone(p.ErrorStatuses)
	return p
}

// SetMode forces a fault until it is set back to ModeNormal. Requests already
// past their fault decision keep the mode they started with.
func (s *Server) SetMode(m Mode) {
	s.short.reset()
	s.mode.Store(uint32(m))
}

// Mode is the fault currently forced.
func (s *Server) Mode() Mode { return Mode(s.mode.Load()) }

// Close stops the server promptly: it refuses new requests, ends every
// request in flight (stalled streams included) and returns once all of its
// goroutines have. Calling it again returns the first result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.gate.Lock()
		s.closed = true
		s.gate.Unlock()
		s.cancel()
		if err := s.http.Close(); err != nil {
			s.closeErr = fmt.Errorf("close simulated provider %q: %w", s.profile.Name, err)
		}
		s.active.Wait()
		<-s.served
	})
	return s.closeErr
}

// handleModels lists the served models the way GET /v1/models does, in the
// shape of the API the client speaks.
func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	s.stats.requests.Add(1)
	d := dialectOf(r)
	if fail, _ := s.refuse(r, d); fail != nil {
		fail.write(w)
		return
	}
	s.stats.count(outcomeOK)
	writeJSON(w, http.StatusOK, d.models(s.profile.Models, s.started, s.profile.Name))
}

// refuse applies the checks every /v1 request goes through, in the order a
// real deployment does: a provider that is down answers nothing else, then
// the key is checked. It counts the outcome of a refusal; down says it
// was for being down.
func (s *Server) refuse(r *http.Request, d dialect) (fail *httpError, down bool) {
	if s.unavailable() {
		s.stats.count(outcomeUnavailable)
		return d.unavailable(s.profile.Name), true
	}
	if fail := d.authorize(r, s.profile.APIKey); fail != nil {
		s.stats.count(outcomeRejected)
		return fail, false
	}
	return nil, false
}

// wait blocks for d or until ctx ends, and reports whether d passed.
func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// errClientGone marks a request whose client left, or whose server closed,
// before the answer was complete.
var errClientGone = errors.New("client gone before the answer was complete")
