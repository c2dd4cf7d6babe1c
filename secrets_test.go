package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// secretMark is in every key this test configures, and nowhere else: any
// surface that shows it shows a key, or part of one.
const secretMark = "SECRET"

// hostileFleet configures one provider per hostile mode and protocol, each
// with a recognisable key from the environment, and a gateway with two
// client keys. It returns the config's path and every secret in it.
func hostileFleet(t *testing.T, h *hostile) (path string, secrets []string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("[gateway]\napi_key_env = \"SB_TEST_GATEWAY_KEYS\"\n\n")
	gw := []string{"sk-gw-" + secretMark + "-0a1b2c3d", "sk-gw-" + secretMark + "-4e5f6a7b"}
	t.Setenv("SB_TEST_GATEWAY_KEYS", strings.Join(gw, ","))
	secrets = append(secrets, gw...)
	var endpoints strings.Builder
	for _, mode := range hostileModes {
		for _, proto := range []string{"openai", "anthropic"} {
			name := mode + "-" + proto
			env := "SB_TEST_KEY_" + strings.ToUpper(mode+"_"+proto)
			key := fmt.Sprintf("sk-%s-%s-%s-9f8e7d6c", secretMark, mode, proto)
			t.Setenv(env, key)
			secrets = append(secrets, key)
			fmt.Fprintf(&b, "[[provider]]\nname = %q\nprotocol = %q\nbase_url = %q\napi_key_env = %q\nprobe_interval = \"250ms\"\n\n",
				name, proto, h.base(mode, proto), env)
			fmt.Fprintf(&endpoints, "[[model.endpoint]]\nprovider = %q\nupstream_model = \"m\"\nprice_in = 1\nprice_out = 1\n\n", name)
		}
	}
	b.WriteString("[[model]]\nname = \"test/model\"\n\n")
	b.WriteString(endpoints.String())
	return writeConfig(t, b.String()), secrets
}

// surfaces collects what a person or a program could read, by where it
// was read.
type surfaces map[string][]byte

func (s surfaces) add(where string, b []byte) { s[where] = append(s[where], b...) }

// leaks lists every surface that shows a secret, or the mark every secret
// carries (a clipped key is still part of a key).
func (s surfaces) leaks(secrets []string) []string {
	var found []string
	for where, b := range s {
		for _, k := range append([]string{secretMark}, secrets...) {
			if i := bytes.Index(b, []byte(k)); i >= 0 {
				found = append(found, fmt.Sprintf("%s shows %q: …%s…", where, k, b[max(0, i-80):min(len(b), i+len(k)+40)]))
				break
			}
		}
	}
	return found
}

// Keys never leave: after every hostile upstream has had its go at the
// probes, at whole and streamed answers on both protocols, at send and at
// the dashboard, no key is on any surface: no answer's body or headers,
// no stream chunk, no trace, no log line, no metric, no health or
// endpoints figure, no history file, no screen. No redirect was followed.
func TestKeysNeverLeave(t *testing.T) {
	h := newHostile(t)
	cfg, secrets := hostileFleet(t, h)
	state := t.TempDir()
	seen := surfaces{}

	base, logs, stop := serveWith(t, "serve", "--config", cfg, "--state", state, "--listen", "127.0.0.1:0")
	waitForProbes(t, h)
	gwKey := secrets[0]
	api := &apiClient{t: t, base: strings.TrimSuffix(base, "/v1"), key: gwKey, seen: seen}
	for _, mode := range hostileModes {
		for _, stream := range []bool{false, true} {
			api.post("/v1/chat/completions", map[string]any{"model": "test/model", "stream": stream, "max_tokens": 8,
				"messages": []map[string]any{{"role": "user", "content": "hi"}},
				"provider": map[string]any{"only": []string{mode + "-openai"}}})
			api.post("/v1/messages", map[string]any{"model": "test/model", "stream": stream, "max_tokens": 8,
				"messages": []map[string]any{{"role": "user", "content": "hi"}},
				"provider": map[string]any{"only": []string{mode + "-anthropic"}}})
		}
	}
	api.post("/v1/chat/completions", map[string]any{"model": "test/model", "max_tokens": 8,
		"messages": []map[string]any{{"role": "user", "content": "hi"}}})
	for _, path := range []string{"/v1/models", "/api/v1/models", "/api/v1/models/test/model/endpoints", "/api/v1/health",
		"/metrics", "/healthz", "/readyz"} {
		api.get(path)
	}
	stop()
	seen.add("serve's log", []byte(logs.String()))
	if err := filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		seen.add("history file "+filepath.Base(p), b)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"--max-tokens", "8", "hi"},
		{"--json", "--max-tokens", "8", "hi"},
		{"--json", "--provider", `{"only":["inband-openai","inband-anthropic"]}`, "hi"},
		{"--provider", `{"only":["inband-openai","inband-anthropic"]}`, "hi"},
	} {
		_, out, errs := runArgs(t, append([]string{"send", "--config", cfg, "--no-history"}, args...)...)
		seen.add("send "+strings.Join(args, " "), []byte(out+errs))
		if strings.Contains(out, "\x1b]0;pwned") {
			t.Errorf("send %s printed the answer's escape sequences: %q", strings.Join(args, " "), out)
		}
	}
	seen.add("the dashboard's screen", dashboardScreen(t, cfg))

	if n := h.stolen.Load(); n != 0 {
		t.Errorf("%d requests followed a redirect to another server", n)
	}
	for _, l := range seen.leaks(secrets) {
		t.Error(l)
	}
	// The run did meet the hostile answers: their words reached the
	// surfaces, with the keys taken out.
	for where, want := range map[string]string{
		"responses":              "[redacted]",
		"serve's log":            "Unsolicited response",
		"the dashboard's screen": "inband-anthropic",
	} {
		if !bytes.Contains(seen[where], []byte(want)) {
			t.Errorf("%s does not show %q: the hostile run did not reach it", where, want)
		}
	}
}

