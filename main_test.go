package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// teatest waits for a SIGINT for the life of the process, by design.
		goleak.IgnoreTopFunction("github.com/charmbracelet/x/exp/teatest/v2.NewTestModel.func2"),
	)
}

// fastConfig is a small simulated fleet that answers at once, so the tests
// exercise the real wiring (config -> sim -> provider -> monitor -> router)
// without waiting on the demo's realistic latencies.
const fastConfig = `
[[provider]]
name = "alpha"
protocol = "openai"
[provider.sim]
ttft = { p50 = "1ms", p95 = "2ms" }
tokens_per_second = 20000

[[provider]]
name = "beta"
protocol = "openai"
[provider.sim]
ttft = { p50 = "1ms", p95 = "2ms" }
tokens_per_second = 20000

[[model]]
name = "test/model"
[[model.endpoint]]
provider = "alpha"
price_in = 0.1
price_out = 0.1
[[model.endpoint]]
provider = "beta"
price_in = 5
price_out = 5
`

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestSendAnswersWithTrace(t *testing.T) {
	cfg := writeConfig(t, fastConfig)
	code, out, errs := runArgs(t, "send", "--config", cfg, "--max-tokens", "20", "hello")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if strings.TrimSpace(out) == "" {
		t.Fatal("no answer printed")
	}
	for _, want := range []string{"why: ", "candidates for test/model, in the order they would be tried:", "attempts:", "1. "} {
		if !strings.Contains(errs, want) {
			t.Errorf("trace lacks %q:\n%s", want, errs)
		}
	}
}

