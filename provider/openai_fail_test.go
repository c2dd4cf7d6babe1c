package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Limits short enough for a quick test; the other limit in each test is
// long, so that only the one under test can fire.
const (
	short = 50 * time.Millisecond
	long  = time.Minute
)

const roleChunk = `data: {"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}` + "\n\n"
const contentChunk = `data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Hi"}}]}` + "\n\n"

// writeThenBlock answers 200, writes prefix and then stays silent until the
// client goes away.
func writeThenBlock(prefix string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, prefix)
		w.(http.Flusher).Flush()
		waitForClient(r)
	}
}

func TestFirstTokenTimeout(t *testing.T) {
	o := OpenAIOptions{FirstTokenTimeout: short, StallTimeout: long}
	t.Run("no answer", func(t *testing.T) {
		c, _ := newTestClient(t, http.HandlerFunc(blockUntilDone), o)
		_, err := c.Stream(context.Background(), testRequest())
		if got := classOf(t, err); got != ClassTimeout {
			t.Fatalf("class = %v (%v), want timeout", got, err)
		}
		if !strings.Contains(err.Error(), "no first token within 50ms") {
			t.Errorf("error %q does not say which limit", err)
		}
	})
	for name, prefix := range map[string]string{
		"headers only":     "",
		"role chunk only":  roleChunk,
		"keep-alives only": ": keep-alive\n\n: OPENROUTER PROCESSING\n\n",
	} {
		t.Run(name, func(t *testing.T) {
			c, _ := newTestClient(t, writeThenBlock(prefix), o)
			s, err := c.Stream(context.Background(), testRequest())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			chunks, err := drain(t, s)
			if got := classOf(t, err); got != ClassTimeout || len(chunks) != 0 {
				t.Fatalf("%d chunks, class %v (%v); want none, timeout", len(chunks), got, err)
			}
			if st := s.Stats(); st.TTFT != 0 || st.Duration < short {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestStall(t *testing.T) {
	c, _ := newTestClient(t, writeThenBlock(roleChunk+contentChunk), OpenAIOptions{FirstTokenTimeout: long, StallTimeout: short})
	_, chunks, err := streamAll(t, c)
	if got := classOf(t, err); got != ClassStall || len(chunks) != 1 || chunks[0].Content != "Hi" {
		t.Fatalf("chunks %+v, class %v (%v); want one chunk, then a stall", chunks, got, err)
	}
	if !strings.Contains(err.Error(), "within 50ms") {
		t.Errorf("error %q does not say which limit", err)
	}
}

func TestFinishThenSilence(t *testing.T) {
	// The answer is whole once a finish reason came: a stall while waiting
	// for the usage chunk is no failure.
	finish := `data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n"
	c, _ := newTestClient(t, writeThenBlock(contentChunk+finish), OpenAIOptions{StallTimeout: short})
	s, err := c.Stream(context.Background(), testRequest())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if chunks, err := drain(t, s); err != io.EOF || len(chunks) != 2 {
		t.Fatalf("%d chunks, %v; want 2 and io.EOF", len(chunks), err)
	}
}

func TestConnectionRefused(t *testing.T) {
	c := NewOpenAI(OpenAIOptions{BaseURL: "http://" + closedAddr(t) + "/v1", APIKey: testKey})
	defer c.CloseIdleConnections()
	_, err := c.Stream(context.Background(), testRequest())
	if got := classOf(t, err); got != ClassConnect {
		t.Fatalf("Stream: class = %v (%v), want connect", got, err)
	}
	if !strings.Contains(err.Error(), "POST http://") || !strings.Contains(err.Error(), "/v1/chat/completions") {
		t.Errorf("error %q does not say where", err)
	}
	_, err = c.ListModels(context.Background())
	if got := classOf(t, err); got != ClassConnect {
		t.Fatalf("ListModels: class = %v (%v), want connect", got, err)
	}
}

func TestConnectTimeout(t *testing.T) {
	// A dial that never completes, as to a host that drops SYNs.
	done := make(chan struct{})
	defer close(done)
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-done:
			return nil, errors.New("test over")
		}
	}}
	defer tr.CloseIdleConnections()
	c := NewOpenAI(OpenAIOptions{BaseURL: "http://192.0.2.1/v1", HTTPClient: &http.Client{Transport: tr},
		ConnectTimeout: short, FirstTokenTimeout: long})
	_, err := c.Stream(context.Background(), testRequest())
	if got := classOf(t, err); got != ClassConnect || !strings.Contains(err.Error(), "no connection within 50ms") {
		t.Fatalf("class = %v (%v), want connect, naming the limit", got, err)
	}
}

func TestInvalidBaseURL(t *testing.T) {
	for _, base := range []string{"", "api.groq.com/openai/v1", "ftp://example.com/v1", "http://[::1"} {
		c := NewOpenAI(OpenAIOptions{BaseURL: base})
		_, err := c.Stream(context.Background(), testRequest())
		if got := classOf(t, err); got != ClassConnect || !strings.Contains(err.Error(), "base URL") {
			t.Errorf("%q: class = %v (%v), want connect with a word on the base URL", base, got, err)
		}
	}
}

func TestCallerCancel(t *testing.T) {
	t.Run("before the answer", func(t *testing.T) {
		arrived := make(chan struct{})
		h := func(w http.ResponseWriter, r *http.Request) {
			close(arrived)
			waitForClient(r)
		}
		c, _ := newTestClient(t, http.HandlerFunc(h), OpenAIOptions{})
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-arrived
			cancel()
		}()
		_, err := c.Stream(ctx, testRequest())
		if got := classOf(t, err); got != ClassCanceled || !errors.Is(err, context.Canceled) {
			t.Fatalf("class = %v (%v), want canceled", got, err)
		}
	})
	t.Run("mid-stream", func(t *testing.T) {
		c, _ := newTestClient(t, writeThenBlock(contentChunk), OpenAIOptions{})
		ctx, cancel := context.WithCancel(context.Background())
		s, err := c.Stream(ctx, testRequest())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
		cancel()
		_, err = s.Next()
		if got := classOf(t, err); got != ClassCanceled {
			t.Fatalf("class = %v (%v), want canceled", got, err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		c, _ := newTestClient(t, http.HandlerFunc(blockUntilDone), OpenAIOptions{})
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		_, err := c.Stream(ctx, testRequest())
		if got := classOf(t, err); got != ClassTimeout {
			t.Fatalf("class = %v (%v), want timeout", got, err)
		}
	})
}

func TestClose(t *testing.T) {
	c, _ := newTestClient(t, writeThenBlock(contentChunk), OpenAIOptions{})
	t.Run("before reading", func(t *testing.T) {
		s, err := c.Stream(context.Background(), testRequest())
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
		for range 2 {
			if _, err := s.Next(); classOf(t, err) != ClassCanceled {
				t.Fatalf("Next after Close = %v, want canceled", err)
			}
		}
		if st := s.Stats(); st.Duration <= 0 {
			t.Errorf("no duration after Close: %+v", st)
		}
	})
	t.Run("while a Next waits", func(t *testing.T) {
		s, err := c.Stream(context.Background(), testRequest())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
		result := make(chan error)
		go func() {
			_, err := s.Next()
			result <- err
		}()
		// The Next above may or may not be blocked yet; either way it must
		// end as canceled.
		s.Close()
		if err := <-result; classOf(t, err) != ClassCanceled {
			t.Fatalf("blocked Next = %v, want canceled", err)
		}
	})
}

// hijack answers with raw bytes, then does what end says with the
// connection, bypassing net/http's own framing.
func hijack(raw string, end func(*net.TCPConn)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		buf.WriteString(raw)
		buf.Flush()
		end(conn.(*net.TCPConn))
	}
}

// reset closes a connection with a TCP RST rather than a FIN.
func reset(c *net.TCPConn) {
	c.SetLinger(0)
	c.Close()
}

func TestBrokenConnections(t *testing.T) {
	sseHead := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
	chunked := func(s string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(s), s) }
	t.Run("reset before an answer", func(t *testing.T) {
		c, _ := newTestClient(t, hijack("", reset), OpenAIOptions{})
		_, err := c.Stream(context.Background(), testRequest())
		if got := classOf(t, err); got != ClassConnect {
			t.Fatalf("class = %v (%v), want connect", got, err)
		}
	})
	t.Run("not HTTP", func(t *testing.T) {
		c, _ := newTestClient(t, hijack("SSH-2.0-OpenSSH_9.6\r\n\r\n", func(c *net.TCPConn) { c.Close() }), OpenAIOptions{})
		_, err := c.Stream(context.Background(), testRequest())
		if got := classOf(t, err); got != ClassMalformed {
			t.Fatalf("class = %v (%v), want malformed", got, err)
		}
	})
	t.Run("closed mid-body", func(t *testing.T) {
		c, _ := newTestClient(t, hijack(sseHead+chunked(contentChunk), func(c *net.TCPConn) { c.Close() }), OpenAIOptions{})
		s, err := c.Stream(context.Background(), testRequest())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		chunks, err := drain(t, s)
		if got := classOf(t, err); got != ClassStreamCut || len(chunks) != 1 {
			t.Fatalf("%d chunks, class %v (%v); want 1, stream cut", len(chunks), got, err)
		}
	})
	t.Run("reset mid-stream", func(t *testing.T) {
		// The server resets only after the client has read the first chunk,
		// so that the reset cannot overtake it.
		read := make(chan struct{})
		h := hijack(sseHead+chunked(contentChunk), func(c *net.TCPConn) {
			<-read
			reset(c)
		})
		c, _ := newTestClient(t, h, OpenAIOptions{})
		s, err := c.Stream(context.Background(), testRequest())
		if err != nil {
			close(read)
			t.Fatal(err)
		}
		defer s.Close()
		_, err = s.Next()
		close(read)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Next()
		if got := classOf(t, err); got != ClassStreamCut {
			t.Fatalf("class = %v (%v), want stream cut", got, err)
		}
	})
}
