package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// anthropicHeader is what an Anthropic client sends: the version, and the
// key when there is one.
func anthropicHeader(key string) http.Header {
	h := http.Header{"Anthropic-Version": {"2023-06-01"}}
	if key != "" {
		h.Set("x-api-key", key)
	}
	return h
}

// messagesBody is a minimal valid Messages API request, changed by the
// caller as needed. max_tokens is above any answer's length.
func messagesBody(prompt string, stream bool) map[string]any {
	return map[string]any{
		"model":      testModel,
		"max_tokens": 1024,
		"messages":   []map[string]any{{"role": "user", "content": prompt}},
		"stream":     stream,
	}
}

var anthropicAPI = api{path: "/messages", body: func(stream bool) map[string]any { return messagesBody("hi", stream) },
	header: anthropicHeader("")}

// postMessages posts to /v1/messages and fails the test if no answer comes.
func postMessages(ctx context.Context, t *testing.T, c *http.Client, s *Server, body any, h http.Header) *http.Response {
	t.Helper()
	resp, err := postWith(ctx, t, c, s.URL()+"/messages", body, h)
	if err != nil {
		t.Fatalf("POST /v1/messages: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// The mirrors of Anthropic's wire format below name only the fields whose
// JSON name is not their Go name: encoding/json matches the others without
// regard to case, and DisallowUnknownFields still refuses strays.

// wireAnthropicMessage mirrors an Anthropic message, whole or in
// message_start.
type wireAnthropicMessage struct {
	ID, Type, Role, Model string
	Content               []wireBlock
	StopReason            *string         `json:"stop_reason"`
	StopSequence          json.RawMessage `json:"stop_sequence"`
	Usage                 wireAnthropicUsage
}

// wireBlock mirrors a content block (text, or thinking with its signature)
// and the deltas that fill one.
type wireBlock struct {
	Type                      string
	Text, Thinking, Signature *string
	ID, Name                  string          // tool_use
	Input                     json.RawMessage // tool_use
	PartialJSON               *string         `json:"partial_json"` // input_json_delta
}

type wireAnthropicUsage struct {
	InputTokens          *int `json:"input_tokens"`
	CacheReadInputTokens int  `json:"cache_read_input_tokens"` // a prefix the server saw before
	OutputTokens         int  `json:"output_tokens"`
}

// wireEvent mirrors every streamed event; which fields each type carries
// is checked by eventShape and the tests.
type wireEvent struct {
	Type         string
	Message      *wireAnthropicMessage
	Index        *int
	ContentBlock *wireBlock `json:"content_block"`
	Delta        *struct {
		wireBlock
		StopReason   *string         `json:"stop_reason"`
		StopSequence json.RawMessage `json:"stop_sequence"`
	}
	Usage *wireAnthropicUsage
}

// wireAnthropicError mirrors Anthropic's error body.
type wireAnthropicError struct {
	Type  string
	Error struct{ Type, Message string }
}

// expectAnthropicError checks the status and the error body, and returns
// the message.
func expectAnthropicError(t *testing.T, resp *http.Response, status int, typ string) string {
	t.Helper()
	defer resp.Body.Close()
	expectAnswer(t, resp, status, "application/json")
	var e wireAnthropicError
	decodeStrict(t, resp.Body, &e)
	if e.Type != "error" || e.Error.Type != typ || e.Error.Message == "" {
		t.Errorf("error = %+v, want type error, error.type %q and a message", e, typ)
	}
	return e.Error.Message
}

// createMessage posts a non-streaming request that must succeed.
func createMessage(t *testing.T, c *http.Client, s *Server, body any) wireAnthropicMessage {
	t.Helper()
	resp := postMessages(t.Context(), t, c, s, body, anthropicHeader(""))
	expectAnswer(t, resp, http.StatusOK, "application/json")
	var m wireAnthropicMessage
	decodeStrict(t, resp.Body, &m)
	return m
}

// parseEvents pairs every event line with the data line after it and
// decodes the data strictly; the event's name must be its data's type.
func parseEvents(t *testing.T, got sseRead) []wireEvent {
	t.Helper()
	if len(got.comments) > 0 || len(got.other) > 0 {
		t.Errorf("lines that are not Anthropic events: comments %q, other %q", got.comments, got.other)
	}
	for i := 0; i+1 < len(got.order); i += 2 {
		if got.order[i] != "event" || got.order[i+1] != "data" {
			t.Fatalf("line %d and %d are %q and %q, want an event line, then its data", i, i+1, got.order[i], got.order[i+1])
		}
	}
	if len(got.events) != len(got.data) {
		t.Fatalf("%d event lines for %d data lines", len(got.events), len(got.data))
	}
	evs := make([]wireEvent, len(got.data))
	for i, d := range got.data {
		decodeStrict(t, strings.NewReader(d), &evs[i])
		if evs[i].Type != got.events[i] {
			t.Errorf("event %d is named %q but its data has type %q", i, got.events[i], evs[i].Type)
		}
	}
	return evs
}

// eventShape sums a stream up as one line per event ("content_block_delta
// 0 text_delta"), runs of the same line folded into one ending in "+".
func eventShape(evs []wireEvent) []string {
	var out []string
	for _, e := range evs {
		line := e.Type
		if e.Index != nil {
			line += fmt.Sprint(" ", *e.Index)
		}
		switch {
		case e.ContentBlock != nil:
			line += " " + e.ContentBlock.Type
		case e.Delta != nil && e.Delta.Type != "":
			line += " " + e.Delta.Type
		}
		if n := len(out); n > 0 && strings.TrimSuffix(out[n-1], "+") == line {
			out[n-1] = line + "+"
			continue
		}
		out = append(out, line)
	}
	return out
}

// streamed is what a stream said, put back together.
type streamed struct {
	text, thinking, signature string
	deltas                    []string // the text of each text_delta
	stop                      *wireEvent
}

func reassemble(evs []wireEvent) streamed {
	var s streamed
	for i, e := range evs {
		switch {
		case e.Delta == nil:
		case e.Delta.Text != nil:
			s.text += *e.Delta.Text
			s.deltas = append(s.deltas, *e.Delta.Text)
		case e.Delta.Thinking != nil:
			s.thinking += *e.Delta.Thinking
		case e.Delta.Signature != nil:
			s.signature = *e.Delta.Signature
		case e.Type == "message_delta":
			s.stop = &evs[i]
		}
	}
	return s
}

func TestAnthropicMessageShape(t *testing.T) {
	clock := newFakeClock()
	s := startServer(t, fastProfile("anthropic"), Options{Now: clock.Now})
	c := newClient(t)

	const system, prompt = "You are terse.", "Explain routing in two sentences."
	body := messagesBody("", false)
	body["system"] = system
	body["messages"] = []map[string]any{{"role": "user", "content": []map[string]any{{"type": "text", "text": prompt}}}}
	// Fields the simulator does not act on are still accepted.
	body["temperature"], body["top_p"], body["top_k"] = 0.5, 0.9, 40
	body["stop_sequences"], body["metadata"] = []string{"\n\nHuman:"}, map[string]any{"user_id": "u-1"}
	got := createMessage(t, c, s, body)

	if !strings.HasPrefix(got.ID, "msg_01") || got.Type != "message" || got.Role != "assistant" || got.Model != testModel {
		t.Errorf("id, type, role, model = %q, %q, %q, %q", got.ID, got.Type, got.Role, got.Model)
	}
	if got.StopReason == nil || *got.StopReason != "end_turn" || string(got.StopSequence) != "null" {
		t.Errorf("stop_reason %v, stop_sequence %s; want end_turn and null", got.StopReason, got.StopSequence)
	}
	if len(got.Content) != 1 || got.Content[0].Type != "text" || got.Content[0].Text == nil ||
		got.Content[0].Thinking != nil || got.Content[0].Signature != nil {
		t.Fatalf("content = %+v, want one text block", got.Content)
	}
	text := *got.Content[0].Text
	if !sampleText("anthropic", text) {
		t.Errorf("text does not read as anthropic's sample text: %q", text)
	}
	if u := got.Usage; u.InputTokens == nil || u.OutputTokens != len(strings.Fields(text)) {
		t.Errorf("usage = %+v for %d words", u, len(strings.Fields(text)))
	}

	// A system prompt given as text blocks is the same prompt.
	body["system"] = []map[string]any{{"type": "text", "text": system}}
	if again := createMessage(t, c, s, body); *again.Content[0].Text != text || again.ID == got.ID {
		t.Errorf("system as blocks: %q (id %s), want %q under a new id", *again.Content[0].Text, again.ID, text)
	}

	// The same conversation through the OpenAI API gets the same words and
	// the same prompt tokens.
	oai := chatBody(prompt, false)
	oai["messages"] = []map[string]any{{"role": "system", "content": system}, {"role": "user", "content": prompt}}
	o := complete(t, c, s, oai)
	if o.Choices[0].Message.Content != text || o.Usage.PromptTokens != *got.Usage.InputTokens {
		t.Errorf("OpenAI answer %q with %d prompt tokens; Anthropic %q with %d input tokens",
			o.Choices[0].Message.Content, o.Usage.PromptTokens, text, *got.Usage.InputTokens)
	}
}

func TestAnthropicStreamShape(t *testing.T) {
	tests := []struct {
		name      string
		maxTokens int
		stop      string
	}{
		{"end turn", 1024, "end_turn"},
		{"max tokens", 3, "max_tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, fastProfile("anthropic"), Options{})
			c := newClient(t)
			body := messagesBody("Explain routing in two sentences.", true)
			body["max_tokens"] = tt.maxTokens

			got := readSSE(anthropicAPI.open(t.Context(), t, c, s, body).Body)
			if got.err != nil {
				t.Fatalf("stream ended with %v", got.err)
			}
			evs := parseEvents(t, got)
			want := []string{"message_start", "content_block_start 0 text", "ping", "content_block_delta 0 text_delta+",
				"content_block_stop 0", "message_delta", "message_stop"}
			if shape := eventShape(evs); !slices.Equal(shape, want) {
				t.Fatalf("events:\n%q\nwant\n%q", shape, want)
			}

			start := evs[0].Message
			if start == nil || !strings.HasPrefix(start.ID, "msg_01") || start.Type != "message" || start.Role != "assistant" ||
				start.Model != testModel || start.Content == nil || len(start.Content) != 0 || start.StopReason != nil ||
				string(start.StopSequence) != "null" || start.Usage.InputTokens == nil {
				t.Errorf("message_start = %+v, want an empty message with its input tokens", start)
			}
			if b := evs[1].ContentBlock; b.Text == nil || *b.Text != "" || b.Thinking != nil || b.Signature != nil {
				t.Errorf("content_block_start = %+v, want an empty text block", b)
			}

			st := reassemble(evs)
			d := st.stop
			if d.Delta.StopReason == nil || *d.Delta.StopReason != tt.stop || string(d.Delta.StopSequence) != "null" ||
				d.Usage == nil || d.Usage.InputTokens != nil || d.Usage.OutputTokens != len(strings.Fields(st.text)) {
				t.Errorf("message_delta = %+v, usage %+v; want stop %s and the output tokens only", d.Delta, d.Usage, tt.stop)
			}

			// The same request without streaming carries the same words.
			body["stream"] = false
			whole := createMessage(t, c, s, body)
			if *whole.Content[0].Text != st.text || *whole.StopReason != tt.stop ||
				*whole.Usage.InputTokens != *start.Usage.InputTokens || whole.Usage.OutputTokens != d.Usage.OutputTokens {
				t.Errorf("JSON answer %q (%s, %+v) differs from the stream %q", *whole.Content[0].Text, *whole.StopReason, whole.Usage, st.text)
			}
			if stats := s.Stats(); stats.OK != 2 || stats.Requests != 2 {
				t.Errorf("stats = %+v, want 2 ok", stats)
			}
		})
	}
}

// thinkingBody is a request with thinking enabled, on the least budget.
func thinkingBody(prompt string, stream bool) map[string]any {
	body := messagesBody(prompt, stream)
	body["max_tokens"] = 2048
	body["thinking"] = map[string]any{"type": "enabled", "budget_tokens": minThinkingBudget}
	return body
}

// A reasoning model asked to think thinks first: a thinking block, signed,
// then the text block; both count in output_tokens, and a JSON answer
// carries both.
func TestAnthropicThinking(t *testing.T) {
	s := startServer(t, reasoningProfile("anthropic"), Options{})
	c := newClient(t)

	evs := parseEvents(t, readSSE(anthropicAPI.open(t.Context(), t, c, s, thinkingBody("hi", true)).Body))
	want := []string{"message_start", "content_block_start 0 thinking", "content_block_delta 0 thinking_delta+",
		"content_block_delta 0 signature_delta", "content_block_stop 0", "content_block_start 1 text", "ping",
		"content_block_delta 1 text_delta+", "content_block_stop 1", "message_delta", "message_stop"}
	if shape := eventShape(evs); !slices.Equal(shape, want) {
		t.Fatalf("events:\n%q\nwant\n%q", shape, want)
	}
	if b := evs[1].ContentBlock; b.Thinking == nil || *b.Thinking != "" || b.Text != nil {
		t.Errorf("thinking content_block_start = %+v, want an empty thinking block", b)
	}
	st := reassemble(evs)
	thinking, answer := len(strings.Fields(st.thinking)), len(strings.Fields(st.text))
	if thinking != 7 || answer < minAnswerTokens || st.signature == "" {
		t.Errorf("%d thinking tokens, %d of answer, signature %q; want 7, at least %d, and a signature",
			thinking, answer, st.signature, minAnswerTokens)
	}
	if out := st.stop.Usage.OutputTokens; out != 7+answer {
		t.Errorf("output_tokens = %d, want %d", out, 7+answer)
	}

	whole := createMessage(t, c, s, thinkingBody("hi", false))
	if len(whole.Content) != 2 {
		t.Fatalf("content = %+v, want a thinking block and a text block", whole.Content)
	}
	th, tx := whole.Content[0], whole.Content[1]
	if th.Type != "thinking" || th.Thinking == nil || *th.Thinking != st.thinking || th.Signature == nil ||
		*th.Signature != st.signature || th.Text != nil {
		t.Errorf("thinking block = %+v, want the streamed thinking %q signed %q", th, st.thinking, st.signature)
	}
	if tx.Type != "text" || tx.Text == nil || *tx.Text != st.text || whole.Usage.OutputTokens != 7+answer {
		t.Errorf("text block = %+v, usage %+v; want the streamed text", tx, whole.Usage)
	}
}

func TestAnthropicStreamPacing(t *testing.T) {
	testPacing(t, anthropicAPI, func(t *testing.T, got sseRead) (sizes []int) {
		for _, d := range reassemble(parseEvents(t, got)).deltas {
			sizes = append(sizes, len(strings.Fields(d)))
		}
		return sizes
	})
}

func TestAnthropicErrorStatuses(t *testing.T) {
	tests := []struct {
		status int
		typ    string
	}{
		{400, "invalid_request_error"},
		{401, "authentication_error"},
		{402, "billing_error"},
		{403, "permission_error"},
		{404, "not_found_error"},
		{413, "request_too_large"},
		{418, "invalid_request_error"},
		{429, "rate_limit_error"},
		{500, "api_error"},
		{502, "api_error"},
		{503, "api_error"},
		{529, "overloaded_error"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			p := fastProfile("anthropic")
			p.ErrorRate = 1
			p.ErrorStatuses = []int{tt.status}
			s := startServer(t, p, Options{})
			c := newClient(t)
			for _, stream := range []bool{false, true} {
				expectAnthropicError(t, postMessages(t.Context(), t, c, s, messagesBody("hi", stream), anthropicHeader("")), tt.status, tt.typ)
			}
		})
	}

	t.Run("rate limited", func(t *testing.T) {
		p := fastProfile("anthropic")
		p.RateLimitRate = 1
		p.RetryAfter = 2500 * time.Millisecond
		s := startServer(t, p, Options{})
		resp := postMessages(t.Context(), t, newClient(t), s, messagesBody("hi", true), anthropicHeader(""))
		if ra := resp.Header.Get("retry-after"); ra != "3" {
			t.Errorf("retry-after = %q, want 3 (whole seconds, rounded up)", ra)
		}
		expectAnthropicError(t, resp, http.StatusTooManyRequests, "rate_limit_error")
		if st := s.Stats(); st.RateLimited != 1 {
			t.Errorf("stats = %+v, want 1 rate limited", st)
		}
	})
}

func TestAnthropicBadRequests(t *testing.T) {
	s := startServer(t, fastProfile("anthropic"), Options{})
	c := newClient(t)
	const model = `"model":"` + testModel + `"`
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	valid := `{` + model + `,"max_tokens":64,` + msgs
	tests := []struct {
		name, body string
		header     http.Header
		status     int
		typ, says  string // the error's type, and what its message must name
	}{
		{"missing max_tokens", `{` + model + `,` + msgs + `}`, nil, 400, "invalid_request_error", "max_tokens: Field required"},
		{"zero max_tokens", `{` + model + `,"max_tokens":0,` + msgs + `}`, nil, 400, "invalid_request_error", "max_tokens: Input should be greater than or equal to 1"},
		{"missing anthropic-version", valid + `}`, http.Header{}, 400, "invalid_request_error", "anthropic-version: header is required"},
		{"system role", `{` + model + `,"max_tokens":64,"messages":[{"role":"system","content":"hi"}]}`, nil, 400, "invalid_request_error", `Unexpected role "system"`},
		{"bad role", `{` + model + `,"max_tokens":64,"messages":[{"role":"robot","content":"hi"}]}`, nil, 400, "invalid_request_error", "messages.0.role"},
		{"extra field", valid + `,"frequency_penalty":1}`, nil, 400, "invalid_request_error", "frequency_penalty: Extra inputs are not permitted"},
		{"not json", `{"model":`, nil, 400, "invalid_request_error", "JSON"},
		{"not an object", `[]`, nil, 400, "invalid_request_error", "JSON object"},
		{"trailing data", valid + `} {}`, nil, 400, "invalid_request_error", "extra data"},
		{"missing model", `{"max_tokens":64,` + msgs + `}`, nil, 400, "invalid_request_error", "model: Field required"},
		{"missing messages", `{` + model + `,"max_tokens":64}`, nil, 400, "invalid_request_error", "messages: Field required"},
		{"empty messages", `{` + model + `,"max_tokens":64,"messages":[]}`, nil, 400, "invalid_request_error", "at least one message"},
		{"null content", `{` + model + `,"max_tokens":64,"messages":[{"role":"user","content":null}]}`, nil, 400, "invalid_request_error", "messages.0.content: Field required"},
		{"bad content", `{` + model + `,"max_tokens":64,"messages":[{"role":"user","content":42}]}`, nil, 400, "invalid_request_error", "messages.0.content"},
		{"bad system", valid + `,"system":5}`, nil, 400, "invalid_request_error", "system:"},
		{"wrong type", valid + `,"stream":"yes"}`, nil, 400, "invalid_request_error", "stream: Input should be a valid boolean"},
		{"unknown model", `{"model":"gpt-9","max_tokens":64,` + msgs + `}`, nil, 404, "not_found_error", "gpt-9"},
		{"metadata not an object", valid + `,"metadata":"u-1"}`, nil, 400, "invalid_request_error", "metadata: Input should be a valid dictionary"},
		{"user_id not a string", valid + `,"metadata":{"user_id":7}}`, nil, 400, "invalid_request_error", "metadata.user_id: Input should be a valid string"},
		{"metadata with more", valid + `,"metadata":{"user_id":"u-1","tenant":"x"}}`, nil, 400, "invalid_request_error", "metadata.tenant: Extra inputs are not permitted"},
		{"user_id too long", valid + `,"metadata":{"user_id":"` + strings.Repeat("é", maxUserID+1) + `"}}`, nil, 400, "invalid_request_error", "metadata.user_id: String should have at most 256 characters"},
		{"too large", valid + `,"metadata":{"user_id":"` + strings.Repeat("x", maxBodyBytes) + `"}}`, nil, 413, "request_too_large", "maximum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = anthropicHeader("")
			}
			msg := expectAnthropicError(t, postMessages(t.Context(), t, c, s, tt.body, h), tt.status, tt.typ)
			if !strings.Contains(msg, tt.says) {
				t.Errorf("message %q does not say %q", msg, tt.says)
			}
		})
	}
	if st := s.Stats(); st.Rejected != uint64(len(tests)) || st.Requests != uint64(len(tests)) {
		t.Errorf("stats = %+v, want %d rejected requests", st, len(tests))
	}
	// The valid body the rows break is itself fine, and so is metadata that
	// is null or has a null user_id, or one of exactly 256 characters.
	createMessage(t, c, s, valid+`}`)
	for _, meta := range []string{`null`, `{}`, `{"user_id":null}`, `{"user_id":"` + strings.Repeat("é", maxUserID) + `"}`} {
		createMessage(t, c, s, valid+`,"metadata":`+meta+`}`)
	}
}