func TestSendAvoidsProviderTurnedOffOrDown(t *testing.T) {
	cfg := writeConfig(t, fastConfig)
	for _, args := range [][]string{
		{"--off", "alpha"},
		{"--fault", "alpha=down"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			argv := append([]string{"send", "--config", cfg, "--json"}, args...)
			code, out, errs := runArgs(t, append(argv, "hello")...)
			if code != 0 {
				t.Fatalf("exit %d: %s %s", code, out, errs)
			}
			var res struct {
				Provider string `json:"provider"`
				Content  string `json:"content"`
				Summary  string `json:"summary"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			if res.Provider != "beta" || res.Content == "" {
				t.Fatalf("served by %q: %+v", res.Provider, res)
			}
			if !strings.Contains(res.Summary, "alpha") {
				t.Errorf("summary does not say what happened to alpha: %q", res.Summary)
			}
		})
	}
}

func TestSendFailsWhenNobodyCanAnswer(t *testing.T) {
	cfg := writeConfig(t, fastConfig)
	code, _, errs := runArgs(t, "send", "--config", cfg, "--off", "alpha", "--fault", "beta=down", "hello")
	if code == 0 {
		t.Fatal("exit 0 with every provider unavailable")
	}
	if !strings.Contains(errs, "error: every provider of test/model failed") || !strings.Contains(errs, "alpha skipped: turned off by the user") {
		t.Errorf("stderr:\n%s", errs)
	}
}

func TestBadInputSaysWhatAndWhere(t *testing.T) {
	bad := writeConfig(t, strings.Replace(fastConfig, "tokens_per_second = 20000", "tokens_per_sec = 20000", 1))
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"check", "--config", bad}, 1, bad + ":7:1: unknown key provider.sim.tokens_per_sec; did you mean tokens_per_second?"},
		{[]string{"send", "--config", bad, "hi"}, 1, "tokens_per_second"},
		{[]string{"send"}, 2, "no prompt"},
		{[]string{"send", "--config", writeConfig(t, fastConfig), "--fault", "alpha", "hi"}, 2, "PROVIDER=MODE"},
		{[]string{"send", "--config", writeConfig(t, fastConfig), "--off", "nobody", "hi"}, 2, `"nobody": no such provider`},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
	}
	for _, tt := range tests {
		code, _, errs := runArgs(t, tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tt.args, code, errs, tt.code, tt.want)
		}
	}
}

func TestCheckEmbeddedDefault(t *testing.T) {
	t.Chdir(t.TempDir()) // no ./config.toml: the embedded copy is used
	code, out, errs := runArgs(t, "check")
	if code != 0 || !strings.Contains(out, "(embedded): ok") {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
}

// With --state, what send saw is kept, and a second run reads it back.
func TestSendKeepsHistoryWithState(t *testing.T) {
	cfg, state := writeConfig(t, fastConfig), t.TempDir()
	for range 2 {
		if code, _, errs := runArgs(t, "send", "--config", cfg, "--state", state, "--max-tokens", "5", "hi"); code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
	}
	if _, err := os.Stat(filepath.Join(state, "history.db")); err != nil {
		t.Fatal(err)
	}
	// A file that is not a database: send says history is off and answers anyway.
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "history.db"), []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runArgs(t, "send", "--config", cfg, "--state", bad, "--max-tokens", "5", "hi")
	if code != 0 || strings.TrimSpace(out) == "" || !strings.Contains(errs, "send: history is off:") {
		t.Fatalf("exit %d, out %q, stderr %q", code, out, errs)
	}
}

func TestSendTakesRoutingOptions(t *testing.T) {
	cfg := writeConfig(t, fastConfig)
	code, out, errs := runArgs(t, "send", "--config", cfg, "--json", "--provider", `{"ignore":["alpha"],"sort":{"by":"price"}}`, "hi")
	if code != 0 || !strings.Contains(out, `"provider": "beta"`) || !strings.Contains(out, "in provider.ignore") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	for _, tc := range []struct{ args []string }{
		{[]string{"--provider", `{"sort":"fastest"}`}},
		{[]string{"--provider", `{"ignores":["alpha"]}`}},
		{[]string{"--sort", "speed"}},
		{[]string{"--provider", `{"preferred_max_latency":{"p95":1}}`}}, // OpenRouter's percentiles are p50, p75, p90, p99
		{[]string{"--provider", `{"preferred_min_throughput":-5}`}},
	} {
		argv := append([]string{"send", "--config", cfg}, append(tc.args, "hi")...)
		if code, _, errs := runArgs(t, argv...); code != 2 || !strings.Contains(errs, "send: ") || !strings.Contains(errs, "provider") && !strings.Contains(errs, "sort") {
			t.Errorf("%v: exit %d, %q", tc.args, code, errs)
		}
	}
}

// A provider that speaks Anthropic's messages API serves through the same
// router as one that speaks OpenAI's; forced down, it falls back to the other.
func TestSendOverBothProtocols(t *testing.T) {
	cfg := writeConfig(t, strings.Replace(fastConfig, "name = \"alpha\"\nprotocol = \"openai\"", "name = \"alpha\"\nprotocol = \"anthropic\"", 1))
	var res struct {
		Provider string `json:"provider"`
		Content  string `json:"content"`
		Trace    struct {
			Attempts []struct {
				Provider, Outcome string
				Status            int
			} `json:"attempts"`
		} `json:"trace"`
	}
	code, out, errs := runArgs(t, "send", "--config", cfg, "--json", "--max-tokens", "12", "hello")
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
	if res.Provider != "alpha" || res.Content == "" {
		t.Fatalf("served by %q with %q; want alpha (the cheaper), over its messages API", res.Provider, res.Content)
	}
	code, out, errs = runArgs(t, "send", "--config", cfg, "--json", "--fault", "alpha=down", "hello")
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
	if a := res.Trace.Attempts; res.Provider != "beta" || len(a) != 2 || a[0].Outcome != "overloaded" || a[0].Status != 529 {
		t.Errorf("with alpha down: served by %q after %+v; want alpha overloaded (529, Anthropic's way), then beta", res.Provider, a)
	}
}

// help, and --help or -h after any command, says what it does and lists
// its flags on stdout, and exits 0.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		wants []string
	}{
		{[]string{"help"}, []string{"usage: switchboard [--config PATH]", "terminal dashboard", "-demo-traffic RATE", "commands:", "serve ", "send ", "check ", "--version"}},
		{[]string{"--help"}, []string{"terminal dashboard", "-demo-traffic RATE"}},
		{[]string{"-h"}, []string{"terminal dashboard", "-listen"}},
		{[]string{"serve", "--help"}, []string{"usage: switchboard serve", "without the", "-listen", "-no-history"}},
		{[]string{"help", "serve"}, []string{"usage: switchboard serve", "-listen"}},
		{[]string{"send", "-h"}, []string{"usage: switchboard send", "decision trace", "-model", "-fault", "after the prompt"}},
		{[]string{"send", "hi", "--help"}, []string{"usage: switchboard send"}},
		{[]string{"check", "--help"}, []string{"usage: switchboard check", "file:line:col", "-config"}},
	} {
		code, out, errs := runArgs(t, tc.args...)
		if code != 0 || errs != "" {
			t.Errorf("%v: exit %d, stderr %q; want 0 and nothing", tc.args, code, errs)
		}
		for _, w := range tc.wants {
			if !strings.Contains(out, w) {
				t.Errorf("%v: stdout lacks %q:\n%s", tc.args, w, out)
			}
		}
	}
	if code, out, errs := runArgs(t, "help", "frobnicate"); code != 2 || out != "" || !strings.Contains(errs, `no command "frobnicate"`) {
		t.Errorf("help for no command: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// A wrong flag is still an error, on stderr, pointing at the help.
	if code, out, errs := runArgs(t, "serve", "--lisen", "x"); code != 2 || out != "" || !strings.Contains(errs, "see switchboard serve --help") {
		t.Errorf("a misspelt flag: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// --version says the module's version and, when built from a repository,
// the commit and its time.
func TestVersion(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "switchboard", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "af0dcda0fe"}, {Key: "vcs.time", Value: "2026-12-06T14:59:18Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := version(info, true), "switchboard v1.4.0, commit af0dcda0fe + local changes of 2026-12-06T14:59:18Z, go1.26.0"; got != want {
		t.Errorf("version = %q\nwant      %q", got, want)
	}
	if got, want := version(&debug.BuildInfo{GoVersion: "go1.26.0"}, true), "switchboard (devel), go1.26.0"; got != want {
		t.Errorf("without VCS: %q, want %q", got, want)
	}
	code, out, _ := runArgs(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "switchboard ") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
}

// Flags may follow the prompt; after --, everything is prompt.
func TestSendFlagsAfterPrompt(t *testing.T) {
	cfg := writeConfig(t, fastConfig)
	code, out, errs := runArgs(t, "send", "--config", cfg, "hello", "there", "--json", "--off", "alpha")
	var res struct{ Provider, Content string }
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Provider != "beta" {
		t.Fatalf("exit %d, served by %q: %s %s", code, res.Provider, out, errs)
	}
	code, out, errs = runArgs(t, "send", "--config", cfg, "--json", "--", "what", "does", "--off", "alpha", "do?")
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Provider != "alpha" {
		t.Fatalf("after --: exit %d, served by %q; want the words taken as prompt: %s %s", code, res.Provider, out, errs)
	}
}

// A model that is not served is a clear error naming the served ones,
// with no trace; left out, the model is the config's default_model.
func TestSendModel(t *testing.T) {
	cfg := writeConfig(t, fastConfig)
	for _, args := range [][]string{{"--model", "nope"}, {"--models", "test/model,nope"}} {
		code, out, errs := runArgs(t, append(append([]string{"send", "--config", cfg}, args...), "hi")...)
		if code != 2 || out != "" || !strings.Contains(errs, `"nope" is not a model `+cfg+" serves; models: test/model") || strings.Contains(errs, "why:") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
	two := writeConfig(t, "default_model = \"other\"\n"+fastConfig+`
[[model]]
name = "test/other"
aliases = ["other"]
[[model.endpoint]]
provider = "beta"
`)
	var res struct{ Model, Provider string }
	code, out, errs := runArgs(t, "send", "--config", two, "--json", "hi")
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Model != "test/other" {
		t.Errorf("exit %d, model %q; want default_model's test/other: %s", code, res.Model, errs)
	}
}
