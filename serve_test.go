package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer collects what a goroutine writes, for reading afterwards.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
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
	ctx, cancel := context.WithCancel(context.Background())
	out, w := io.Pipe()
	logs = &lockedBuffer{}
	code := make(chan int, 1)
	args = append([]string{"serve", "--no-history", "--config", writeConfig(t, fastConfig)}, args...)
	go func() {
		code <- run(ctx, args, w, logs)
		w.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if c := <-code; c != 0 {
			t.Errorf("serve exited %d after the interrupt; stderr:\n%s", c, logs)
		}
	})
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
	return base, logs
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
	if !strings.Contains(logs.String(), `msg="chat completion"`) || !strings.Contains(logs.String(), "provider="+a.Provider) {
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
