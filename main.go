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
	"strings"
	"sync"
	"syscall"
	"time"

	tea "charm.land/bubbletea/v2"

	"switchboard/config"
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
		case "send":
			return runSend(ctx, args[1:], stdout, stderr)
		case "serve":
			return runServe(ctx, args[1:], stdout, stderr)
		case "check":
			return runCheck(args[1:], stdout, stderr)
		}
	}
	return runDashboard(ctx, args, stderr)
}

// flagSet returns a flag set that reports errors to stderr and a --config flag.
func flagSet(name, usage string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (default ./config.toml, else the built-in one)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n", usage)
		fs.PrintDefaults()
	}
	return fs, path
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
	fs, path := flagSet("check", "switchboard check [--config PATH]", stderr)
	if fs.Parse(args) != nil {
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
func runDashboard(ctx context.Context, args []string, stderr io.Writer, term ...tea.ProgramOption) int {
	r, code := launch(ctx, "switchboard", "switchboard [--config PATH] [--listen HOST:PORT] [--state DIR | --no-history]  (subcommands: serve, send, check)",
		args, stderr, func(rest []string) string {
			return fmt.Sprintf("unknown command %q; commands: serve, send, check (see --help)", rest[0])
		})
	if code != 0 {
		return code
	}
	defer r.stop()
	s := r.stack
	// The screen is the dashboard's: what net/http and the standard logger
	// say goes to its event log, one line each, without secrets.
	logs := make(chan string, 64)
	lines, restore := s.logTo(lineFeed{ch: logs})
	defer restore()
	opts := ui.Options{Health: s.mon, Router: s.router, Display: s.display(), Notice: r.notice, Logs: logs}
	if s.fleet != nil {
		opts.Faults = faults{s.fleet}
	}
	if addr := s.listenAddr(r.listen); addr != "" {
		// The API's request lines would flood the event log, which shows
		// their fallbacks and hedges from the traces; a port in use costs
		// the API, not the dashboard.
		traces, routed := traceFeed()
		if a, err := s.startAPI(addr, slog.New(slog.DiscardHandler), lines.Handler(), routed); err != nil {
			opts.Notice = strings.TrimPrefix(r.notice+"; "+err.Error(), "; ")
		} else {
			defer a.stop(2 * time.Second)
			opts.API, opts.Traces = a.addr, traces
		}
	}
	options := append([]tea.ProgramOption{tea.WithContext(r.ctx), tea.WithFPS(ui.FPS)}, term...)
	_, err := tea.NewProgram(ui.New(r.ctx, opts), options...).Run()
	if err != nil && !errors.Is(err, tea.ErrProgramKilled) {
		fmt.Fprintln(stderr, "dashboard:", err)
		return 1
	}
	return 0
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

// launch parses the flags those commands share, builds the stack and
// starts its monitor, reporting any failure on stderr; a non-zero code ends
// the command. Neither command takes arguments: stray says what to tell a
// user who gave some.
func launch(ctx context.Context, name, usage string, args []string, stderr io.Writer, stray func([]string) string) (*running, int) {
	fs, path := flagSet(name, usage, stderr)
	listen := addListenFlag(fs)
	sf := addStateFlags(fs)
	if fs.Parse(args) != nil {
		return nil, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, stray(fs.Args()))
		return nil, 2
	}
	s, notice, ok := start(*path, sf, stderr)
	if !ok {
		return nil, 1
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.mon.Run(ctx) })
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
	fs, path := flagSet("send", "switchboard send [flags] PROMPT", stderr)
	model := fs.String("model", "", "model to ask (default: the first in the config)")
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
	fs.Var(&off, "off", "turn a provider off before sending (repeatable)")
	fs.Var(&fault, "fault", "force a fault on a simulated provider, PROVIDER=MODE (repeatable; modes: normal, down, slow, rate_limited, stall)")
	if fs.Parse(args) != nil {
		return 2
	}
	prompt := strings.TrimSpace(strings.Join(fs.Args(), " "))
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
		*model = s.router.Models()[0]
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

	req := routing.Request{Model: *model, MaxTokens: *maxTokens,
		Messages: []provider.Message{{Role: "user", Content: prompt}}}
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
	if *models != "" {
		req.Models = strings.Split(*models, ",")
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
