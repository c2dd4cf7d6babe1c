package sim

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestModelsList(t *testing.T) {
	clock := newFakeClock()
	p := fastProfile("together")
	s := startServer(t, p, Options{Now: clock.Now})
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") || !strings.HasSuffix(s.URL(), "/v1") {
		t.Errorf("URL() = %q, want http://127.0.0.1:PORT/v1", s.URL())
	}
	if s.Name() != "together" {
		t.Errorf("Name() = %q", s.Name())
	}

	resp := mustGet(t, newClient(t), s.URL()+"/models")
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Created int64  `json:"created"`
			OwnedBy string `json:"owned_by"`
		} `json:"data"`
	}
	decodeStrict(t, resp.Body, &list)
	if list.Object != "list" || len(list.Data) != len(p.Models) {
		t.Fatalf("list = %+v, want %d models", list, len(p.Models))
	}
	for i, m := range list.Data {
		if m.ID != p.Models[i] || m.Object != "model" || m.OwnedBy != "together" || m.Created != clock.Now().Unix() {
			t.Errorf("model %d = %+v", i, m)
		}
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	s := startServer(t, fastProfile("groq"), Options{})
	c := newClient(t)
	expectError(t, mustGet(t, c, s.URL()+"/embeddings"), http.StatusNotFound, "invalid_request_error", "unknown_url")

	resp := mustGet(t, c, s.URL()+"/chat/completions")
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET chat/completions: status %d, want 405", resp.StatusCode)
	}
}

// TestCloseEndsStalledStream checks that Close does not wait for a client
// that never gives up: it ends the stalled handler itself.
func TestCloseEndsStalledStream(t *testing.T) {
	s, err := Start(fastProfile("groq"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.SetMode(ModeStall)
	c := newClient(t)
	// Two tokens at most: the stall comes after the first, so once it has
	// arrived the handler has nothing left to do but stall.
	body := chatBody("hi", true)
	body["max_tokens"] = 2
	resp := mustPost(t, c, s.URL()+"/chat/completions", body)
	defer resp.Body.Close()
	first := readUntilContent(t, resp.Body)
	if first == "" {
		t.Fatal("no content before the stall")
	}

	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second): // a guard against hanging, not a wait
		t.Fatal("Close did not return with a stalled stream in flight")
	}

	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("the stalled stream ended cleanly; want an error after Close")
	}
	if st := s.Stats(); st.Stalled != 1 || st.Requests != 1 {
		t.Errorf("stats = %+v, want one stalled request", st)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	// A closed server refuses connections.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := post(ctx, t, c, s.URL()+"/chat/completions", chatBody("hi", false)); err == nil {
		t.Error("request after Close succeeded")
	} else if errors.Is(err, context.DeadlineExceeded) {
		t.Error("request after Close hung instead of failing")
	}
}

// readUntilContent reads SSE lines until the first non-empty content delta,
// and returns it.
func readUntilContent(t *testing.T, r io.Reader) string {
	t.Helper()
	var buf [1]byte
	var line strings.Builder
	for {
		if _, err := r.Read(buf[:]); err != nil {
			t.Fatalf("read stream: %v", err)
		}
		if buf[0] != '\n' {
			line.WriteByte(buf[0])
			continue
		}
		l := line.String()
		line.Reset()
		if !strings.HasPrefix(l, "data: {") {
			continue
		}
		chunks := parseChunks(t, []string{strings.TrimPrefix(l, "data: ")})
		if text := streamText(chunks); text != "" {
			return text
		}
	}
}