// A request over its model's context is refused in Anthropic's words: a
// prompt over the limit on its own is "too long", one that fits but not
// with its max_tokens gets the sum. The limit is the model's: another model
// of the same provider takes the same prompt.
func TestAnthropicContextLength(t *testing.T) {
	p := fastProfile("anthropic")
	p.ContextLengths = map[string]int{testModel: 200}
	s := startServer(t, p, Options{})
	c := newClient(t)
	// A prompt of n words is n+6 tokens: 3 for the conversation, 3 for the message.
	ask := func(model string, words, maxTokens int, stream bool) map[string]any {
		b := messagesBody(strings.TrimSpace(strings.Repeat("word ", words)), stream)
		b["model"], b["max_tokens"] = model, maxTokens
		return b
	}
	for _, tt := range []struct {
		name string
		body map[string]any
		says string
	}{
		{"prompt too long", ask(testModel, 200, 64, false), "prompt is too long: 206 tokens > 200 maximum"},
		{"prompt too long, streamed", ask(testModel, 200, 64, true), "prompt is too long: 206 tokens > 200 maximum"},
		{"with max_tokens", ask(testModel, 100, 150, false),
			"input length and `max_tokens` exceed context limit: 106 + 150 > 200, decrease input length or `max_tokens` and try again"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msg := expectAnthropicError(t, postMessages(t.Context(), t, c, s, tt.body, anthropicHeader("")),
				http.StatusBadRequest, "invalid_request_error")
			if msg != tt.says {
				t.Errorf("message %q, want %q", msg, tt.says)
			}
		})
	}
	createMessage(t, c, s, ask(testModel, 100, 94, false))
	createMessage(t, c, s, ask("llama-3.1-8b-instruct", 200, 64, false))
	if st := s.Stats(); st.Rejected != 3 || st.OK != 2 {
		t.Errorf("stats = %+v, want 3 rejected and 2 answered", st)
	}
}

