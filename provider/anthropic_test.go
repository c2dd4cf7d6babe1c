package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// anthropicEvents builds an Anthropic event stream: each data line goes
// with an "event:" line naming its type, as Anthropic sends them.
func anthropicEvents(data ...string) string {
	var b strings.Builder
	for _, d := range data {
		var ev struct{ Type string }
		json.Unmarshal([]byte(d), &ev)
		fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", ev.Type, d)
	}
	return b.String()
}

// Events of an Anthropic stream, for the tests that build their own.
const (
	aStart     = `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[],"stop_reason":null,"usage":{"input_tokens":7,"output_tokens":1}}}`
	aTextBlock = `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`
	aText      = `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}`
	aThinking  = `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me think"}}`
	aPing      = `{"type":"ping"}`
	aStop      = `{"type":"message_stop"}`
)

// aDelta is a message_delta with stop reason reason and 5 output tokens.
func aDelta(reason string) string {
	return `{"type":"message_delta","delta":{"stop_reason":"` + reason + `","stop_sequence":null},"usage":{"output_tokens":5}}`
}

func TestAnthropicStreamFixtures(t *testing.T) {
	const hello = "Hello! How can I help you today?"
	tests := []struct {
		fixture string
		want    streamWant
	}{
		{"anthropic_stream_normal.txt", streamWant{content: hello, finish: "stop",
			usage: &Usage{PromptTokens: 12, CompletionTokens: 12, TotalTokens: 24}, tokens: 12}},
		// The prompt's tokens count those read from the cache, as OpenAI's do.
		{"anthropic_stream_thinking.txt", streamWant{content: "6 x 7 = 42", reasoning: "The user asks for 6 x 7. That is 42.",
			finish: "stop", usage: &Usage{PromptTokens: 120, CompletionTokens: 31, TotalTokens: 151, CachedTokens: 100}, tokens: 31,
			signature: "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}},
		// Without message_stop, but after the stop reason: whole.
		{"anthropic_stream_no_stop.txt", streamWant{content: "Hello! How", finish: "length",
			usage: &Usage{PromptTokens: 12, CompletionTokens: 3, TotalTokens: 15}, tokens: 3}},
		{"anthropic_stream_cut.txt", streamWant{content: "Hello! How can I", tokens: 2, class: ClassStreamCut,
			message: "ended before a finish reason"}},
		{"anthropic_stream_error.txt", streamWant{content: "Hi", tokens: 1, class: ClassOverloaded,
			message: "error in stream: Overloaded"}},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.fixture, ".txt"), func(t *testing.T) {
			c, _ := newAnthropicTestClient(t, sseHandler(readFixture(t, tt.fixture)), AnthropicOptions{})
			s, chunks, err := streamAll(t, c)
			checkStreamEnd(t, s, chunks, err, tt.want)
		})
	}
}

func TestAnthropicFinishReasons(t *testing.T) {
	for reason, want := range map[string]string{
		"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop",
		"max_tokens": "length", "model_context_window_exceeded": "length",
		"tool_use": "tool_calls", "refusal": "content_filter",
		"something_new": "something_new", // not ours to judge: passed on, and still an end
	} {
		t.Run(reason, func(t *testing.T) {
			body := anthropicEvents(aStart, aTextBlock, aText, aDelta(reason), aStop)
			c, _ := newAnthropicTestClient(t, sseHandler([]byte(body)), AnthropicOptions{})
			_, chunks, err := streamAll(t, c)
			if err != io.EOF || len(chunks) != 2 || chunks[1].FinishReason != want {
				t.Fatalf("chunks %+v, %v; want the text, then finish %q, then io.EOF", chunks, err, want)
			}
		})
	}
}

// Newer servers repeat the usage in message_delta, with the prompt's final
// count (server tools add to it), and a server may start a block with text.
func TestAnthropicEventDetails(t *testing.T) {
	body := anthropicEvents(aStart,
		`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"Hello"}}`, aText,
		`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":9,"cache_read_input_tokens":1,"output_tokens":5}}`)
	c, _ := newAnthropicTestClient(t, sseHandler([]byte(body)), AnthropicOptions{})
	_, chunks, err := streamAll(t, c)
	if err != io.EOF || len(chunks) != 3 || chunks[0].Content != "Hello" || chunks[1].Content != "Hi" {
		t.Fatalf("chunks %+v, %v; want Hello, Hi, the end, then io.EOF", chunks, err)
	}
	if u := chunks[2].Usage; u == nil || *u != (Usage{PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15}) {
		t.Errorf("usage %+v, want the prompt's count from message_delta", u)
	}
}

