package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"switchboard/config"
)

// lockedBuffer collects what a goroutine writes, for reading afterwards.
type lockedBuffer struct {
	mu    sync.Mutex
	b     strings.Builder
	wrote chan struct{} // a token after each write, for waitFor; made by newLockedBuffer
}

func newLockedBuffer() *lockedBuffer { return &lockedBuffer{wrote: make(chan struct{}, 1)} }

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.wrote != nil {
		select {
		case l.wrote <- struct{}{}:
		default:
		}
	}
	return l.b.Write(p)
}

// waitFor waits until what was written contains s, failing the test if it
// does not within 30s: a guard against a hang, not a timing. (Under -race,
// on 2 busy cores, a dashboard over ten providers probed every 250ms took
// up to 12s to take a few typed keys, and 10s failed the test.)
func (l *lockedBuffer) waitFor(t *testing.T, s string) {
	t.Helper()
	guard := time.NewTimer(30 * time.Second)
	defer guard.Stop()
	for !strings.Contains(l.String(), s) {
		select {
		case <-l.wrote:
		case <-guard.C:
			t.Fatalf("%q was not written within 30s; got:\n%s", s, l)
		}
	}
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serveForTest runs switchboard serve until the test ends, and returns the
// API's base URL and what serve logs.
func serveForTest(t *testing.T, args ...string) (base string, logs *lockedBuffer) {
	t.Helper()
	return serveConfigForTest(t, fastConfig, args...)
}

// serveConfigForTest is serveForTest over the configuration config.
func serveConfigForTest(t *testing.T, config string, args ...string) (base string, logs *lockedBuffer) {
	t.Helper()
	base, logs, _ = serveWith(t, append([]string{"serve", "--no-history", "--config", writeConfig(t, config)}, args...)...)
	return base, logs
}

// serveWith runs switchboard with args (a serve command) until stop or the
// test's end, and returns the API's base URL and what it logs.
func serveWith(t *testing.T, args ...string) (base string, logs *lockedBuffer, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, w := io.Pipe()
	logs = newLockedBuffer()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, args, w, logs)
		w.Close()
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if c := <-code; c != 0 {
				t.Errorf("serve exited %d after the interrupt; stderr:\n%s", c, logs)
			}
		})
	}
	t.Cleanup(stop)
	line, err := bufio.NewReader(out).ReadString('\n')
	go io.Copy(io.Discard, out)
	if err != nil {
		t.Fatalf("serve said nothing: %v; stderr:\n%s", err, logs)
	}
	_, after, ok := strings.Cut(line, "API on ")
	base, _, _ = strings.Cut(after, " ")
	if !ok || !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("serve's first line %q does not say where the API is", line)
	}
	return base, logs, stop
}

