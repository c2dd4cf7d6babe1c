// Package watch is a Switchboard gateway running elsewhere, as the
// dashboard (package ui) sees it: its health, from the admin API's stream
// of its monitor's snapshots; its router, from its routes, with prompts
// sent through its chat API; its faults and switches, through the admin
// API. The dashboard watching a gateway is the same dashboard as the one
// that runs with the gateway in its own process.
package watch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"switchboard/gateway"
	"switchboard/monitor"
	"switchboard/provider"
	"switchboard/routing"
	"switchboard/ui"
)

// Gateway is a watched gateway: a ui.Health, a ui.Router and ui.Faults.
type Gateway struct {
	base    string // the gateway's root, http://HOST:PORT
	key     string // an admin key: it opens the API too
	c       *http.Client
	models  []string
	eps     map[string][]routing.Endpoint
	aliases map[string]string
	display map[string]string // model -> its name for people
	first   string            // the model the gateway's own dashboard opens on
	traces  chan ui.Routed

	mu     sync.Mutex
	snap   *monitor.Snapshot
	subs   map[chan *monitor.Snapshot]struct{}
	modes  []string
	faults map[string]string

	cancel context.CancelFunc
	done   chan struct{} // closed when the stream's reader has stopped
}

// Dial reads the routes, the faults and a first snapshot of the gateway at
// base (http://HOST:PORT) with an admin key, and follows its stream of
// snapshots and traces until ctx ends or Close; a stream that breaks is
// opened again every retry, the dashboard showing the last snapshot's age
// meanwhile.
func Dial(ctx context.Context, base, key string) (*Gateway, error) {
	u, err := url.Parse(strings.TrimSuffix(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("watch: %q is not a gateway's address; write http://HOST:PORT", base)
	}
	g := &Gateway{base: u.String(), key: key, c: &http.Client{}, eps: map[string][]routing.Endpoint{},
		traces: make(chan ui.Routed, 64), subs: map[chan *monitor.Snapshot]struct{}{}, done: make(chan struct{})}
	var routes gateway.Routes
	if err := g.get(ctx, "/admin/v1/routes", &routes); err != nil {
		return nil, err
	}
	g.aliases, g.display, g.first = map[string]string{}, map[string]string{}, routes.DefaultModel
	for _, m := range routes.Models {
		g.models = append(g.models, m.Name)
		g.display[m.Name] = m.Display
		for _, a := range m.Aliases {
			g.aliases[a] = m.Name
		}
		for _, e := range m.Endpoints {
			g.eps[m.Name] = append(g.eps[m.Name], routing.Endpoint{ID: e.ID, Provider: e.Provider, ProviderName: e.ProviderName,
				Variant: e.Variant, Model: e.Model, UpstreamModel: e.UpstreamModel, PriceIn: e.PriceIn, PriceOut: e.PriceOut,
				ContextLength: e.ContextLength, Prefill: e.Prefill})
		}
	}
	if err := g.readFaults(ctx); err != nil {
		return nil, err
	}
	var snap monitor.Snapshot
	if err := g.get(ctx, "/admin/v1/snapshot", &snap); err != nil {
		return nil, err
	}
	g.snap = &snap
	ctx, g.cancel = context.WithCancel(ctx)
	go g.follow(ctx)
	return g, nil
}

// Close stops following the stream and waits until it has.
func (g *Gateway) Close() {
	g.cancel()
	<-g.done
	g.c.CloseIdleConnections()
}

// faultsEvery is how many snapshots (of 500 ms each, by default) go by
// between two readings of the gateway's faults.
const faultsEvery = 4

// retry is the pause before a broken stream is opened again.
const retry = 2 * time.Second

// follow reads the stream, and opens it again after each break, until ctx
// ends; subscribers' channels are closed then.
func (g *Gateway) follow(ctx context.Context) {
	defer close(g.done)
	defer func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		for ch := range g.subs {
			close(ch)
		}
		g.subs = nil
	}()
	for {
		g.stream(ctx)
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// stream reads one connection of the stream until it breaks or ctx ends.
func (g *Gateway) stream(ctx context.Context) {
	resp, err := g.do(ctx, http.MethodGet, "/admin/v1/stream", nil)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 16<<20) // a snapshot of a large fleet
	var event string
	snaps := 0
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data := []byte(strings.TrimPrefix(line, "data: "))
			switch event {
			case "snapshot":
				var snap monitor.Snapshot
				if json.Unmarshal(data, &snap) == nil {
					g.publish(&snap)
				}
				// Faults are forced on the gateway's side too (its own
				// dashboard's f): read them again now and then.
				if snaps++; snaps%faultsEvery == 0 {
					g.readFaults(ctx)
				}
			case "trace":
				var t routing.Trace
				if json.Unmarshal(data, &t) == nil {
					select {
					case g.traces <- ui.Routed{Trace: &t, Via: "API"}:
					default: // the dashboard fell behind: as the local feed does
					}
				}
			}
		}
	}
}