func TestAnthropicAPIKey(t *testing.T) {
	p := fastProfile("anthropic")
	p.APIKey = "sk-ant-sim-secret"
	s := startServer(t, p, Options{})
	c := newClient(t)

	tests := []struct {
		name   string
		header http.Header
		says   string // "" for a success
	}{
		{"no key", anthropicHeader(""), "x-api-key header is required"},
		{"wrong key", anthropicHeader("sk-ant-wrong"), "invalid x-api-key"},
		{"bearer instead", func() http.Header {
			h := anthropicHeader("")
			h.Set("Authorization", "Bearer "+p.APIKey)
			return h
		}(), "x-api-key header is required"},
		{"right key", anthropicHeader(p.APIKey), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, get := range []bool{false, true} {
				var resp *http.Response
				if get {
					resp = mustGetWith(t, c, s.URL()+"/models", tt.header)
				} else {
					resp = postMessages(t.Context(), t, c, s, messagesBody("hi", false), tt.header)
				}
				if tt.says == "" {
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						t.Errorf("with the key: status %d, want 200", resp.StatusCode)
					}
					continue
				}
				msg := expectAnthropicError(t, resp, http.StatusUnauthorized, "authentication_error")
				if msg != tt.says || strings.Contains(msg, p.APIKey) {
					t.Errorf("message %q, want %q and never the key", msg, tt.says)
				}
			}
		})
	}
}

