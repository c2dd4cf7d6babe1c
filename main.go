// Command switchboard keeps LLM calls up: it watches every provider that
// serves a model, routes each request to the one most likely to answer well
// right now, falls back when one fails, and shows it all in a terminal
// dashboard.
//
// Usage:
//
//	switchboard [--config PATH]                 the dashboard, and the API if configured
//	switchboard serve [--listen HOST:PORT]      the OpenAI-compatible API alone
//	switchboard send [flags] PROMPT             one routed request from the shell
//	switchboard check [--config PATH]           validate the configuration
//	switchboard help [COMMAND]                  what each command does, and its flags
//	switchboard --version                       which build this is
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	tea "charm.land/bubbletea/v2"

	"switchboard/config"
	"switchboard/demo"
	"switchboard/monitor/history"
	"switchboard/provider"
	"switchboard/routing"
	"switchboard/ui"
)

//go:embed config.toml
var embeddedConfig []byte

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// Go's own log lines reach stderr from net/http's goroutines (see
	// logTo) while the command writes its own: one writer at a time.
	stderr = &lockedWriter{w: stderr}
	if len(args) > 0 {
		switch args[0] {
		case "help":
			// help COMMAND is COMMAND --help; help alone, the dashboard's,
			// which lists the commands.
			if len(args) == 1 {
				return run(ctx, []string{"--help"}, stdout, stderr)
			}
			if !slices.ContainsFunc(commands[1:], func(c command) bool { return c.name == args[1] }) {
				fmt.Fprintf(stderr, "help: no command %q; commands: serve, send, check, bench, watch (switchboard help lists them)\n", args[1])
				return 2
			}
			return run(ctx, []string{args[1], "--help"}, stdout, stderr)
		case "--version", "-version", "version":
			fmt.Fprintln(stdout, version(debug.ReadBuildInfo()))
			return 0
		case "send":
			return runSend(ctx, args[1:], stdout, stderr)
		case "serve":
			return runServe(ctx, args[1:], stdout, stderr)
		case "check":
			return runCheck(args[1:], stdout, stderr)
		case "bench":
			return runBench(ctx, args[1:], stdout, stderr)
		case "watch":
			return runWatch(ctx, args[1:], stdout, stderr)
		}
	}
	return runDashboard(ctx, args, stdout, stderr)
}

func load(path string, stderr io.Writer) (*config.Config, bool) {
	cfg, err := config.Load(path, embeddedConfig)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, false
	}
	return cfg, true
}

// stateFlags are the flags that say where history is kept.
type stateFlags struct {
	dir string
	off bool
}

func addStateFlags(fs *flag.FlagSet) *stateFlags {
	var sf stateFlags
	fs.StringVar(&sf.dir, "state", "", "where health history is kept (default: the user's state directory, e.g. ~/.local/state/switchboard)")
	fs.BoolVar(&sf.off, "no-history", false, "keep no health history on disk")
	return &sf
}

// start loads the configuration and builds the stack from it, reporting
// any failure on stderr. A history store that cannot be opened is not a
// failure: the stack goes on without history, and the reason comes back as
// a notice for the user.
func start(path string, sf *stateFlags, stderr io.Writer) (*stack, string, bool) {
	cfg, ok := load(path, stderr)
	if !ok {
		return nil, "", false
	}
	var notice string
	var store *history.Store
	if !sf.off {
		dir := sf.dir
		var err error
		if dir == "" {
			dir, err = history.DefaultDir()
		}
		if err == nil {
			store, err = history.Open(dir, history.Options{})
		}
		if err != nil {
			notice = fmt.Sprintf("history is off: %v", err)
		}
	}
	s, err := build(cfg, store)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, "", false
	}
	return s, notice, true
}

func runCheck(args []string, stdout, stderr io.Writer) int {
	fs, path := checkCmd.flags(stderr)
	rest, code, ok := checkCmd.parse(fs, args, stdout)
	if !ok {
		return code
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "check takes no arguments, got %q; give the file with --config\n", strings.Join(rest, " "))
		return 2
	}
	cfg, ok := load(*path, stderr)
	if !ok {
		return 1
	}
	n := 0
	for _, m := range cfg.Models {
		n += len(m.Endpoints)
	}
	fmt.Fprintf(stdout, "%s: ok (%d providers, %d models, %d endpoints)\n", cfg.Source, len(cfg.Providers), len(cfg.Models), n)
	return 0
}