// publish keeps snap and hands it to every subscriber, replacing one not
// yet taken (as the monitor's Subscribe does).
func (g *Gateway) publish(snap *monitor.Snapshot) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.snap = snap
	for ch := range g.subs {
		select {
		case <-ch:
		default:
		}
		ch <- snap
	}
}

// Display names the gateway's models for people, as its config does.
func (g *Gateway) Display() map[string]string { return maps.Clone(g.display) }

// DefaultModel is the model the gateway's own dashboard opens on.
func (g *Gateway) DefaultModel() string { return g.first }

// Traces are the decision traces of the requests the gateway answers, for
// the dashboard's event log.
func (g *Gateway) Traces() <-chan ui.Routed { return g.traces }

// ---- ui.Health ----

// Snapshot is the newest snapshot the gateway sent.
func (g *Gateway) Snapshot() *monitor.Snapshot {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.snap
}

// Subscribe sends each snapshot as it comes, the newest only, until ctx
// ends or the Gateway is closed.
func (g *Gateway) Subscribe(ctx context.Context) <-chan *monitor.Snapshot {
	ch := make(chan *monitor.Snapshot, 1)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.subs == nil { // closed
		close(ch)
		return ch
	}
	g.subs[ch] = struct{}{}
	context.AfterFunc(ctx, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if _, ok := g.subs[ch]; ok {
			delete(g.subs, ch)
			close(ch)
		}
	})
	return ch
}

// SetEnabled turns an endpoint on or off through the admin API.
func (g *Gateway) SetEnabled(id string, on bool) error {
	return g.post(context.Background(), "/admin/v1/endpoints/"+id, map[string]bool{"enabled": on}, nil)
}

// Minutes is an endpoint's last 30 minutes; nil if the gateway does not
// answer.
func (g *Gateway) Minutes(id string) []monitor.MinutePoint {
	var m []monitor.MinutePoint
	if g.get(context.Background(), "/admin/v1/minutes/"+id, &m) != nil {
		return nil
	}
	return m
}

// ---- ui.Faults ----

// readFaults reads the modes there are and each simulated provider's.
func (g *Gateway) readFaults(ctx context.Context) error {
	var f struct {
		Modes     []string          `json:"modes"`
		Providers map[string]string `json:"providers"`
	}
	if err := g.get(ctx, "/admin/v1/faults", &f); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.modes, g.faults = f.Modes, f.Providers
	return nil
}

// Modes lists the modes a fault may be.
func (g *Gateway) Modes() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.modes
}

// Mode is the provider's forced mode as last read, and whether it is
// simulated.
func (g *Gateway) Mode(p string) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m, ok := g.faults[p]
	return m, ok
}

// SetMode forces a mode on a simulated provider through the admin API.
func (g *Gateway) SetMode(p, mode string) error {
	ctx := context.Background()
	if err := g.post(ctx, "/admin/v1/faults/"+p, map[string]string{"mode": mode}, nil); err != nil {
		return err
	}
	return g.readFaults(ctx)
}

// ---- ui.Router ----

// Models lists the gateway's models.
func (g *Gateway) Models() []string { return append([]string(nil), g.models...) }

// Endpoints lists a model's endpoints as the gateway's routes give them
// (no upstream: prompts go through the gateway).
func (g *Gateway) Endpoints(model string) []routing.Endpoint {
	return append([]routing.Endpoint(nil), g.eps[model]...)
}

// Canonical is the model name stands for, as the gateway's aliases say.
func (g *Gateway) Canonical(name string) string {
	base, _ := routing.ModelSuffix(name)
	if m, ok := g.aliases[base]; ok {
		return m + name[len(base):]
	}
	return name
}

// ResolveProviders resolves p's provider names as the gateway resolves a
// request's; a name it does not know is its error, with the field.
func (g *Gateway) ResolveProviders(models []string, p routing.Preferences) (routing.Preferences, error) {
	var out struct{ Provider routing.Preferences }
	err := g.post(context.Background(), "/admin/v1/resolve", map[string]any{"models": models, "provider": p}, &out)
	if err != nil {
		return p, err
	}
	return out.Provider, nil
}