func TestAnthropicCut(t *testing.T) {
	testCut(t, anthropicAPI, func(t *testing.T, got sseRead) {
		evs := parseEvents(t, got)
		if slices.Contains(got.events, "message_stop") || slices.Contains(got.events, "message_delta") {
			t.Errorf("a cut stream finished: %q", eventShape(evs))
		}
		if reassemble(evs).text == "" {
			t.Error("the stream was cut before any text; want a cut mid-answer")
		}
	})
}

func TestAnthropicStall(t *testing.T) {
	testStall(t, anthropicAPI, func(t *testing.T, got sseRead) {
		evs := parseEvents(t, got)
		if reassemble(evs).text == "" {
			t.Error("the stream stalled before any text; want a stall mid-answer")
		}
		// Silent means silent: no ping, no stop, after the last text.
		if shape := eventShape(evs); !strings.HasPrefix(shape[len(shape)-1], "content_block_delta 0 text_delta") {
			t.Errorf("a stalled stream went on after its text: %q", shape)
		}
	})
}

// TestAnthropicModes forces faults through the control API, as the
// dashboard does. Down is 529 overloaded_error: Anthropic's way of being
// unable to serve.
func TestAnthropicModes(t *testing.T) {
	p := fastProfile("anthropic")
	p.RetryAfter = time.Second
	s := startServer(t, p, Options{})
	c := newClient(t)
	for _, tt := range []struct {
		mode   string
		status int
		typ    string
	}{
		{"down", 529, "overloaded_error"},
		{"rate_limited", http.StatusTooManyRequests, "rate_limit_error"},
		{"normal", http.StatusOK, ""},
	} {
		resp := mustPost(t, c, s.ControlURL()+"/mode", map[string]string{"mode": tt.mode})
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || s.Mode().String() != tt.mode {
			t.Fatalf("POST mode %s: status %d, mode now %v", tt.mode, resp.StatusCode, s.Mode())
		}
		for _, stream := range []bool{false, true} {
			resp := postMessages(t.Context(), t, c, s, messagesBody("hi", stream), anthropicHeader(""))
			if tt.status == http.StatusOK {
				if got := drain(resp); got != http.StatusOK {
					t.Errorf("mode %s: status %d, want 200", tt.mode, got)
				}
				continue
			}
			if tt.status == http.StatusTooManyRequests && resp.Header.Get("retry-after") != "1" {
				t.Errorf("mode %s: retry-after %q, want 1", tt.mode, resp.Header.Get("retry-after"))
			}
			expectAnthropicError(t, resp, tt.status, tt.typ)
		}
	}
	if st := s.Stats(); st.Unavailable != 2 || st.RateLimited != 2 || st.OK != 2 {
		t.Errorf("stats = %+v, want 2 unavailable, 2 rate limited, 2 ok", st)
	}

	// A scripted outage looks the same, model list included.
	clock := newFakeClock()
	p.Outages = []Outage{{Offset: time.Minute, For: time.Minute}}
	out := startServer(t, p, Options{Now: clock.Now})
	clock.Advance(90 * time.Second)
	expectAnthropicError(t, postMessages(t.Context(), t, c, out, messagesBody("hi", false), anthropicHeader("")), 529, "overloaded_error")
	expectAnthropicError(t, mustGetWith(t, c, out.URL()+"/models", anthropicHeader("")), 529, "overloaded_error")
}

