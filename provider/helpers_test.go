package provider

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// testKey is the API key the tests use. testdata/error_401.txt echoes it, as
// OpenAI does for a wrong key.
const testKey = "sk-test-4f9c2b7e1d8a6035"

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// eventEnd matches the blank line that ends an SSE event, in any line ending.
var eventEnd = regexp.MustCompile(`(\r\n|\r|\n)(\r\n|\r|\n)`)

// sseHandler serves body as an event stream, flushing after each event so
// that the client sees them arrive one by one, as from a real upstream.
func sseHandler(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		rest := body
		for len(rest) > 0 {
			n := len(rest)
			if loc := eventEnd.FindIndex(rest); loc != nil {
				n = loc[1]
			}
			if _, err := w.Write(rest[:n]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			rest = rest[n:]
		}
	}
}

// replayHandler answers with a recorded HTTP response: its status, headers
// and body.
func replayHandler(t testing.TB, raw []byte) http.HandlerFunc {
	resp, body := splitFixture(t, raw)
	return func(w http.ResponseWriter, r *http.Request) {
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
	}
}

// splitFixture parses a recorded HTTP response.
func splitFixture(t testing.TB, raw []byte) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		t.Fatalf("bad fixture: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("bad fixture body: %v", err)
	}
	return resp, body
}

// testUpstream is a client of any wire protocol, as the tests use it.
type testUpstream interface {
	Upstream
	CloseIdleConnections()
}

// serveTo starts h on a loopback server and returns the client that
// newClient makes for its base URL. Cleanup closes both, idle connections
// included, so goleak sees no leftover.
func serveTo[C testUpstream](t testing.TB, h http.Handler, newClient func(base string) C) (C, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := newClient(srv.URL + "/v1")
	t.Cleanup(c.CloseIdleConnections)
	return c, srv
}

// newTestClient starts h on a loopback server and returns an OpenAI client
// for it, with testKey unless o has a key.
func newTestClient(t testing.TB, h http.Handler, o OpenAIOptions) (*OpenAI, *httptest.Server) {
	t.Helper()
	return serveTo(t, h, func(base string) *OpenAI {
		o.BaseURL, o.APIKey = base, cmp.Or(o.APIKey, testKey)
		return NewOpenAI(o)
	})
}

// newAnthropicTestClient is newTestClient for the Anthropic client.
func newAnthropicTestClient(t testing.TB, h http.Handler, o AnthropicOptions) (*Anthropic, *httptest.Server) {
	t.Helper()
	return serveTo(t, h, func(base string) *Anthropic {
		o.BaseURL, o.APIKey = base, cmp.Or(o.APIKey, testKey)
		return NewAnthropic(o)
	})
}

// clientOf starts h on a loopback server and returns a client of the named
// protocol ("openai" or "anthropic") for it, with o's time limits.
func clientOf(t testing.TB, protocol string, h http.Handler, o OpenAIOptions) testUpstream {
	t.Helper()
	if protocol == "anthropic" {
		c, _ := newAnthropicTestClient(t, h, AnthropicOptions{
			ConnectTimeout: o.ConnectTimeout, FirstTokenTimeout: o.FirstTokenTimeout, StallTimeout: o.StallTimeout})
		return c
	}
	c, _ := newTestClient(t, h, o)
	return c
}

// protocols are the wire protocols, each with a client for a base URL and
// recordings of its answers, for tests that hold for every one.
var protocols = []struct {
	name      string
	normal    string      // fixture: a normal stream
	models    string      // fixture: a model list
	modelIDs  []string    // in models
	auth      http.Header // what every request carries to authenticate
	newClient func(base string) testUpstream
}{
	{
		name: "openai", normal: "stream_normal.txt",
		models: "models.txt", modelIDs: []string{"gpt-4o-mini", "gpt-4o", "o3-mini"},
		auth: http.Header{"Authorization": {"Bearer " + testKey}},
		newClient: func(base string) testUpstream {
			return NewOpenAI(OpenAIOptions{BaseURL: base, APIKey: testKey})
		},
	},
	{
		name: "anthropic", normal: "anthropic_stream_normal.txt",
		models: "anthropic_models.txt", modelIDs: []string{"claude-sonnet-4-20250514", "claude-opus-4-20250514", "claude-3-5-haiku-20241022"},
		auth: http.Header{"X-Api-Key": {testKey}, "Anthropic-Version": {"2023-06-01"}},
		newClient: func(base string) testUpstream {
			return NewAnthropic(AnthropicOptions{BaseURL: base, APIKey: testKey})
		},
	},
}

// testRequest is a small chat request.
func testRequest() Request {
	return Request{Model: "gpt-4o-mini", Messages: []Message{{Role: "user", Content: "Say hello."}}}
}