// TestAnthropicRequest checks what goes on the wire.
func TestAnthropicRequest(t *testing.T) {
	hot, cool := 1.5, 0.2
	user := func(s string) Message { return Message{Role: "user", Content: s} }
	extra := func(kv ...string) map[string]json.RawMessage {
		m := map[string]json.RawMessage{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = json.RawMessage(kv[i+1])
		}
		return m
	}
	tests := []struct {
		name     string
		o        AnthropicOptions
		req      Request
		wantBody string
	}{
		{
			name:     "minimal: max_tokens is required",
			req:      Request{Model: "claude-sonnet-4-20250514", Messages: []Message{user("Hi")}},
			wantBody: `{"model":"claude-sonnet-4-20250514","messages":[{"role":"user","content":"Hi"}],"max_tokens":4096,"stream":true}`,
		},
		{
			name: "system lifted out, roles and prefill kept",
			req: Request{Model: "m", MaxTokens: 64, Temperature: &cool, Messages: []Message{
				{Role: "system", Content: "Be brief."}, user("Hi"), {Role: "developer", Content: "Use French."},
				user("Again"), {Role: "assistant", Content: "Bon"}}},
			wantBody: `{"model":"m","system":"Be brief.\n\nUse French.","messages":[{"role":"user","content":"Hi"},{"role":"user","content":"Again"},{"role":"assistant","content":"Bon"}],"max_tokens":64,"temperature":0.2,"stream":true}`,
		},
		{
			name:     "temperature clamped to Anthropic's maximum",
			req:      Request{Model: "m", Temperature: &hot, Messages: []Message{user("Hi")}},
			wantBody: `{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":4096,"temperature":1,"stream":true}`,
		},
		{
			name: "parameters mapped, the others dropped",
			req: Request{Model: "m", Messages: []Message{user("Hi")}, Extra: extra(
				"top_p", `0.9`, "top_k", `40`, "stop", `"\n\n"`,
				"seed", `7`, "response_format", `{"type":"json_object"}`, "presence_penalty", `0.5`), User: "u-42"},
			wantBody: `{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":4096,"top_p":0.9,"top_k":40,"stop_sequences":["\n\n"],"metadata":{"user_id":"u-42"},"stream":true}`,
		},
		{
			name: "stop as a list, metadata dropped (OpenAI's tags have no place in Anthropic's), nulls as if absent",
			req: Request{Model: "m", Messages: []Message{user("Hi")}, Extra: extra(
				"stop", `["END","STOP"]`, "metadata", `{"user_id":"u-7","team":"x"}`, "top_p", `null`)},
			wantBody: `{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":4096,"stop_sequences":["END","STOP"],"stream":true}`,
		},
		{
			name:     "the end user as metadata.user_id",
			req:      Request{Model: "m", Messages: []Message{user("Hi")}, User: "u-42"},
			wantBody: `{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":4096,"metadata":{"user_id":"u-42"},"stream":true}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type seen struct {
				method, path string
				header       http.Header
				body         []byte
			}
			got := make(chan seen, 1)
			h := func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got <- seen{r.Method, r.URL.Path, r.Header.Clone(), b}
				sseHandler(readFixture(t, "anthropic_stream_normal.txt"))(w, r)
			}
			c, _ := newAnthropicTestClient(t, http.HandlerFunc(h), tt.o)
			if _, _, err := streamOf(t, c, tt.req); err != io.EOF {
				t.Fatal(err)
			}
			r := <-got
			if r.method != http.MethodPost || r.path != "/v1/messages" {
				t.Errorf("request %s %s", r.method, r.path)
			}
			checkAnthropicHeaders(t, r.header, testKey, "2023-06-01", "text/event-stream")
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var a, b any
			if json.Unmarshal(r.body, &a) != nil || json.Unmarshal([]byte(tt.wantBody), &b) != nil ||
				fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("body\n got %s\nwant %s", r.body, tt.wantBody)
			}
		})
	}
}

// checkAnthropicHeaders checks the headers every Anthropic request carries.
func checkAnthropicHeaders(t *testing.T, h http.Header, key, version, accept string) {
	t.Helper()
	if h.Get("X-Api-Key") != key || h.Get("Anthropic-Version") != version || h.Get("Accept") != accept {
		t.Errorf("headers: x-api-key %q anthropic-version %q accept %q; want %q %q %q",
			h.Get("X-Api-Key"), h.Get("Anthropic-Version"), h.Get("Accept"), key, version, accept)
	}
	if a := h.Get("Authorization"); a != "" {
		t.Errorf("Authorization %q sent to Anthropic", a)
	}
}

// Options' Version and Header reach the wire; the caller's headers win.
func TestAnthropicRequestHeaderOptions(t *testing.T) {
	headers := make(chan http.Header, 1)
	h := func(w http.ResponseWriter, r *http.Request) {
		headers <- r.Header.Clone()
		sseHandler(readFixture(t, "anthropic_stream_normal.txt"))(w, r)
	}
	o := AnthropicOptions{Version: "2099-01-01", Header: http.Header{
		"anthropic-beta": {"interleaved-thinking-2025-05-14"}, "x-api-key": {"sk-other"}}}
	c, _ := newAnthropicTestClient(t, http.HandlerFunc(h), o)
	if _, _, err := streamAll(t, c); err != io.EOF {
		t.Fatal(err)
	}
	got := <-headers
	checkAnthropicHeaders(t, got, "sk-other", "2099-01-01", "text/event-stream")
	if b := got.Get("Anthropic-Beta"); b != "interleaved-thinking-2025-05-14" {
		t.Errorf("anthropic-beta %q", b)
	}
}

func TestAnthropicDropped(t *testing.T) {
	extra := map[string]json.RawMessage{
		"top_p": json.RawMessage(`1`), "stop": json.RawMessage(`"x"`), "seed": json.RawMessage(`1`),
		"logprobs": json.RawMessage(`true`), "metadata": json.RawMessage(`{"tag":"a"}`),
	}
	if got, want := AnthropicDropped(extra), []string{"logprobs", "metadata", "seed"}; !slices.Equal(got, want) {
		t.Errorf("AnthropicDropped = %q, want %q", got, want)
	}
	if got := AnthropicDropped(map[string]json.RawMessage{"top_k": json.RawMessage(`5`)}); len(got) != 0 {
		t.Errorf("AnthropicDropped = %q, want none", got)
	}
}

// A stop that is neither a string nor a list of strings cannot be sent.
func TestAnthropicStopShape(t *testing.T) {
	req := testRequest()
	req.Extra = map[string]json.RawMessage{"stop": json.RawMessage(`[1,2]`)}
	if _, err := encodeAnthropic(req); err == nil || !strings.Contains(err.Error(), `"stop"`) {
		t.Errorf("err = %v, want one naming stop", err)
	}
}

// anthropicErrorClasses are the classes of Anthropic's recorded error
// answers, {"type":"error","error":{"type":...,"message":...}}. The rest of
// what each must become is in the recording: its status, its message and
// its Retry-After.
var anthropicErrorClasses = map[string]Class{
	"anthropic_error_400.txt":                 ClassBadRequest,
	"anthropic_error_400_prompt_too_long.txt": ClassContextLength,
	"anthropic_error_400_credit.txt":          ClassAuth, // out of credit: the key's problem
	"anthropic_error_401.txt":                 ClassAuth,
	"anthropic_error_403.txt":                 ClassAuth,
	"anthropic_error_404.txt":                 ClassNotFound,
	"anthropic_error_413.txt":                 ClassBadRequest,
	"anthropic_error_429.txt":                 ClassRateLimited,
	"anthropic_error_500.txt":                 ClassServer,
	"anthropic_error_529.txt":                 ClassOverloaded,
}

// anthropicErrorFixtures reads what the recordings of
// anthropicErrorClasses must become.
func anthropicErrorFixtures(t *testing.T) []errorFixture {
	var fs []errorFixture
	for _, name := range slices.Sorted(maps.Keys(anthropicErrorClasses)) {
		resp, body := splitFixture(t, readFixture(t, name))
		var w struct{ Error struct{ Message string } }
		if err := json.Unmarshal(body, &w); err != nil || w.Error.Message == "" {
			t.Fatalf("%s: no error message in %s (%v)", name, body, err)
		}
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		fs = append(fs, errorFixture{name, anthropicErrorClasses[name], resp.StatusCode, time.Duration(secs) * time.Second, w.Error.Message})
	}
	// An expectation read from a recording is only as good as the
	// recording: the 429's must ask for a wait.
	if i := slices.IndexFunc(fs, func(f errorFixture) bool { return f.wantStatus == 429 }); i < 0 || fs[i].wantRetry != 18*time.Second {
		t.Fatal("the 429 recording has no Retry-After of 18 seconds")
	}
	return fs
}

// Errors inside a 200 stream have no status: their type stands for it.
func TestAnthropicErrorsInStream(t *testing.T) {
	errEvent := func(typ, msg string) string {
		return `{"type":"error","error":{"type":"` + typ + `","message":"` + msg + `"}}`
	}
	tests := []struct {
		name string
		body string
		want Class
	}{
		{"event line", anthropicEvents(aStart, aTextBlock, aText, errEvent("rate_limit_error", "slow down")), ClassRateLimited},
		{"data only", anthropicEvents(aStart) + "data: " + errEvent("api_error", "Internal server error") + "\n\n", ClassServer},
		{"context", anthropicEvents(aStart, errEvent("invalid_request_error", "prompt is too long: 200001 tokens > 200000 maximum")), ClassContextLength},
		{"bad request", anthropicEvents(aStart, errEvent("invalid_request_error", "messages: at least one message is required")), ClassBadRequest},
		{"not found", anthropicEvents(errEvent("not_found_error", "model: x")), ClassNotFound},
		{"malformed", anthropicEvents(aStart) + "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\n\n", ClassMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newAnthropicTestClient(t, sseHandler([]byte(tt.body)), AnthropicOptions{})
			_, _, err := streamAll(t, c)
			if got := classOf(t, err); got != tt.want {
				t.Fatalf("class = %v (%v), want %v", got, err, tt.want)
			}
		})
	}
}

// A server that ignores "stream": true answers with a whole message.
func TestAnthropicWholeMessage(t *testing.T) {
	c, _ := newAnthropicTestClient(t, replayHandler(t, readFixture(t, "anthropic_message_json.txt")), AnthropicOptions{})
	s, chunks, err := streamAll(t, c)
	if err != io.EOF || len(chunks) != 1 {
		t.Fatalf("%d chunks, %v; want one chunk and io.EOF", len(chunks), err)
	}
	want := Chunk{Content: "42",
		Reasoning: "6 x 7 is 42.", Signature: "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds", FinishReason: "stop"}
	got := chunks[0]
	if got.Usage == nil || *got.Usage != (Usage{PromptTokens: 15, CompletionTokens: 9, TotalTokens: 24}) {
		t.Errorf("usage %+v", got.Usage)
	}
	if got.Usage = nil; !reflect.DeepEqual(got, want) {
		t.Errorf("chunk %+v, want %+v", got, want)
	}
	if st := s.Stats(); st.OutputTokens != 9 || st.TTFT <= 0 {
		t.Errorf("stats %+v", st)
	}

	// An error as a 200 JSON body is the error.
	h := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
	}
	c, _ = newAnthropicTestClient(t, http.HandlerFunc(h), AnthropicOptions{})
	if _, _, err := streamAll(t, c); classOf(t, err) != ClassOverloaded {
		t.Fatalf("err = %v, want overloaded", err)
	}
}

func TestAnthropicFirstTokenTimeout(t *testing.T) {
	o := AnthropicOptions{FirstTokenTimeout: short, StallTimeout: long}
	// Neither the message's start, nor an empty block, nor pings are a
	// first token.
	c, _ := newAnthropicTestClient(t, writeThenBlock(anthropicEvents(aStart, aTextBlock, aPing, aPing)), o)
	s, chunks, err := streamAll(t, c)
	if got := classOf(t, err); got != ClassTimeout || len(chunks) != 0 || !strings.Contains(err.Error(), "no first token within 50ms") {
		t.Fatalf("%d chunks, class %v (%v); want none, a first-token timeout", len(chunks), got, err)
	}
	if st := s.Stats(); st.TTFT != 0 || st.Duration < short {
		t.Errorf("stats %+v", st)
	}
}

func TestAnthropicStall(t *testing.T) {
	o := AnthropicOptions{FirstTokenTimeout: long, StallTimeout: short}
	t.Run("after text", func(t *testing.T) {
		c, _ := newAnthropicTestClient(t, writeThenBlock(anthropicEvents(aStart, aTextBlock, aText)), o)
		_, chunks, err := streamAll(t, c)
		if got := classOf(t, err); got != ClassStall || len(chunks) != 1 || chunks[0].Content != "Hi" {
			t.Fatalf("chunks %+v, class %v (%v); want one chunk, then a stall", chunks, got, err)
		}
	})
	t.Run("thinking is a first token", func(t *testing.T) {
		// Uncounted, the thinking would leave the first-token limit
		// running, and it would fire after a minute.
		c, _ := newAnthropicTestClient(t, writeThenBlock(anthropicEvents(aStart, aThinking)), o)
		_, chunks, err := streamAll(t, c)
		if got := classOf(t, err); got != ClassStall || len(chunks) != 1 || chunks[0].Reasoning != "Let me think" {
			t.Fatalf("chunks %+v, class %v (%v); want the thinking, then a stall", chunks, got, err)
		}
	})
	t.Run("pings are no progress", func(t *testing.T) {
		// The server pings five times per stall limit. If pings counted,
		// the client would stay for all of them.
		const most = 40
		var sent atomic.Int32
		h := func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body) // so that the server notices a client that leaves
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, anthropicEvents(aStart, aTextBlock, aText))
			w.(http.Flusher).Flush()
			tick := time.NewTicker(short / 5)
			defer tick.Stop()
			for sent.Load() < most {
				select {
				case <-tick.C:
				case <-r.Context().Done():
					return
				}
				if _, err := io.WriteString(w, anthropicEvents(aPing)); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				sent.Add(1)
			}
			waitForClient(r)
		}
		c, _ := newAnthropicTestClient(t, http.HandlerFunc(h), o)
		_, _, err := streamAll(t, c)
		if got := classOf(t, err); got != ClassStall || sent.Load() >= most {
			t.Fatalf("class %v (%v) after %d pings; want a stall before the pings ran out", got, err, sent.Load())
		}
	})
	t.Run("silence after the stop reason", func(t *testing.T) {
		// The answer is whole once the stop reason came: waiting in vain
		// for message_stop is no failure.
		c, _ := newAnthropicTestClient(t, writeThenBlock(anthropicEvents(aStart, aTextBlock, aText, aDelta("end_turn"))), o)
		_, chunks, err := streamAll(t, c)
		if err != io.EOF || len(chunks) != 2 {
			t.Fatalf("chunks %+v, %v; want 2 and io.EOF", chunks, err)
		}
	})
}

// No error text holds the key: not the upstream's echo of it, not a base
// URL that carries it.
func TestAnthropicSecretsStayOut(t *testing.T) {
	var errs []error
	for _, f := range []string{"anthropic_error_401.txt", "anthropic_error_400.txt"} {
		raw := strings.Replace(string(readFixture(t, f)), `","message":"`, `","message":"key `+testKey+`: `, 1)
		c, _ := newAnthropicTestClient(t, replayHandler(t, []byte(raw)), AnthropicOptions{})
		_, err := c.Stream(context.Background(), testRequest())
		errs = append(errs, err)
		_, err = c.ListModels(context.Background())
		errs = append(errs, err)
	}
	for _, body := range []string{
		strings.ReplaceAll(string(readFixture(t, "anthropic_stream_error.txt")), "Overloaded", testKey),
		anthropicEvents(aStart) + "data: {\"type\":\"message_delta\"," + testKey + "\n\n",
	} {
		c, _ := newAnthropicTestClient(t, sseHandler([]byte(body)), AnthropicOptions{})
		_, _, err := streamAll(t, c)
		errs = append(errs, err)
	}
	c := NewAnthropic(AnthropicOptions{BaseURL: "http://" + closedAddr(t) + "/v1?key=" + testKey, APIKey: testKey})
	_, err := c.Stream(context.Background(), testRequest())
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("an error case succeeded")
		}
		if text := fmt.Sprintf("%v %+v %#v", err, err, AsError(err)); strings.Contains(text, testKey) {
			t.Errorf("the key leaked: %s", text)
		}
	}
}