// runDashboard runs the dashboard on the terminal, or where term says (a
// test's).
func runDashboard(ctx context.Context, args []string, stdout, stderr io.Writer, term ...tea.ProgramOption) int {
	var demoRate rateFlag
	r, code := launch(ctx, dashboardCmd, args, stdout, stderr, func(fs *flag.FlagSet) {
		fs.Var(&demoRate, "demo-traffic", fmt.Sprintf(
			"background demo traffic through the router, in `RATE` prompts per second; 0 sends none (default %v when every provider is simulated, else none)", defaultDemoRate))
	}, func(rest []string) string {
		return fmt.Sprintf("unknown command %q; commands: serve, send, check, bench, watch, help (see --help)", rest[0])
	})
	if r == nil {
		return code
	}
	defer r.stop()
	s := r.stack
	// The screen is the dashboard's: what net/http and the standard logger
	// say goes to its event log, one line each, without secrets.
	logs := make(chan string, 64)
	lines, restore := s.logTo(lineFeed{ch: logs})
	defer restore()
	opts := ui.Options{Health: s.mon, Router: s.router, Display: s.display(), Notice: r.notice, Logs: logs,
		Model: s.cfg.DefaultModel, Simulated: s.simulated()}
	if s.fleet != nil {
		opts.Faults = faults{s.fleet}
	}
	// The API's requests and the demo's reach the event log alike, by
	// their traces.
	traces, routed := traceFeed()
	if addr := s.listenAddr(r.listen); addr != "" {
		// The API's request lines would flood the event log, which shows
		// their fallbacks and hedges from the traces; a port in use costs
		// the API, not the dashboard.
		if a, err := s.startAPI(addr, slog.New(slog.DiscardHandler), lines.Handler(), routed("API")); err != nil {
			opts.Notice = strings.TrimPrefix(r.notice+"; "+err.Error(), "; ")
		} else {
			defer a.stop(2 * time.Second)
			opts.API, opts.Traces = a.addr, traces
		}
	}
	if rate := s.demoRate(demoRate); rate > 0 {
		d := demo.New(demo.Options{Router: s.router, Models: s.demoModels(), Rate: rate, Routed: routed("demo")})
		dctx, cancel := context.WithCancel(r.ctx)
		var wg sync.WaitGroup
		wg.Go(func() { d.Run(dctx) })
		defer wg.Wait() // before the stack stops: the demo's requests use it
		defer cancel()
		opts.Demo, opts.Traces = d, traces
	}
	options := append([]tea.ProgramOption{tea.WithContext(r.ctx), tea.WithFPS(ui.FPS)}, term...)
	_, err := tea.NewProgram(ui.New(r.ctx, opts), options...).Run()
	if err != nil && !errors.Is(err, tea.ErrProgramKilled) {
		fmt.Fprintln(stderr, "dashboard:", err)
		return 1
	}
	return 0
}

// defaultDemoRate is the demo traffic of an all-simulated fleet, in
// prompts per second: one every two seconds moves the routed-vs-best
// figures and, on the shipped fleet, shows a fallback or a cooldown within
// a minute, while each prompt's short answer costs the simulator and the
// router a few milliseconds of CPU.
const defaultDemoRate = 0.5

// maxDemoRate bounds --demo-traffic: more would be a load test, which is
// soakload's, not the dashboard's.
const maxDemoRate = 50

// rateFlag is --demo-traffic: prompts per second, from 0 to maxDemoRate.
type rateFlag struct {
	rate float64
	set  bool // given on the command line
}

func (f *rateFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return strconv.FormatFloat(f.rate, 'g', -1, 64)
}

func (f *rateFlag) Set(v string) error {
	r, err := strconv.ParseFloat(v, 64)
	if err != nil || !(r >= 0 && r <= maxDemoRate) {
		return fmt.Errorf("write prompts per second from 0 (none) to %d, e.g. 0.5", maxDemoRate)
	}
	f.rate, f.set = r, true
	return nil
}

