// Package config reads Switchboard's TOML configuration: the monitor and
// routing settings, the providers (simulated or real) and the models they
// serve. It validates the whole file at once and reports every problem as
// file:line:col with what to write instead, reads API keys from the
// environment, and assembles the Options of the packages below it, which never
// see TOML.
package config

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"switchboard/monitor"
	"switchboard/routing"
	"switchboard/sim"
)

// EmbeddedName is the Source, and the file name in error positions, of the
// configuration built into the binary.
const EmbeddedName = "config.toml (embedded)"

// DefaultFile is the file Load reads from the working directory when no path
// is given.
const DefaultFile = "config.toml"

// The wire protocols a provider can speak.
const (
	ProtocolOpenAI    = "openai"    // OpenAI's chat completions, as most providers and OpenRouter speak it
	ProtocolAnthropic = "anthropic" // Anthropic's messages API
)

// The probe kinds.
const (
	ProbeModels = "models" // GET /models: free, checks reachability and the key
	ProbeChat   = "chat"   // a short chat completion: checks the model answers, measures its speed
)

// Config is a parsed, validated configuration.
type Config struct {
	Source    string          // where it came from: a path or EmbeddedName
	Monitor   monitor.Options // zero fields mean the monitor's defaults; Clock is left nil
	Routing   routing.Options // zero fields mean routing's defaults; the caller fills Endpoints, Health, Clock and Defaults
	Providers []Provider      // in file order
	Models    []Model         // in file order
	Gateway   Gateway
	Cluster   Cluster // [cluster]; RedisURL "" runs alone
	// DefaultModel is the model the dashboard opens on and send asks when
	// none is named: default_model, an alias taken to its model's Name, or
	// when that is left out the model with the most endpoints (the first
	// of them in file order), where most happens.
	DefaultModel string
}

// Gateway is the HTTP API's [gateway] table.
type Gateway struct {
	// Listen is the address the API listens on, host:port; "" serves none.
	Listen string
	// APIKeyEnv names the environment variable holding the keys clients
	// must present (several separated by commas); "" leaves the API open.
	APIKeyEnv string
	APIKeys   []string // read at parse time; never print, log or wrap them
	// AdminKeyEnv names the environment variable holding the keys of the
	// admin API (several separated by commas); "" leaves it off.
	AdminKeyEnv string
	AdminKeys   []string // read at parse time; never print, log or wrap them
	// KeepAlive is how long a stream waits for its first token before it
	// opens with keep-alive comments; zero takes the gateway's default.
	KeepAlive time.Duration
	// MaxConnections caps the client connections open at once; zero takes
	// the gateway's default, from the open-file limit.
	MaxConnections int
	// MetricsPublic leaves /metrics open when there are keys.
	MetricsPublic bool
}

// Cluster is the [cluster] table: replicas that share health through
// Redis (see package cluster).
type Cluster struct {
	// RedisURL is redis://host:port[/db], or rediss:// for TLS; "" runs
	// alone.
	RedisURL string
	// PasswordEnv names the environment variable holding Redis's password;
	// "" for none.
	PasswordEnv string
	Password    string // read at parse time; never print, log or wrap it
	// Username is the Redis ACL user; "" for the default user.
	Username string
	// TLSCAFile is a PEM file of the certificate authorities a rediss://
	// server's certificate may chain to; "" takes the system's.
	TLSCAFile string
	// Replica names this replica in the fleet; "" takes the host name and
	// the listen port.
	Replica string
	// Prefix starts every key and channel in Redis, so that fleets share
	// one server apart; "" takes the cluster package's default.
	Prefix string
}

// Provider is one provider account: a simulated one (Sim is set) or a real
// one (BaseURL is set).
type Provider struct {
	Name      string       // slug, [a-z0-9-]+, unique
	Display   string       // the name as OpenRouter writes it ("DeepInfra"); "" for the slug
	Protocol  string       // wire protocol: ProtocolOpenAI or ProtocolAnthropic
	BaseURL   string       // API root of a real provider, without a trailing slash; "" when simulated
	APIKeyEnv string       // environment variable holding the key of a real provider; "" for none
	APIKey    string       // the key itself, read at parse time; never print, log or wrap it
	Sim       *sim.Profile // the fault profile of a simulated provider; nil for a real one
	Timeouts  Timeouts
	Probe     string // ProbeModels or ProbeChat
	// This provider's own probe settings; zero takes [monitor]'s.
	ProbeInterval time.Duration
	ProbeJitter   float64
	ProbeTimeout  time.Duration
}