// drain reads s to its end and returns the chunks and the final error.
func drain(t testing.TB, s Stream) ([]Chunk, error) {
	t.Helper()
	var chunks []Chunk
	for range 100000 {
		c, err := s.Next()
		if err != nil {
			return chunks, err
		}
		chunks = append(chunks, c)
	}
	t.Fatal("stream did not end")
	return nil, nil
}

// streamAll opens a stream of testRequest on c and reads it to its end.
// The stream is closed when the test ends.
func streamAll(t testing.TB, c Upstream) (Stream, []Chunk, error) {
	t.Helper()
	return streamOf(t, c, testRequest())
}

// streamOf is streamAll for req.
func streamOf(t testing.TB, c Upstream, req Request) (Stream, []Chunk, error) {
	t.Helper()
	s, err := c.Stream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	chunks, err := drain(t, s)
	return s, chunks, err
}

// streamWant is what a stream read to its end must have given.
type streamWant struct {
	content, reasoning string
	signature          string // the signature's pieces, joined
	finish             string // the last finish reason sent
	usage              *Usage // the last usage sent, nil for none
	tokens             int    // Stats.OutputTokens
	class              Class  // of the final error; ClassOK for io.EOF
	message            string // in the final error's text
}

// checkStreamEnd checks a stream read to its end (its chunks and final
// error) against want, and that it stays ended.
func checkStreamEnd(t *testing.T, s Stream, chunks []Chunk, err error, want streamWant) {
	t.Helper()
	var got streamWant
	var content, reasoning, signature strings.Builder
	for _, ch := range chunks {
		content.WriteString(ch.Content)
		reasoning.WriteString(ch.Reasoning)
		signature.WriteString(ch.Signature)
		got.finish = cmp.Or(ch.FinishReason, got.finish)
		got.usage = cmp.Or(ch.Usage, got.usage)
		if ch.Content == "" && ch.Reasoning == "" && ch.Signature == "" && len(ch.ToolCalls) == 0 && len(ch.Logprobs) == 0 &&
			ch.FinishReason == "" && ch.Usage == nil {
			t.Errorf("empty chunk returned: %+v", ch)
		}
	}
	if got := classOf(t, err); got != want.class {
		t.Fatalf("final class = %v (%v), want %v", got, err, want.class)
	}
	if want.class == ClassOK && err != io.EOF {
		t.Fatalf("final error = %v, want io.EOF", err)
	}
	if want.message != "" && !strings.Contains(err.Error(), want.message) {
		t.Errorf("error %q does not say %q", err, want.message)
	}
	if content.String() != want.content || reasoning.String() != want.reasoning || got.finish != want.finish {
		t.Errorf("got content %q reasoning %q finish %q, want %q %q %q",
			content.String(), reasoning.String(), got.finish, want.content, want.reasoning, want.finish)
	}
	if signature.String() != want.signature {
		t.Errorf("signature %q, want %q", signature.String(), want.signature)
	}
	if (got.usage == nil) != (want.usage == nil) || got.usage != nil && *got.usage != *want.usage {
		t.Errorf("usage %+v, want %+v", got.usage, want.usage)
	}
	st := s.Stats()
	if st.OutputTokens != want.tokens {
		t.Errorf("OutputTokens = %d, want %d", st.OutputTokens, want.tokens)
	}
	if st.Start.IsZero() || st.Duration <= 0 || st.TTFT <= 0 || st.TTFT > st.Duration {
		t.Errorf("implausible stats %+v", st)
	}
	for range 3 {
		if _, again := s.Next(); again != err {
			t.Fatalf("Next after the end = %v, want the same %v", again, err)
		}
	}
	for range 2 { // twice: Close may be called again
		if s.Close() != nil {
			t.Error("Close after the end failed")
		}
	}
	if _, again := s.Next(); again != err {
		t.Errorf("Next after Close of an ended stream = %v, want the same %v", again, err)
	}
}

// classOf returns the class of err, failing the test when a failure is not
// an *Error.
func classOf(t testing.TB, err error) Class {
	t.Helper()
	var e *Error
	if err != nil && err != io.EOF && !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	return ClassOf(err)
}

// blockUntilDone is a handler body that never answers, and returns once the
// client is gone.
func blockUntilDone(w http.ResponseWriter, r *http.Request) {
	waitForClient(r)
}

// waitForClient returns when the client has gone away. It reads the request
// body first: net/http only watches a connection for its close once the body
// was consumed.
func waitForClient(r *http.Request) {
	io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}

// endless answers with an event stream of start, then chunk again and
// again, as fast as the client reads, until the client goes away; then it
// closes released, if given.
func endless(start, chunk string, released chan<- struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if released != nil {
			defer close(released)
		}
		io.Copy(io.Discard, r.Body) // so that the server notices a client that leaves
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, start)
		for r.Context().Err() == nil {
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}
}

// testClock is a clock the test moves by hand.
type testClock struct{ ns atomic.Int64 }

var clockBase = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func (c *testClock) Now() time.Time          { return clockBase.Add(time.Duration(c.ns.Load())) }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