// demoRate is the demo traffic's rate: the flag's when given, else
// defaultDemoRate when every provider is simulated; never any on real
// providers unless asked, since their requests cost money.
func (s *stack) demoRate(f rateFlag) float64 {
	switch {
	case f.set:
		return f.rate
	case s.simulated():
		return defaultDemoRate
	}
	return 0
}

// demoModels are the models the demo traffic asks, the one the dashboard
// opens on first.
func (s *stack) demoModels() []string {
	models := []string{s.cfg.DefaultModel}
	for _, m := range s.router.Models() {
		if m != s.cfg.DefaultModel {
			models = append(models, m)
		}
	}
	return models
}

// simulated reports whether every provider is simulated.
func (s *stack) simulated() bool {
	for _, p := range s.cfg.Providers {
		if p.Sim == nil {
			return false
		}
	}
	return true
}

// running is the stack with its monitor running, until stop: what the
// commands that run until stopped (the dashboard and serve) stand on.
type running struct {
	*stack
	listen string          // --listen, "" if not given
	notice string          // a problem to show, e.g. why history is off
	ctx    context.Context // ends at stop
	stop   func()          // stops the monitor and closes the stack
}

// launch parses the flags those commands share, and those addFlags adds,
// builds the stack and starts its monitor, reporting any failure on
// stderr. Without a stack the command ends with the code: 0 after --help,
// else a failure's. Neither command takes arguments: stray says what
// to tell a user who gave some.
func launch(ctx context.Context, cmd command, args []string, stdout, stderr io.Writer, addFlags func(*flag.FlagSet), stray func([]string) string) (*running, int) {
	fs, path := cmd.flags(stderr)
	listen := addListenFlag(fs)
	sf := addStateFlags(fs)
	if addFlags != nil {
		addFlags(fs)
	}
	rest, code, ok := cmd.parse(fs, args, stdout)
	if !ok {
		return nil, code
	}
	if len(rest) > 0 {
		fmt.Fprintln(stderr, stray(rest))
		return nil, 2
	}
	s, notice, ok := start(*path, sf, stderr)
	if !ok {
		return nil, 1
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.mon.Run(ctx) })
	if s.node != nil {
		wg.Go(func() { s.node.Run(ctx) })
	}
	return &running{stack: s, listen: *listen, notice: notice, ctx: ctx, stop: func() {
		cancel()
		wg.Wait()
		s.Close()
	}}, 0
}