// While the first token is due, the stream pings every KeepAlive; then the
// only ping is the one after the text block opens.
func TestAnthropicPingKeepAlive(t *testing.T) {
	p := fastProfile("anthropic")
	p.TTFT = Latency{P50: 80 * time.Millisecond, P95: 80 * time.Millisecond}
	s := startServer(t, p, Options{KeepAlive: 5 * time.Millisecond})

	got := readSSE(anthropicAPI.open(t.Context(), t, newClient(t), s, messagesBody("hi", true)).Body)
	if got.err != nil {
		t.Fatal(got.err)
	}
	parseEvents(t, got)
	start := slices.Index(got.events, "message_start")
	if start < 1 || slices.ContainsFunc(got.events[:start], func(e string) bool { return e != "ping" }) {
		t.Fatalf("want pings, then message_start; got %q", got.events[:max(start, 0)])
	}
	after := got.events[start:]
	if n := len(slices.DeleteFunc(slices.Clone(after), func(e string) bool { return e != "ping" })); n != 1 {
		t.Errorf("%d pings after message_start, want the one after the text block opens", n)
	}
}

func TestAnthropicModelsList(t *testing.T) {
	clock := newFakeClock()
	p := fastProfile("anthropic")
	s := startServer(t, p, Options{Now: clock.Now})
	c := newClient(t)

	resp := mustGetWith(t, c, s.URL()+"/models", anthropicHeader(""))
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	var list struct {
		Data []struct {
			Type        string `json:"type"`
			ID          string `json:"id"`
			DisplayName string `json:"display_name"`
			CreatedAt   string `json:"created_at"`
		} `json:"data"`
		HasMore bool    `json:"has_more"`
		FirstID *string `json:"first_id"`
		LastID  *string `json:"last_id"`
	}
	decodeStrict(t, resp.Body, &list)
	if len(list.Data) != len(p.Models) || list.HasMore || list.FirstID == nil || *list.FirstID != p.Models[0] ||
		list.LastID == nil || *list.LastID != p.Models[len(p.Models)-1] {
		t.Fatalf("list = %+v, want one page of %d models", list, len(p.Models))
	}
	for i, m := range list.Data {
		if m.Type != "model" || m.ID != p.Models[i] || m.CreatedAt != clock.Now().Format(time.RFC3339) {
			t.Errorf("model %d = %+v", i, m)
		}
	}
	if got := list.Data[0].DisplayName; got != "Llama 3.3 70b Instruct" {
		t.Errorf("display_name = %q", got)
	}

	// Routes of their own answer in Anthropic's shape too.
	resp = mustGetWith(t, c, s.URL()+"/messages", anthropicHeader(""))
	if allow := resp.Header.Get("Allow"); allow != "POST" {
		t.Errorf("Allow = %q, want POST", allow)
	}
	expectAnthropicError(t, resp, http.StatusMethodNotAllowed, "invalid_request_error")
	expectAnthropicError(t, mustGetWith(t, c, s.URL()+"/complete", anthropicHeader("")), http.StatusNotFound, "not_found_error")
}
