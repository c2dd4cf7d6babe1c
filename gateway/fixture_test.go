package gateway

import (
	"bytes"
	"cmp"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"switchboard/monitor"
	"switchboard/monitor/monitortest"
	"switchboard/provider"
	"switchboard/routing"
	"switchboard/sim"
	"switchboard/sim/simtest"
)

// testModel is the model every fixture serves.
const testModel = "acme/chat-1"

// upstream is one endpoint of a fixture: a simulated provider, or any
// server speaking OpenAI's protocol at url.
type upstream struct {
	profile *sim.Profile // started with simtest when set
	url     string       // else this server's /v1 root
	price   float64      // USD per million tokens in and out; lower is tried first
	prefill bool
	name    string   // the provider's display name ("DeepInfra"); "" is the slug
	params  []string // the request parameters it supports, for require_parameters; nil is unknown

	// priceOut, if set, is the price of completion tokens instead of
	// price; priceRequest is USD per request.
	priceOut, priceRequest float64

	anthropic bool // it speaks Anthropic's protocol, else OpenAI's
	images    bool // it takes images (and its simulator does)
}

// fixture is a gateway over a router over real loopback upstreams, served
// by httptest.
type fixture struct {
	mon    *monitor.Monitor
	clock  *monitortest.Clock
	router *routing.Router
	srv    *httptest.Server
	sims   map[string]*sim.Server
}

// newFixture starts the upstreams (named by provider), a monitor on a test
// clock, a router with a fixed seed, and the gateway with o's settings.
func newFixture(t testing.TB, o Options, ups map[string]upstream) *fixture {
	t.Helper()
	return newRoutedFixture(t, o, routing.Options{}, ups)
}

// newRoutedFixture is newFixture with a router of ro's settings (its
// endpoints, health, clock and seed are the fixture's).
func newRoutedFixture(t testing.TB, o Options, ro routing.Options, ups map[string]upstream) *fixture {
	t.Helper()
	f := &fixture{clock: monitortest.NewClock(), sims: map[string]*sim.Server{}}
	var eps []routing.Endpoint
	var meps []monitor.Endpoint
	// In the names' order, not the map's: the seeded draw then picks the
	// same endpoints on every run.
	for _, name := range slices.Sorted(maps.Keys(ups)) {
		u := ups[name]
		url := u.url
		var modalities []string
		if u.images {
			modalities = []string{routing.ModalityImage}
		}
		if u.profile != nil {
			p := *u.profile
			p.Name, p.Models = name, []string{"up-" + name}
			if u.images {
				p.ImageModels = p.Models
			}
			f.sims[name] = simtest.Start(t, p)
			url = f.sims[name].URL()
		}
		id := testModel + "@" + name
		var client interface {
			provider.Upstream
			CloseIdleConnections()
		} = provider.NewOpenAI(provider.OpenAIOptions{BaseURL: url})
		if u.anthropic {
			client = provider.NewAnthropic(provider.AnthropicOptions{BaseURL: url})
		}
		t.Cleanup(client.CloseIdleConnections)
		eps = append(eps, routing.Endpoint{ID: id, Provider: name, ProviderName: u.name, Model: testModel, UpstreamModel: "up-" + name,
			PriceIn: u.price, PriceOut: u.price, Prefill: u.prefill, Parameters: u.params, Upstream: client, InputModalities: modalities})
		eps[len(eps)-1].PriceOut, eps[len(eps)-1].PriceRequest = cmp.Or(u.priceOut, u.price), u.priceRequest
		meps = append(meps, monitor.Endpoint{ID: id, Provider: name, Model: testModel})
	}
	var err error
	if f.mon, err = monitor.New(monitor.Options{Clock: f.clock}, meps); err != nil {
		t.Fatal(err)
	}
	ro.Endpoints, ro.Health, ro.Clock, ro.Seed = eps, f.mon, f.clock, 1
	if f.router, err = routing.New(ro); err != nil {
		t.Fatal(err)
	}
	o.Router, o.Health = f.router, f.mon
	if len(o.Admin.Keys) > 0 && o.Admin.Health == nil {
		o.Admin.Health, o.Admin.Faults = f.mon, simFaults(f.sims)
	}
	f.srv = startServer(t, New(o), nil)
	return f
}

// startServer serves g as switchboard serve does (its HTTPServer on its
// Listener) on a loopback port until the test ends; connState, if set, is
// told of every connection's changes.
func startServer(t testing.TB, g *Server, connState func(net.Conn, http.ConnState)) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(g)
	srv.Config, srv.Listener = g.HTTPServer(srv.Listener, nil)
	if connState != nil {
		own := srv.Config.ConnState
		srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
			own(c, st)
			connState(c, st)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// post sends body (a string as is, else as JSON) to path and returns the
// answer with its body read.
func (f *fixture) post(t *testing.T, path string, body any, header ...string) (*http.Response, []byte) {
	t.Helper()
	b, ok := body.(string)
	if !ok {
		j, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		b = string(j)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.srv.URL+path, strings.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return f.do(t, req)
}

// get fetches path.
func (f *fixture) get(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f.do(t, req)
}

// do sends req with the fixture's client, or with client if one is given.
func (f *fixture) do(t *testing.T, req *http.Request, client ...*http.Client) (*http.Response, []byte) {
	t.Helper()
	c := f.srv.Client()
	if len(client) > 0 {
		c = client[0]
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// chatBody is a small chat request for the fixture's model.
func chatBody(stream bool) map[string]any {
	return map[string]any{"model": testModel, "stream": stream, "max_tokens": 8,
		"messages": []map[string]any{{"role": "user", "content": "Say hello."}}}
}

// wireError is an error answer as a client reads it.
type wireError struct {
	Error struct {
		Code     int     `json:"code"`
		Message  string  `json:"message"`
		Type     string  `json:"type"`
		Param    *string `json:"param"`
		Metadata struct {
			ErrorType      string                  `json:"error_type"`
			PreviousErrors []routing.PreviousError `json:"previous_errors"`
		} `json:"metadata"`
	} `json:"error"`
	Trace *routing.Trace `json:"trace"`
}

// decodeError reads an error answer, failing unless it has the status and
// is JSON of the OpenAI/OpenRouter shape.
func decodeError(t *testing.T, resp *http.Response, body []byte, status int) wireError {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var e wireError
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error answer is not JSON: %v: %s", err, body)
	}
	if e.Error.Code != status || e.Error.Message == "" || e.Error.Type == "" || e.Error.Metadata.ErrorType != e.Error.Type {
		t.Errorf("error answer %s", body)
	}
	return e
}

// events splits an SSE body into its data payloads and comment lines.
func events(t *testing.T, body []byte) (data []string, comments []string) {
	t.Helper()
	for _, ev := range strings.Split(strings.TrimSpace(string(body)), "\n\n") {
		for line := range strings.SplitSeq(ev, "\n") {
			switch {
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			case strings.HasPrefix(line, ":"):
				comments = append(comments, line)
			case line != "":
				t.Errorf("a line that is neither data nor a comment: %q", line)
			}
		}
	}
	return data, comments
}