// Timeouts bound one upstream call. Zero means the client's default.
type Timeouts struct {
	Connect    time.Duration // to establish the connection and get response headers
	FirstToken time.Duration // from sending the request to the first token
	Stall      time.Duration // longest silence allowed between two chunks of a stream
}

// Model is one public model and the endpoints that serve it.
type Model struct {
	Name    string // the id clients ask for, e.g. "meta-llama/llama-3.3-70b-instruct"; unique
	Display string // human name, e.g. "Llama 3.3 70B Instruct"; defaults to Name
	// Aliases are other ids clients may ask for it by, e.g. Anthropic's
	// own "claude-sonnet-4-20250514" for Claude Code: unique across the
	// models, and none another model's name. Answers and /v1/models name
	// the model by Name.
	Aliases   []string
	Endpoints []Endpoint
	// Defaults are what its requests get unless they say otherwise, from
	// [model.routing]: provider preferences, checked against this model's
	// endpoints; fallback models, all declared; timeouts; and hedging (nil
	// when hedge is left out, disabled for hedge = false). Empty slices are
	// nil, so a model without defaults has the zero value (see HasDefaults).
	Defaults routing.ModelDefaults
}

// HasDefaults reports whether the model sets any routing default.
func (m *Model) HasDefaults() bool { return !reflect.DeepEqual(m.Defaults, routing.ModelDefaults{}) }

// Endpoint is one model served by one provider.
type Endpoint struct {
	ID            string  // EndpointID(model, provider)
	Provider      string  // a declared provider's name
	UpstreamModel string  // the provider's own id for the model; defaults to the model's Name
	PriceIn       float64 // USD per million prompt tokens, >= 0
	PriceOut      float64 // USD per million completion tokens, >= 0
	PriceRequest  float64 // USD per request, on top of tokens, >= 0
	PriceImage    float64 // USD per input image, >= 0

	// What the endpoint is and can do, for the routing filters.
	Variant       string   // OpenRouter's "slug/variant" tag, e.g. "turbo"; a slug, or "" for none
	Quantization  string   // int4, int8, fp4, fp6, fp8, fp16, bf16 or fp32; "" is unknown
	ContextLength int      // prompt plus completion, in tokens, > 0; 0 is unknown
	Parameters    []string // supported request parameters, unique; nil is unknown, empty is none
	StoresData    bool     // the provider may store or train on prompts
	ZDR           bool     // zero data retention: the provider keeps nothing of a request
	Distillable   bool     // its output may be used to train other models
	Prefill       bool     // accepts a trailing assistant message and continues it
	// InputModalities are the kinds of input it takes besides text
	// (input_modalities without "text"): routing.ModalityImage or none.
	InputModalities []string
}

// EndpointID names the endpoint that serves model on provider. Provider names
// cannot contain "@", so the id splits unambiguously at its last "@".
func EndpointID(model, provider string) string { return model + "@" + provider }

// RoutingEndpoint is endpoint e of model m as the router takes it, all but
// its Upstream, which the caller connects.
func (c *Config) RoutingEndpoint(m *Model, e *Endpoint) routing.Endpoint {
	var display string
	var t Timeouts
	if p := c.Provider(e.Provider); p != nil {
		display, t = p.Display, p.Timeouts
	}
	re := routingEndpoint(m.Name, e, display)
	// The limits its client is built with: the caps of the deadlines the
	// router draws from the endpoint's norms.
	re.Timeouts = routing.Timeouts{Connect: t.Connect, FirstToken: t.FirstToken, Stall: t.Stall}
	return re
}

// routingEndpoint converts an endpoint whose provider's display name is
// display; the configuration's own check of a model's defaults uses it
// before the Config is whole.
func routingEndpoint(model string, e *Endpoint, display string) routing.Endpoint {
	return routing.Endpoint{ID: e.ID, Provider: e.Provider, ProviderName: display, Model: model,
		UpstreamModel: e.UpstreamModel, PriceIn: e.PriceIn, PriceOut: e.PriceOut,
		PriceRequest: e.PriceRequest, PriceImage: e.PriceImage,
		Variant: e.Variant, Quantization: e.Quantization, ContextLength: e.ContextLength,
		Parameters: e.Parameters, StoresData: e.StoresData, ZDR: e.ZDR, Distillable: e.Distillable,
		Prefill: e.Prefill, InputModalities: e.InputModalities}
}

// Provider returns the provider with the given name, or nil.
func (c *Config) Provider(name string) *Provider {
	for i := range c.Providers {
		if c.Providers[i].Name == name {
			return &c.Providers[i]
		}
	}
	return nil
}

// String formats the provider with its API key redacted, so that printing a
// Config with %v or %+v cannot leak a key.
func (p Provider) String() string { return fmt.Sprintf("%+v", p.redacted()) }