// switchboard serve answers OpenAI clients through the real wiring, logs
// each request, and stops cleanly when interrupted.
func TestServeAnswersAndStops(t *testing.T) {
	base, logs := serveForTest(t, "--listen", "127.0.0.1:0")
	body := `{"model":"test/model","messages":[{"role":"user","content":"hi"}],"max_tokens":5}`
	resp, err := http.Post(base+"/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a struct {
		Provider string `json:"provider"`
		Choices  []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || resp.StatusCode != 200 || a.Provider == "" || a.Choices[0].Message.Content == "" {
		t.Fatalf("status %d, answer %+v, %v", resp.StatusCode, a, err)
	}
	// The line is written from the log's own goroutine, once the answer
	// is on its way.
	logs.waitFor(t, `msg="chat completion"`)
	if !strings.Contains(logs.String(), "provider="+a.Provider) {
		t.Errorf("the request is not in the log:\n%s", logs)
	}
	http.DefaultClient.CloseIdleConnections()
}

// A port in use, or nowhere to listen, is a clear error and a non-zero exit.
func TestServeCannotListen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := writeConfig(t, fastConfig)
	code, _, stderr := runArgs(t, "serve", "--no-history", "--config", cfg, "--listen", ln.Addr().String())
	if code != 1 || !strings.Contains(stderr, "the API cannot listen on "+ln.Addr().String()) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runArgs(t, "serve", "--no-history", "--config", cfg, "--listen", "off")
	if code != 2 || !strings.Contains(stderr, "no address to listen on") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// leakyUpstream is an OpenAI-compatible upstream that answers, then writes
// stray bytes past the answer's Content-Length: the request's own
// Authorization header, as a server that echoes its request might. The
// client's Transport logs those bytes ("Unsolicited response received on
// idle HTTP channel starting with ...") through the standard logger.
func leakyUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		body, ctype := `{"data":[{"id":"m"}]}`, "application/json"
		if strings.HasSuffix(r.URL.Path, "/chat/completions") {
			body, ctype = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n", "text/event-stream"
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s", ctype, len(body), body)
		fmt.Fprintf(buf, "Authorization: %s\r\n", r.Header.Get("Authorization"))
		buf.Flush()
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Keys as no other text holds them, to search every output for.
const (
	leakyKey   = "sk-upstream-7f3a9c1e5b"
	gatewayKey = "sk-gateway-2d8e4f6a0c"
)

// leakyConfig is a provider whose upstream is leakyUpstream, probed by its
// model list (which is read whole, so the connection goes back idle with
// the stray bytes on it), behind a gateway with a key.
func leakyConfig(t *testing.T) string {
	t.Helper()
	t.Setenv("SB_TEST_LEAKY_KEY", leakyKey)
	t.Setenv("SB_TEST_GATEWAY_KEYS", gatewayKey)
	return fmt.Sprintf(`
[gateway]
api_key_env = "SB_TEST_GATEWAY_KEYS"

[[provider]]
name = "leaky"
protocol = "openai"
base_url = %q
api_key_env = "SB_TEST_LEAKY_KEY"
probe = "models"

[[model]]
name = "test/model"
[[model.endpoint]]
provider = "leaky"
upstream_model = "m"
`, leakyUpstream(t).URL+"/v1")
}

// What Go's own logger says in serve goes to stderr through serve's log,
// with every configured secret removed.
func TestServeLogsNoKey(t *testing.T) {
	_, logs := serveConfigForTest(t, leakyConfig(t), "--listen", "127.0.0.1:0")
	logs.waitFor(t, "Unsolicited response received on idle HTTP channel")
	got := logs.String()
	if strings.Contains(got, leakyKey) || strings.Contains(got, gatewayKey) {
		t.Fatalf("a key is in serve's log:\n%s", got)
	}
	if !strings.Contains(got, "level=WARN") || !strings.Contains(got, "Authorization: Bearer [redacted]") {
		t.Errorf("the stray bytes are not logged as a warning with the key redacted:\n%s", got)
	}
}

// In the dashboard, what Go's own logger says goes to the event log,
// without secrets, and nothing to stderr, which is the screen.
func TestDashboardLogsNothingOnStderr(t *testing.T) {
	cfg := writeConfig(t, leakyConfig(t))
	ctx, cancel := context.WithCancel(t.Context())
	screen, stderr := newLockedBuffer(), newLockedBuffer()
	code := make(chan int, 1)
	go func() {
		code <- runDashboard(ctx, []string{"--no-history", "--config", cfg, "--listen", "127.0.0.1:0"}, io.Discard, stderr,
			tea.WithInput(nil), tea.WithOutput(screen), tea.WithWindowSize(160, 48), tea.WithoutSignalHandler())
	}()
	screen.waitFor(t, "Unsolicited")
	cancel()
	if c := <-code; c != 0 {
		t.Errorf("the dashboard exited %d", c)
	}
	if got := stderr.String(); got != "" {
		t.Errorf("the dashboard wrote on stderr:\n%s", got)
	}
	if got := ansi.Strip(screen.String()); strings.Contains(got, leakyKey) || strings.Contains(got, gatewayKey) {
		t.Errorf("a key is on the screen")
	}
}

// dashboardFor runs the dashboard with args on a test screen until stop,
// which returns its exit code and what it wrote on stderr.
func dashboardFor(t *testing.T, args ...string) (screen *lockedBuffer, stop func() (int, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	screen, stderr := newLockedBuffer(), newLockedBuffer()
	code := make(chan int, 1)
	go func() {
		code <- runDashboard(ctx, args, io.Discard, stderr,
			tea.WithInput(nil), tea.WithOutput(screen), tea.WithWindowSize(160, 48), tea.WithoutSignalHandler())
	}()
	return screen, func() (int, string) {
		cancel()
		return <-code, stderr.String()
	}
}

// The demo traffic goes through the router with nobody typing and no API,
// and its traces reach the event log as the API's do, marked as the
// demo's: alpha, the cheaper, fails every request, and the log shows the
// fallback.
func TestDashboardDemoTraffic(t *testing.T) {
	cfg := writeConfig(t, strings.Replace(fastConfig, "tokens_per_second = 20000", "tokens_per_second = 20000\nerror_rate = 1", 1))
	screen, stop := dashboardFor(t, "--no-history", "--config", cfg, "--demo-traffic", "20")
	screen.waitFor(t, "demo: alpha failed")
	if c, errs := stop(); c != 0 {
		t.Errorf("the dashboard exited %d: %s", c, errs)
	}
}

// The dashboard opens on default_model; without one, on the model with
// the most endpoints.
func TestDashboardOpensOnDefaultModel(t *testing.T) {
	other := fastConfig + `
[[model]]
name = "test/other"
aliases = ["other"]
[[model.endpoint]]
provider = "beta"
`
	for _, tc := range []struct{ head, want string }{
		{"default_model = \"other\"\n", "test/other  model 2/2"},
		{"", "test/model  model 1/2"},
	} {
		screen, stop := dashboardFor(t, "--no-history", "--demo-traffic", "0", "--config", writeConfig(t, tc.head+other))
		screen.waitFor(t, "Providers")
		if c, errs := stop(); c != 0 || !strings.Contains(ansi.Strip(screen.String()), tc.want) {
			t.Errorf("%q: exit %d %s; the screen does not open on %q:\n%s", tc.head, c, errs, tc.want, ansi.Strip(screen.String()))
		}
	}
}

// Demo traffic is on by itself only when every provider is simulated; a
// rate on the command line is taken as it is, and a bad one is refused.
func TestDemoRate(t *testing.T) {
	simulated := &stack{cfg: mustLoad(t, fastConfig)}
	real := &stack{cfg: mustLoad(t, strings.Replace(fastConfig, "name = \"beta\"\nprotocol = \"openai\"\n[provider.sim]\nttft = { p50 = \"1ms\", p95 = \"2ms\" }\ntokens_per_second = 20000",
		"name = \"beta\"\nprotocol = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"", 1))}
	for _, tc := range []struct {
		s    *stack
		flag rateFlag
		want float64
	}{
		{simulated, rateFlag{}, defaultDemoRate},
		{simulated, rateFlag{rate: 0, set: true}, 0},
		{simulated, rateFlag{rate: 3, set: true}, 3},
		{real, rateFlag{}, 0},
		{real, rateFlag{rate: 0.2, set: true}, 0.2},
	} {
		if got := tc.s.demoRate(tc.flag); got != tc.want {
			t.Errorf("simulated %v, flag %+v: rate %v, want %v", tc.s.simulated(), tc.flag, got, tc.want)
		}
	}
	for _, bad := range []string{"-1", "fast", "NaN", "1000"} {
		code, _, errs := runArgs(t, "--config", writeConfig(t, fastConfig), "--demo-traffic", bad)
		if code != 2 || !strings.Contains(errs, "prompts per second from 0") {
			t.Errorf("--demo-traffic %s: exit %d, %q", bad, code, errs)
		}
	}
}

func mustLoad(t *testing.T, body string) *config.Config {
	t.Helper()
	cfg, err := config.Load(writeConfig(t, body), nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// serve logs a provider going down and coming back, its breaker's changes
// and its cooldowns, for an operator who has only the log: alpha, a
// simulated provider, is forced down, then back to normal, then rate
// limited.
func TestServeLogsHealth(t *testing.T) {
	cfg := writeConfig(t, `
[monitor]
probe_interval = "20ms"
breaker_backoff = "50ms"
breaker_max_backoff = "100ms"
`+fastConfig)
	ctx, cancel := context.WithCancel(t.Context())
	logs := newLockedBuffer()
	stacks, code := make(chan *stack, 1), make(chan int, 1)
	go func() {
		code <- runServe(ctx, []string{"--no-history", "--config", cfg, "--listen", "127.0.0.1:0"}, io.Discard, logs,
			func(s *stack) { stacks <- s })
	}()
	fleet := faults{(<-stacks).fleet}
	alpha := func(mode string) {
		if err := fleet.SetMode("alpha", mode); err != nil {
			t.Fatal(err)
		}
	}
	alpha("down")
	logs.waitFor(t, `level=WARN msg="endpoint down" provider=alpha endpoint=test/model@alpha event=outage_started detail=`)
	logs.waitFor(t, `level=WARN msg="breaker opened" provider=alpha`)
	alpha("normal")
	logs.waitFor(t, `level=INFO msg="breaker closed" provider=alpha`)
	logs.waitFor(t, `level=INFO msg="endpoint back" provider=alpha endpoint=test/model@alpha event=outage_ended`)
	alpha("rate_limited")
	logs.waitFor(t, `level=WARN msg="endpoint cooling down" provider=alpha`)
	cancel()
	if c := <-code; c != 0 {
		t.Errorf("serve exited %d:\n%s", c, logs)
	}
	if strings.Contains(logs.String(), "provider=beta") {
		t.Errorf("beta, which stayed well, has health events:\n%s", logs)
	}
}
