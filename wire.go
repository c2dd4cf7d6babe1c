package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"switchboard/cluster"
	"switchboard/config"
	"switchboard/human"
	"switchboard/monitor"
	"switchboard/monitor/history"
	"switchboard/provider"
	"switchboard/routing"
	"switchboard/sim"
)

// stack is everything one run of Switchboard needs, wired from a config:
// the simulated fleet (if any), one upstream client per provider, the monitor
// and the router.
type stack struct {
	cfg    *config.Config
	fleet  *sim.Fleet
	mon    *monitor.Monitor
	router *routing.Router
	store  *history.Store // nil without history
	node   *cluster.Node  // the link to the fleet; nil alone
}

// build starts the simulated providers and wires clients, monitor and router,
// with health history in store if it is not nil. On error everything started
// so far is stopped. The stack owns the store from then on.
func build(cfg *config.Config, store *history.Store) (*stack, error) {
	s := &stack{cfg: cfg, store: store}
	var profiles []sim.Profile
	for _, p := range cfg.Providers {
		if p.Sim != nil {
			profiles = append(profiles, *p.Sim)
		}
	}
	if len(profiles) > 0 {
		fleet, err := sim.StartFleet(profiles, sim.Options{})
		if err != nil {
			return nil, fmt.Errorf("starting the simulated providers: %w", err)
		}
		s.fleet = fleet
	}

	clients := map[string]provider.Upstream{}
	probes := map[string]config.Provider{}
	for _, p := range cfg.Providers {
		base := p.BaseURL
		if p.Sim != nil {
			srv, _ := s.fleet.Server(p.Name)
			base = srv.URL()
		}
		clients[p.Name] = client(p, base)
		probes[p.Name] = p
	}

	var meps []monitor.Endpoint
	var reps []routing.Endpoint
	defaults := map[string]routing.ModelDefaults{}
	aliases := map[string]string{}
	for _, m := range cfg.Models {
		for _, a := range m.Aliases {
			aliases[a] = m.Name
		}
		if m.HasDefaults() {
			defaults[m.Name] = m.Defaults
		}
		for _, e := range m.Endpoints {
			up := clients[e.Provider]
			p := probes[e.Provider]
			probe, trial := probeFor(p.Probe, up, e.UpstreamModel)
			meps = append(meps, monitor.Endpoint{ID: e.ID, Provider: e.Provider, Model: m.Name,
				Probe: probe, Trial: trial,
				ProbeInterval: p.ProbeInterval, ProbeJitter: p.ProbeJitter, ProbeTimeout: p.ProbeTimeout})
			re := cfg.RoutingEndpoint(&m, &e)
			re.Upstream = up
			reps = append(reps, re)
		}
	}
	var err error
	mo := cfg.Monitor
	if store != nil {
		mo.History = store
	}
	if s.mon, err = monitor.New(mo, meps); err == nil && cfg.Cluster.RedisURL != "" {
		s.node, err = s.joinFleet()
	}
	if err == nil {
		ro := cfg.Routing
		ro.Endpoints, ro.Health, ro.Defaults, ro.Aliases = reps, s.mon, defaults, aliases
		if s.node != nil {
			ro.ShareSticky = s.node.ShareSticky
		}
		s.router, err = routing.New(ro)
	}
	if err == nil && s.node != nil {
		s.node.StickTo(s.router)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// joinFleet makes the monitor one replica of the fleet [cluster] names.
// Each endpoint's account is its provider's name, address and key, hashed:
// replicas share a cooldown only when they call with the same key.
func (s *stack) joinFleet() (*cluster.Node, error) {
	c := s.cfg.Cluster
	replica := c.Replica
	if replica == "" {
		host, err := os.Hostname()
		if err != nil {
			host = "switchboard"
		}
		replica = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	accounts := map[string]string{}
	for _, p := range s.cfg.Providers {
		base := p.BaseURL
		if p.Sim != nil {
			srv, _ := s.fleet.Server(p.Name)
			base = srv.URL()
		}
		sum := sha256.Sum256([]byte(p.Name + "\x00" + base + "\x00" + p.APIKey))
		for _, m := range s.cfg.Models {
			for _, e := range m.Endpoints {
				if e.Provider == p.Name {
					accounts[e.ID] = hex.EncodeToString(sum[:8])
				}
			}
		}
	}
	return cluster.New(cluster.Options{RedisURL: c.RedisURL, Username: c.Username, Password: c.Password,
		TLSCAFile: c.TLSCAFile, Prefix: c.Prefix, Replica: replica, Monitor: s.mon, Accounts: accounts})
}

// client is the upstream client for a provider's wire protocol at base.
func client(p config.Provider, base string) provider.Upstream {
	t := p.Timeouts
	if p.Protocol == config.ProtocolAnthropic {
		return provider.NewAnthropic(provider.AnthropicOptions{BaseURL: base, APIKey: p.APIKey,
			ConnectTimeout: t.Connect, FirstTokenTimeout: t.FirstToken, StallTimeout: t.Stall})
	}
	return provider.NewOpenAI(provider.OpenAIOptions{BaseURL: base, APIKey: p.APIKey,
		ConnectTimeout: t.Connect, FirstTokenTimeout: t.FirstToken, StallTimeout: t.Stall})
}

// Close stops the simulated providers and closes the history store. The
// monitor must have stopped (Run returned) first, so its last flush is in.
func (s *stack) Close() {
	if s.fleet != nil {
		s.fleet.Close()
	}
	if s.store != nil {
		s.store.Close()
	}
}

// display maps model names to their display names.
func (s *stack) display() map[string]string {
	d := map[string]string{}
	for _, m := range s.cfg.Models {
		d[m.Name] = m.Display
	}
	return d
}

// probeTokens is how long a chat probe's answer is: a few tokens, so that
// the probe measures generation speed as well as the first token, at next
// to no cost.
const probeTokens = 8

// probeFor returns the health probe of one endpoint, and the probe that
// goes as its breaker's half-open trial if that must be another. "chat"
// asks for a completion of probeTokens tokens, which also measures time to
// first token and throughput; it is its own trial. "models" lists the
// upstream's models (free), which shows only that the host answers: its
// outcomes are marked Shallow, and its trial is the chat probe, since only
// an answer from the model may end an outage.
func probeFor(kind string, up provider.Upstream, model string) (probe, trial monitor.ProbeFunc) {
	chat := func(ctx context.Context) provider.Outcome { return provider.ProbeChat(ctx, up, model, probeTokens) }
	if kind != config.ProbeModels {
		return chat, nil
	}
	return func(ctx context.Context) provider.Outcome { return provider.ProbeModels(ctx, up) }, chat
}

// faults lets the dashboard force faults on simulated providers.
type faults struct{ fleet *sim.Fleet }

// modes are the faults the dashboard's f key cycles through, normal first:
// a provider going down and slowing, then each fault of a request that a
// router should survive (a late first token, a short rate limit, a stall,
// a silent close, a cut, an error event, a garbage event, a refused
// prefill), each next to
// its milder or kindred one.
var modes = []sim.Mode{sim.ModeNormal, sim.ModeDown, sim.ModeSlow, sim.ModeSlowStart, sim.ModeRateLimited,
	sim.ModeRateLimitedShort, sim.ModeStall, sim.ModeSilentClose, sim.ModeCut, sim.ModeStreamError, sim.ModeMalformed, sim.ModeNoPrefill}

func (f faults) Modes() []string {
	names := make([]string, len(modes))
	for i, m := range modes {
		names[i] = m.String()
	}
	return names
}

func (f faults) Mode(name string) (string, bool) {
	srv, ok := f.fleet.Server(name)
	if !ok {
		return "", false
	}
	return srv.Mode().String(), true
}

func (f faults) SetMode(name, mode string) error {
	srv, ok := f.fleet.Server(name)
	if !ok {
		return fmt.Errorf("%s is not a simulated provider", name)
	}
	m, err := sim.ParseMode(mode)
	if err != nil {
		return err
	}
	srv.SetMode(m)
	return nil
}

// applyFault parses "provider=mode" and forces it on the fleet.
func (s *stack) applyFault(spec string) error {
	name, mode, ok := strings.Cut(spec, "=")
	if !ok {
		return fmt.Errorf("--fault %q: write PROVIDER=MODE, e.g. groq=down (modes: %s)", spec,
			strings.Join(faults{}.Modes(), ", "))
	}
	if s.fleet == nil {
		return errors.New("--fault needs simulated providers, and this config has none")
	}
	return faults{s.fleet}.SetMode(name, mode)
}

// turnOff disables every endpoint of a provider.
func (s *stack) turnOff(name string) error {
	found := false
	for _, m := range s.cfg.Models {
		for _, e := range m.Endpoints {
			if e.Provider == name {
				found = true
				if err := s.mon.SetEnabled(e.ID, false); err != nil {
					return err
				}
			}
		}
	}
	if !found {
		return fmt.Errorf("--off %q: no such provider in %s", name, s.cfg.Source)
	}
	return nil
}

// writeTrace prints a decision trace as plain text.
func writeTrace(w io.Writer, t *routing.Trace) {
	fmt.Fprintf(w, "why: %s\n", t.Summary())
	fmt.Fprintf(w, "candidates for %s, in the order they would be tried:\n", strings.Join(t.Models, ", then "))
	for _, c := range t.Ranked() {
		weight := ""
		if c.Weight > 0 {
			weight = fmt.Sprintf("weight %.2f", c.Weight)
		}
		fmt.Fprintf(w, "  %-16s %-9s %-9s %-12s $%5.2f/M  %s\n", c.Provider, c.StateStr, c.Tier, weight, c.Price, c.Why)
	}
	fmt.Fprintln(w, "attempts:")
	for i, a := range t.Attempts {
		fmt.Fprintf(w, "  %d. %-16s %-14s ttft %-8s total %-8s %s\n", i+1, a.Provider, a.Outcome,
			human.Duration(a.TTFT), human.Duration(a.Duration), a.Notes())
	}
}