// waitForProbes waits until every hostile upstream was probed once.
func waitForProbes(t *testing.T, h *hostile) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for range hostileModes {
		select {
		case <-h.probed:
		case <-deadline:
			t.Fatal("the monitor did not probe every upstream within 20s")
		}
	}
}

// apiClient talks to the gateway with a key and keeps every answer, whole,
// as the surface "responses".
type apiClient struct {
	t         *testing.T
	base, key string
	seen      surfaces
}

func (c *apiClient) post(path string, body any) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(c.t.Context(), http.MethodPost, c.base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	c.do(req)
}

func (c *apiClient) get(path string) {
	req, _ := http.NewRequestWithContext(c.t.Context(), http.MethodGet, c.base+path, nil)
	c.do(req)
}

func (c *apiClient) do(req *http.Request) {
	c.t.Helper()
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	dump, err := httputil.DumpResponse(resp, true)
	if err != nil {
		c.t.Fatalf("%s %s: reading the answer: %v", req.Method, req.URL.Path, err)
	}
	c.seen.add("responses", fmt.Appendf(nil, "%s %s\n%s\n\n", req.Method, req.URL.Path, dump))
}

// dashboardScreen runs the dashboard on cfg on a test screen, sends a
// prompt from its console, walks the providers, and returns everything it
// drew and wrote on stderr once the event log shows what net/http logged.
func dashboardScreen(t *testing.T, cfg string) []byte {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	screen, stderr := newLockedBuffer(), newLockedBuffer()
	keys, typing := io.Pipe()
	defer typing.Close()
	code := make(chan int, 1)
	go func() {
		code <- runDashboard(ctx, []string{"--no-history", "--config", cfg, "--listen", "127.0.0.1:0"}, io.Discard, stderr,
			tea.WithInput(keys), tea.WithOutput(screen), tea.WithWindowSize(200, 120), tea.WithoutSignalHandler())
	}()
	screen.waitFor(t, "Providers")
	// The console: only the provider whose token carries escapes, then a
	// prompt, answered in part and then broken off, with its trace.
	io.WriteString(typing, "//only inband-openai\rhello\r")
	screen.waitFor(t, "outcome")
	if got := screen.String(); !strings.Contains(got, "pwned") || strings.Contains(got, "\x1b]0;pwned") {
		t.Errorf("the answer's escapes reached the terminal, or its text did not show:\n%s", ansi.Strip(got))
	}
	io.WriteString(typing, "\t"+strings.Repeat("\x1b[B", 2*len(hostileModes)))
	screen.waitFor(t, "Unsolicited")
	// The help comes after every key typed: once it shows, the input
	// reader holds no key the dashboard did not take (it would block on
	// it for ever after the program ends).
	io.WriteString(typing, "?")
	screen.waitFor(t, "previous model")
	cancel()
	if c := <-code; c != 0 {
		t.Errorf("the dashboard exited %d: %s", c, stderr)
	}
	return []byte(screen.String() + stderr.String())
}