// GoString is String for %#v.
func (p Provider) GoString() string { return fmt.Sprintf("%#v", p.redacted()) }

// plainProvider has Provider's fields and none of its methods.
type plainProvider Provider

func (p Provider) redacted() plainProvider {
	if p.APIKey != "" {
		p.APIKey = "[redacted]"
	}
	return plainProvider(p)
}

// String formats the gateway with each client and admin key redacted, so that printing
// a Config cannot leak them either.
func (g Gateway) String() string { return fmt.Sprintf("%+v", g.redacted()) }

// GoString is String for %#v.
func (g Gateway) GoString() string { return fmt.Sprintf("%#v", g.redacted()) }

// plainGateway has Gateway's fields and none of its methods.
type plainGateway Gateway

func (g Gateway) redacted() plainGateway {
	for _, keys := range []*[]string{&g.APIKeys, &g.AdminKeys} {
		if *keys != nil {
			*keys = slices.Repeat([]string{"[redacted]"}, len(*keys))
		}
	}
	return plainGateway(g)
}

// Load reads the configuration from path if it is not empty (a missing file
// is an error), else from ./config.toml if that exists, else from embedded.
// API keys come from the process environment.
func Load(path string, embedded []byte) (*Config, error) {
	name := path
	var data []byte
	var err error
	if path != "" {
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("read config: %w; check the path, or leave it out to use ./%s or the built-in default", err, DefaultFile)
		}
	} else {
		name = DefaultFile
		data, err = os.ReadFile(DefaultFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if embedded == nil {
				return nil, fmt.Errorf("no configuration: ./%s does not exist and none is built in; create ./%s", DefaultFile, DefaultFile)
			}
			name, data = EmbeddedName, embedded
		case err != nil:
			// A file that is there but unreadable is not silently replaced.
			return nil, fmt.Errorf("read config: %w", err)
		}
	}
	return Parse(name, data, os.LookupEnv)
}

// Parse parses and validates one TOML document. name is used as Source and
// in error positions; env looks up environment variables (nil means an empty
// environment). On failure the error is an Errors listing every problem.
func Parse(name string, data []byte, env func(string) (string, bool)) (*Config, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	// The library skips a byte order mark; skip it here too so that columns
	// on the first line agree.
	src := strings.TrimPrefix(string(data), "\ufeff")
	var raw map[string]any
	if _, err := toml.Decode(src, &raw); err != nil {
		var pe toml.ParseError
		if !errors.As(err, &pe) {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return nil, Errors{syntaxError(newLocator(name, src), pe)}
	}
	d := &decoder{loc: locate(name, src)}
	cfg := d.config(&table{d: d, m: raw}, env)
	if len(d.errs) > 0 {
		d.errs.sortByPos()
		return nil, d.errs
	}
	cfg.Source = name
	return cfg, nil
}

// syntaxError turns the library's parse error into ours, with a hint for the
// mistakes people make most.
//
// The position is recomputed from the byte offset the library reports
// (Position.Start): its own Col is off when the error is at the start of a
// line (Position.withCol counts it on the previous line), and its Line is one
// too far when the offending byte is a newline. The offset is right in both.
func syntaxError(loc *locator, pe toml.ParseError) *Error {
	pos := Pos{File: loc.file, Line: max(pe.Position.Line, 1), Col: max(pe.Position.Col, 1)}
	if s := pe.Position.Start; s >= 0 && s <= loc.size {
		pos = loc.pos(s)
	}
	msg := strings.TrimSuffix(pe.Message, ".")
	hint := "fix the TOML syntax here (see https://toml.io)"
	switch {
	case strings.Contains(msg, "already been defined") || strings.Contains(msg, "already been created"):
		hint = "each key may appear once per table; remove or rename the repeated one, and use [[...]] to add another element to an array of tables"
	case strings.Contains(msg, "expected value but found") || strings.Contains(msg, "incomplete number") ||
		strings.Contains(msg, "invalid boolean") || strings.Contains(msg, "expected a top-level item to end with a newline"):
		hint = `put strings and durations in double quotes, e.g. probe_interval = "3s" or name = "groq"`
	case strings.Contains(msg, "newline") && strings.Contains(msg, "string"):
		hint = `close the string on the same line with ", or use """triple quotes""" for text that spans lines`
	}
	return &Error{Pos: pos, Msg: clip(fmt.Sprintf("TOML syntax: %s; %s", msg, hint))}
}

// defaultSeed derives a simulated provider's seed from its name, so that runs
// repeat without anyone having to pick seeds. FNV-1a is stable across Go
// versions and platforms.
func defaultSeed(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64() >> 1)
}