// chunk is an event of a streamed chat completion, as the gateway writes
// it.
type chunk struct {
	Model    string `json:"model"`
	Provider string `json:"provider"`
	Choices  []struct {
		Delta struct {
			Content   string `json:"content"`
			Reasoning string `json:"reasoning"`
		} `json:"delta"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *provider.Usage `json:"usage"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
	Trace *routing.Trace `json:"trace"`
}

// Send sends req through the gateway's chat completions, streamed, and
// hands each piece of the answer to onDelta; the result carries the
// gateway's trace. Per-request hedging is not part of the API: a request
// that asks for it is refused here, saying where hedging is set.
func (g *Gateway) Send(ctx context.Context, req routing.Request, onDelta routing.OnDelta) (*routing.Result, error) {
	res := &routing.Result{Model: req.Model}
	if req.Hedge != nil && req.Hedge.Enabled {
		return res, errors.New("hedging per request is not part of the API: a watched gateway hedges a model with hedge = true in its config")
	}
	msgs := make([]map[string]string, len(req.Messages))
	for i, m := range req.Messages {
		msgs[i] = map[string]string{"role": m.Role, "content": m.Content}
	}
	body := map[string]any{"model": req.Model, "messages": msgs, "stream": true, "provider": req.Provider}
	if req.MaxTokens > 0 {
		body["max_tokens"] = req.MaxTokens
	}
	if len(req.Models) > 0 {
		body["models"] = req.Models
	}
	resp, err := g.do(ctx, http.MethodPost, "/v1/chat/completions", body)
	if err != nil {
		var f *failure
		if errors.As(err, &f) {
			res.Trace = f.trace // who was tried, and why each failed
		}
		return res, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 16<<20) // the last chunk carries the trace
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			if res.FinishReason == "" {
				return res, errors.New("the gateway's stream ended without a finish reason: the answer may be cut short")
			}
			return res, nil
		}
		var c chunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return res, fmt.Errorf("the gateway sent an event that is not JSON: %w", err)
		}
		res.Model, res.Provider = or(c.Model, res.Model), or(c.Provider, res.Provider)
		if c.Trace != nil {
			res.Trace, res.Endpoint = c.Trace, c.Trace.Served
		}
		if c.Usage != nil {
			res.Usage = *c.Usage
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != "" || ch.Delta.Reasoning != "" {
				onDelta(routing.Delta{Content: ch.Delta.Content, Reasoning: ch.Delta.Reasoning})
			}
			res.FinishReason = or(ch.FinishReason, res.FinishReason)
		}
		if c.Error != nil {
			return res, errors.New(c.Error.Message)
		}
	}
	if err := sc.Err(); err != nil {
		return res, fmt.Errorf("the answer's stream broke: %w", err)
	}
	return res, errors.New("the gateway's stream ended before [DONE]: the answer may be cut short")
}

// or is a if it is not empty, else b.
func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ---- the wire ----

// apiError is an error answer of the gateway.
type apiError struct {
	Error struct {
		Message string `json:"message"`
		Param   string `json:"param"`
		Type    string `json:"type"`
	} `json:"error"`
	Trace *routing.Trace `json:"trace"`
}

// do sends a request with the admin key, body as JSON if not nil, and
// returns a 200's answer; any other status is its error, in the gateway's
// words (a bad request as a routing.Error naming the field).
func (g *Gateway) do(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.base+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+g.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("watch: %s %s: %w", method, path, errors.Unwrap(err))
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e apiError
	if json.Unmarshal(b, &e) != nil || e.Error.Message == "" {
		return nil, fmt.Errorf("watch: %s %s: HTTP %d", method, path, resp.StatusCode)
	}
	f := &failure{err: fmt.Errorf("%s", e.Error.Message), trace: e.Trace}
	if resp.StatusCode == http.StatusBadRequest {
		f.err = &routing.Error{Kind: routing.KindBadRequest, Message: e.Error.Message, Param: e.Error.Param}
	}
	return nil, f
}

// failure is an error answer of the gateway: its error (a routing.Error
// for a bad request), and the trace of a chat request that failed.
type failure struct {
	err   error
	trace *routing.Trace
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// get reads path's JSON answer into v.
func (g *Gateway) get(ctx context.Context, path string, v any) error {
	resp, err := g.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// post sends body to path and reads its JSON answer into v, if not nil.
func (g *Gateway) post(ctx context.Context, path string, body, v any) error {
	resp, err := g.do(ctx, http.MethodPost, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if v == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