// multi collects a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func runSend(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, path := sendCmd.flags(stderr)
	model := fs.String("model", "", "model to ask, or one of its aliases (default: the config's default_model, else the model with the most endpoints)")
	asJSON := fs.Bool("json", false, "print one JSON object: the answer, who served it, and the trace")
	maxTokens := fs.Int("max-tokens", 0, "cap the answer's length in tokens (0: the provider's default)")
	warm := fs.Duration("warm", 0, "probe the providers for this long before sending, so health is known (e.g. 3s)")
	prefsJSON := fs.String("provider", "", `OpenRouter's provider preferences as JSON, e.g. '{"sort":"latency","ignore":["novita"]}'`)
	sortBy := fs.String("sort", "", "try endpoints strictly by price, throughput or latency (live figures)")
	models := fs.String("models", "", "fallback models, comma-separated, tried in order after --model")
	hedge := fs.Duration("hedge", 0, "race the next provider if the first has no token after this long (e.g. 800ms)")
	sf := addStateFlags(fs)
	fs.Lookup("state").Usage = "keep health history here (default: none for send, so it never contends with a running dashboard)"
	var off, fault multi
	fs.Var(&off, "off", "turn `PROVIDER` off before sending (repeatable)")
	fs.Var(&fault, "fault", "force a fault on a simulated provider, `PROVIDER=MODE` (repeatable; modes: normal, down, slow, rate_limited, stall)")
	words, code, ok := sendCmd.parse(fs, args, stdout)
	if !ok {
		return code
	}
	prompt := strings.TrimSpace(strings.Join(words, " "))
	if prompt == "" {
		fmt.Fprintln(stderr, `send: no prompt; write it after the flags: switchboard send "hello"`)
		return 2
	}
	sf.off = sf.off || sf.dir == ""
	s, notice, ok := start(*path, sf, stderr)
	if !ok {
		return 1
	}
	defer s.Close()
	defer s.mon.Flush()
	_, restore := s.logTo(slog.NewTextHandler(stderr, nil))
	defer restore()
	if notice != "" {
		fmt.Fprintln(stderr, "send:", notice)
	}
	if *model == "" {
		*model = s.cfg.DefaultModel
	}
	// A model that is not served is the user's mistake, said before the
	// warm-up and the empty trace a request for it would print.
	req := routing.Request{Model: *model}
	if *models != "" {
		req.Models = strings.Split(*models, ",")
	}
	for i, m := range append([]string{req.Model}, req.Models...) {
		if !s.serves(m) {
			flagName := "--model"
			if i > 0 {
				flagName = "--models"
			}
			fmt.Fprintf(stderr, "send: %s %q is not a model %s serves; models: %s\n", flagName, m, s.cfg.Source, strings.Join(s.modelNames(), ", "))
			return 2
		}
	}
	for _, f := range fault {
		if err := s.applyFault(f); err != nil {
			fmt.Fprintln(stderr, "send:", err)
			return 2
		}
	}
	for _, p := range off {
		if err := s.turnOff(p); err != nil {
			fmt.Fprintln(stderr, "send:", err)
			return 2
		}
	}
	if *warm > 0 {
		wctx, cancel := context.WithTimeout(ctx, *warm)
		s.mon.Run(wctx)
		cancel()
	}

	req.MaxTokens = *maxTokens
	req.Messages = []provider.Message{{Role: "user", Content: prompt}}
	if *prefsJSON != "" {
		dec := json.NewDecoder(strings.NewReader(*prefsJSON))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req.Provider); err != nil {
			fmt.Fprintf(stderr, "send: --provider: %v; write OpenRouter's provider object, e.g. '{\"sort\":\"latency\",\"only\":[\"groq\"]}'\n", err)
			return 2
		}
	}
	if *sortBy != "" {
		req.Provider.Sort = routing.Sort{By: *sortBy}
	}
	if err := req.Provider.Check(); err != nil {
		fmt.Fprintln(stderr, "send:", err)
		return 2
	}
	if *hedge > 0 {
		req.Hedge = &routing.Hedge{Enabled: true, After: *hedge}
	}
	var onDelta routing.OnDelta
	if !*asJSON {
		// The answer goes to a terminal, where an upstream's escape
		// sequences would retitle it or clear it.
		onDelta = func(d routing.Delta) { io.WriteString(stdout, ui.Printable(d.Content)) }
	}
	res, err := s.router.Send(ctx, req, onDelta)
	if *asJSON {
		writeJSON(stdout, res, err)
	} else {
		fmt.Fprintln(stdout)
		fmt.Fprintln(stderr)
		writeTrace(stderr, res.Trace)
		if err != nil {
			fmt.Fprintln(stderr, "error:", err)
		}
	}
	if err != nil {
		return 1
	}
	return 0
}

// serves reports whether the router serves model, a name or an alias,
// with a routing suffix (:nitro, :floor) or without.
func (s *stack) serves(model string) bool {
	name, _ := routing.ModelSuffix(s.router.Canonical(model))
	return len(s.router.Endpoints(name)) > 0
}

// modelNames lists the models and, in brackets, their aliases, for a
// message.
func (s *stack) modelNames() []string {
	var out []string
	for _, m := range s.cfg.Models {
		name := m.Name
		if len(m.Aliases) > 0 {
			name += " (" + strings.Join(m.Aliases, ", ") + ")"
		}
		out = append(out, name)
	}
	return out
}

func writeJSON(w io.Writer, res *routing.Result, err error) {
	out := struct {
		Model        string         `json:"model"`
		Provider     string         `json:"provider,omitempty"`
		Content      string         `json:"content"`
		FinishReason string         `json:"finish_reason,omitempty"`
		Usage        provider.Usage `json:"usage"`
		Summary      string         `json:"summary"`
		Trace        *routing.Trace `json:"trace"`
		Error        *routing.Error `json:"error,omitempty"`
	}{Model: res.Model, Provider: res.Provider, Content: res.Content, FinishReason: res.FinishReason,
		Usage: res.Usage, Summary: res.Trace.Summary(), Trace: res.Trace}
	var re *routing.Error
	if errors.As(err, &re) {
		out.Error = re
	} else if err != nil {
		out.Error = &routing.Error{Message: err.Error()}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}
