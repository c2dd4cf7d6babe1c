package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testModel = "llama-3.3-70b-instruct"

// fastProfile answers in about a millisecond and never fails, so tests that
// add one fault see only that fault.
func fastProfile(name string) Profile {
	return Profile{
		Name:   name,
		Seed:   42,
		Models: []string{testModel, "llama-3.1-8b-instruct"},
		TTFT:   Latency{P50: time.Millisecond, P95: 2 * time.Millisecond},
	}
}

// startServer starts a server that the test closes when it ends.
func startServer(t *testing.T, p Profile, o Options) *Server {
	t.Helper()
	s, err := Start(p, o)
	if err != nil {
		t.Fatalf("Start(%q): %v", p.Name, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// newClient is a client of its own, so its connections close with the test
// and goleak sees no transport goroutine left over.
func newClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// chatBody is a minimal valid request, changed by the caller as needed.
func chatBody(prompt string, stream bool) map[string]any {
	return map[string]any{
		"model":    testModel,
		"messages": []map[string]any{{"role": "user", "content": prompt}},
		"stream":   stream,
	}
}

// post sends a JSON body (a string is sent as is) to a path under the
// server's base URL.
func post(ctx context.Context, t *testing.T, c *http.Client, url string, body any) (*http.Response, error) {
	t.Helper()
	return postWith(ctx, t, c, url, body, nil)
}

// postWith is post with extra request headers.
func postWith(ctx context.Context, t *testing.T, c *http.Client, url string, body any, header http.Header) (*http.Response, error) {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatalf("encode body: %v", err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	return c.Do(req)
}

// api is how a test reaches one of the APIs a server speaks, for checks
// that hold the same in both.
type api struct {
	path   string                           // under the base URL
	body   func(stream bool) map[string]any // a minimal valid request
	header http.Header                      // sent with every request
}

var openAIAPI = api{path: "/chat/completions", body: func(stream bool) map[string]any { return chatBody("hi", stream) }}

// post sends a request of this API to s.
func (a api) post(ctx context.Context, t *testing.T, c *http.Client, s *Server, body any) (*http.Response, error) {
	t.Helper()
	return postWith(ctx, t, c, s.URL()+a.path, body, a.header)
}

// open posts a streaming request that must be accepted; its body closes
// when the test ends.
func (a api) open(ctx context.Context, t *testing.T, c *http.Client, s *Server, body any) *http.Response {
	t.Helper()
	resp, err := a.post(ctx, t, c, s, body)
	if err != nil {
		t.Fatalf("POST stream: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	expectAnswer(t, resp, http.StatusOK, "text/event-stream")
	return resp
}

// mustPost is post for requests that must get an answer; the caller closes it.
func mustPost(t *testing.T, c *http.Client, url string, body any) *http.Response {
	t.Helper()
	resp, err := post(t.Context(), t, c, url, body)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return resp
}

func mustGet(t *testing.T, c *http.Client, url string) *http.Response {
	t.Helper()
	return mustGetWith(t, c, url, nil)
}

// mustGetWith is mustGet with extra request headers.
func mustGetWith(t *testing.T, c *http.Client, url string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp
}

// drain reads an answer to its end, closes it, and returns its status. Only
// once the body has ended has the handler counted the request.
func drain(resp *http.Response) int {
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// decodeStrict reads a JSON body into v, refusing fields v does not
// declare, so a test's mirror of the schema also checks for strays.
func decodeStrict(t *testing.T, r io.Reader, v any) {
	t.Helper()
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %T: %v", v, err)
	}
}

// wireError mirrors the OpenAI error body. Param and Code are raw so a test
// can tell an explicit null from a missing key.
type wireError struct {
	Error struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Param   json.RawMessage `json:"param"`
		Code    json.RawMessage `json:"code"`
	} `json:"error"`
}

// expectAnswer checks an answer's status, failing the test with the body
// if it is wrong, and its Content-Type.
func expectAnswer(t *testing.T, resp *http.Response, status int, contentType string) {
	t.Helper()
	if resp.StatusCode != status {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, status, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != contentType {
		t.Errorf("Content-Type = %q, want %s", ct, contentType)
	}
}

// expectError checks the status and the error body, and returns the body.
func expectError(t *testing.T, resp *http.Response, status int, typ, code string) wireError {
	t.Helper()
	defer resp.Body.Close()
	expectAnswer(t, resp, status, "application/json")
	var e wireError
	decodeStrict(t, resp.Body, &e)
	if e.Error.Message == "" {
		t.Error("error message is empty")
	}
	if e.Error.Type != typ {
		t.Errorf("error type = %q, want %q", e.Error.Type, typ)
	}
	if e.Error.Param == nil || e.Error.Code == nil {
		t.Errorf("param and code must be present (as null if unset): %+v", e.Error)
	}
	wantCode := "null"
	if code != "" {
		wantCode = `"` + code + `"`
	}
	if string(e.Error.Code) != wantCode {
		t.Errorf("error code = %s, want %s", e.Error.Code, wantCode)
	}
	return e
}

// sseRead is what a client saw of an event stream.
type sseRead struct {
	data     []string // payloads of data lines, in order
	events   []string // names of event lines (Anthropic names every event)
	comments []string // comment lines, such as ": keep-alive"
	other    []string // lines that are none of these: none are expected
	order    []string // "data", "event" or "comment", per line, to check what came first
	err      error    // how reading ended; nil for a clean EOF
}

func readSSE(r io.Reader) sseRead {
	var res sseRead
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
		case strings.HasPrefix(line, "data: "):
			res.data = append(res.data, strings.TrimPrefix(line, "data: "))
			res.order = append(res.order, "data")
		case strings.HasPrefix(line, "event: "):
			res.events = append(res.events, strings.TrimPrefix(line, "event: "))
			res.order = append(res.order, "event")
		case strings.HasPrefix(line, ":"):
			res.comments = append(res.comments, line)
			res.order = append(res.order, "comment")
		default:
			res.other = append(res.other, line)
		}
	}
	res.err = sc.Err()
	return res
}

// wireChunk mirrors an OpenAI chat.completion.chunk.
type wireChunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role      string         `json:"role"`
			Content   *string        `json:"content"`
			Reasoning string         `json:"reasoning"`
			ToolCalls []wireToolCall `json:"tool_calls"`
		} `json:"delta"`
		Logprobs     json.RawMessage `json:"logprobs"`
		FinishReason *string         `json:"finish_reason"`
	} `json:"choices"`
	Usage *wireUsage `json:"usage"`
}

type wireUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"` // a prefix the server saw before
}

// parseChunks decodes every data payload but a final [DONE].
func parseChunks(t *testing.T, data []string) []wireChunk {
	t.Helper()
	var out []wireChunk
	for i, d := range data {
		if d == "[DONE]" {
			if i != len(data)-1 {
				t.Errorf("[DONE] at event %d of %d; it must be last", i, len(data))
			}
			continue
		}
		var c wireChunk
		decodeStrict(t, strings.NewReader(d), &c)
		out = append(out, c)
	}
	return out
}

// streamText joins the content deltas of a stream.
func streamText(chunks []wireChunk) string {
	var b strings.Builder
	for _, c := range chunks {
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				b.WriteString(*ch.Delta.Content)
			}
		}
	}
	return b.String()
}

// finishReasons lists the non-null finish reasons of a stream.
func finishReasons(chunks []wireChunk) []string {
	var out []string
	for _, c := range chunks {
		for _, ch := range c.Choices {
			if ch.FinishReason != nil {
				out = append(out, *ch.FinishReason)
			}
		}
	}
	return out
}
