package sim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// wireCompletion mirrors an OpenAI chat.completion.
type wireCompletion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role      string         `json:"role"`
			Content   string         `json:"content"` // null (for a call) reads as ""
			Reasoning string         `json:"reasoning"`
			ToolCalls []wireToolCall `json:"tool_calls"`
		} `json:"message"`
		Logprobs     json.RawMessage `json:"logprobs"`
		FinishReason string          `json:"finish_reason"`
	} `json:"choices"`
	Usage *wireUsage `json:"usage"`
}

// wireToolCall mirrors an OpenAI tool call, whole or a piece of one.
type wireToolCall struct {
	Index    *int   `json:"index"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string  `json:"name"`
		Arguments *string `json:"arguments"`
	} `json:"function"`
}

// complete posts a non-streaming request that must succeed.
func complete(t *testing.T, c *http.Client, s *Server, body any) wireCompletion {
	t.Helper()
	resp := mustPost(t, c, s.URL()+"/chat/completions", body)
	defer resp.Body.Close()
	expectAnswer(t, resp, http.StatusOK, "application/json")
	var out wireCompletion
	decodeStrict(t, resp.Body, &out)
	return out
}

// sampleText reports whether text reads as the simulator's sample answer
// from provider: the opening that says what it is, then sentences of one
// space between words, the last one closed.
func sampleText(provider, text string) bool {
	return strings.HasPrefix(text, "This is a simulated answer from "+provider+", standing in for ") &&
		strings.Contains(text, ". It is sample text, not a model's reply to the prompt.") &&
		strings.HasSuffix(text, ".") && !strings.Contains(text, "  ")
}

func TestChatCompletionShape(t *testing.T) {
	clock := newFakeClock()
	s := startServer(t, fastProfile("groq"), Options{Now: clock.Now})
	c := newClient(t)

	body := chatBody("Explain routing in two sentences.", false)
	body["messages"] = []map[string]any{
		{"role": "system", "content": "You are terse."},
		{"role": "user", "content": []map[string]any{{"type": "text", "text": "Explain routing in two sentences."}}},
	}
	got := complete(t, c, s, body)

	if !strings.HasPrefix(got.ID, "chatcmpl-") {
		t.Errorf("id = %q, want a chatcmpl- prefix", got.ID)
	}
	if got.Object != "chat.completion" || got.Model != testModel || got.Created != clock.Now().Unix() {
		t.Errorf("object, model, created = %q, %q, %d", got.Object, got.Model, got.Created)
	}
	if len(got.Choices) != 1 {
		t.Fatalf("got %d choices, want 1", len(got.Choices))
	}
	ch := got.Choices[0]
	if ch.Index != 0 || ch.Message.Role != "assistant" || ch.FinishReason != "stop" {
		t.Errorf("choice = index %d, role %q, finish %q", ch.Index, ch.Message.Role, ch.FinishReason)
	}
	if !sampleText("groq", ch.Message.Content) {
		t.Errorf("content does not read as groq's sample text: %q", ch.Message.Content)
	}
	words := len(strings.Fields(ch.Message.Content))
	if words < minAnswerTokens || words > maxAnswerTokens {
		t.Errorf("answer has %d words, want %d..%d", words, minAnswerTokens, maxAnswerTokens)
	}
	u := got.Usage
	if u == nil || u.CompletionTokens != words || u.PromptTokens < 7 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("usage = %+v for %d words", u, words)
	}
}

func TestMaxTokensEndsWithLength(t *testing.T) {
	s := startServer(t, fastProfile("groq"), Options{})
	c := newClient(t)
	for _, field := range []string{"max_tokens", "max_completion_tokens"} {
		t.Run(field, func(t *testing.T) {
			body := chatBody("hi", false)
			body[field] = 5
			got := complete(t, c, s, body)
			if f := got.Choices[0].FinishReason; f != "length" {
				t.Errorf("finish_reason = %q, want length", f)
			}
			if n := len(strings.Fields(got.Choices[0].Message.Content)); n != 5 || got.Usage.CompletionTokens != 5 {
				t.Errorf("got %d words and %d completion tokens, want 5", n, got.Usage.CompletionTokens)
			}
		})
	}
}

func TestSameSeedSameText(t *testing.T) {
	a := startServer(t, fastProfile("a"), Options{})
	b := startServer(t, fastProfile("a"), Options{}) // the same profile served again
	other := fastProfile("a")
	other.Seed = 7
	c := startServer(t, other, Options{})
	cl := newClient(t)

	text := func(s *Server, prompt string) string {
		return complete(t, cl, s, chatBody(prompt, false)).Choices[0].Message.Content
	}
	first := text(a, "What is a breaker?")
	if again := text(a, "What is a breaker?"); again != first {
		t.Errorf("same server, same request: %q then %q", first, again)
	}
	if other := text(b, "What is a breaker?"); other != first {
		t.Errorf("same profile on another server: %q, want %q", other, first)
	}
	if diff := text(a, "What is a window?"); diff == first {
		t.Errorf("a different prompt gave the same text %q", diff)
	}
	if diff := text(c, "What is a breaker?"); diff == first {
		t.Errorf("a different seed gave the same text %q", diff)
	}
}

func TestBadRequests(t *testing.T) {
	s := startServer(t, fastProfile("groq"), Options{})
	c := newClient(t)
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name, body string
		param      string // "" for null
	}{
		{"not json", `{"model":`, ""},
		{"trailing data", `{"model":"` + testModel + `",` + msgs + `} {}`, ""},
		{"missing model", `{` + msgs + `}`, "model"},
		{"missing messages", `{"model":"` + testModel + `"}`, "messages"},
		{"null messages", `{"model":"` + testModel + `","messages":null}`, "messages"},
		{"empty messages", `{"model":"` + testModel + `","messages":[]}`, "messages"},
		{"messages not an array", `{"model":"` + testModel + `","messages":"hi"}`, "messages"},
		{"bad role", `{"model":"` + testModel + `","messages":[{"role":"robot","content":"hi"}]}`, "messages"},
		{"bad content", `{"model":"` + testModel + `","messages":[{"role":"user","content":42}]}`, "messages"},
		{"zero max_tokens", `{"model":"` + testModel + `",` + msgs + `,"max_tokens":0}`, "max_tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := mustPost(t, c, s.URL()+"/chat/completions", tt.body)
			e := expectError(t, resp, http.StatusBadRequest, "invalid_request_error", "")
			want := "null"
			if tt.param != "" {
				want = `"` + tt.param + `"`
			}
			if string(e.Error.Param) != want {
				t.Errorf("param = %s, want %s", e.Error.Param, want)
			}
		})
	}
	if st := s.Stats(); st.Rejected != uint64(len(tests)) || st.Requests != uint64(len(tests)) {
		t.Errorf("stats = %+v, want %d rejected requests", st, len(tests))
	}
}

func TestUnknownModelIs404(t *testing.T) {
	s := startServer(t, fastProfile("groq"), Options{})
	c := newClient(t)
	body := chatBody("hi", true)
	body["model"] = "gpt-9"
	resp := mustPost(t, c, s.URL()+"/chat/completions", body)
	e := expectError(t, resp, http.StatusNotFound, "invalid_request_error", "model_not_found")
	if !strings.Contains(e.Error.Message, "gpt-9") {
		t.Errorf("message %q does not name the model", e.Error.Message)
	}
}

func TestAPIKey(t *testing.T) {
	p := fastProfile("groq")
	p.APIKey = "sk-sim-secret"
	s := startServer(t, p, Options{})
	c := newClient(t)

	for _, auth := range []string{"", "Bearer wrong", "sk-sim-secret"} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+"/chat/completions",
			strings.NewReader(`{"model":"`+testModel+`","messages":[{"role":"user","content":"hi"}]}`))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		e := expectError(t, resp, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key")
		if strings.Contains(e.Error.Message, p.APIKey) {
			t.Errorf("the error text leaks the key: %q", e.Error.Message)
		}
	}

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL()+"/models", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	expectError(t, resp, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key")

	req, _ = http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL()+"/models", nil)
	req.Header.Set("Authorization", "Bearer "+p.APIKey)
	if resp, err = c.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("with the key: status %d, want 200", resp.StatusCode)
	}
}

// A request over its model's context is refused as OpenAI refuses it, with
// the tokens counted out. The limit is the model's: another model of the
// same provider, under the provider-wide default, takes a prompt this one
// refuses.
func TestContextLengthExceeded(t *testing.T) {
	p := fastProfile("small")
	p.ContextLengths = map[string]int{testModel: 20}
	p.ContextLength = 30
	srv := startServer(t, p, Options{})
	c := newClient(t)
	// A prompt of n words is n+6 tokens: 3 for the conversation, 3 for the message.
	ask := func(model string, words, maxTokens int, stream bool) map[string]any {
		b := chatBody(strings.TrimSpace(strings.Repeat("word ", words)), stream)
		b["model"] = model
		if maxTokens > 0 {
			b["max_tokens"] = maxTokens
		}
		return b
	}
	for _, tt := range []struct {
		name string
		body map[string]any
		says string
	}{
		{"messages alone", ask(testModel, 30, 0, false),
			"This model's maximum context length is 20 tokens. However, your messages resulted in 36 tokens. Please reduce the length of the messages."},
		{"messages alone, streamed", ask(testModel, 30, 0, true), "your messages resulted in 36 tokens"},
		{"with max_tokens", ask(testModel, 10, 5, false),
			"This model's maximum context length is 20 tokens. However, you requested 21 tokens (16 in the messages, 5 in the completion). Please reduce the length of the messages or completion."},
		{"another model, over the default", ask("llama-3.1-8b-instruct", 30, 0, false), "maximum context length is 30 tokens"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := expectError(t, mustPost(t, c, srv.URL()+"/chat/completions", tt.body),
				http.StatusBadRequest, "invalid_request_error", "context_length_exceeded")
			if !strings.Contains(e.Error.Message, tt.says) {
				t.Errorf("message %q does not say %q", e.Error.Message, tt.says)
			}
			if string(e.Error.Param) != `"messages"` {
				t.Errorf("param %s, want \"messages\"", e.Error.Param)
			}
		})
	}
	for _, body := range []map[string]any{ask(testModel, 10, 4, false), ask("llama-3.1-8b-instruct", 20, 0, false)} {
		if st := drain(mustPost(t, c, srv.URL()+"/chat/completions", body)); st != http.StatusOK {
			t.Errorf("%s with %v: status %d, want 200", body["model"], body["messages"], st)
		}
	}
}

// The end user a request names, each API in its own field, is what
// Stats.LastUser reports, so a client's test can see it arrive; the next
// request without one clears it, and a refused one leaves it.
func TestLastUser(t *testing.T) {
	for _, tt := range []struct {
		name string
		api  api
		user func(body map[string]any, id any)
	}{
		{"openai", openAIAPI, func(b map[string]any, id any) { b["user"] = id }},
		{"anthropic", anthropicAPI, func(b map[string]any, id any) { b["metadata"] = map[string]any{"user_id": id} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, fastProfile("users"), Options{})
			c := newClient(t)
			send := func(id any) int {
				b := tt.api.body(false)
				if id != nil {
					tt.user(b, id)
				}
				resp, err := tt.api.post(t.Context(), t, c, s, b)
				if err != nil {
					t.Fatal(err)
				}
				return drain(resp)
			}
			if st := send("user-7f3a"); st != http.StatusOK || s.Stats().LastUser != "user-7f3a" {
				t.Errorf("status %d, last user %q; want 200 and user-7f3a", st, s.Stats().LastUser)
			}
			if st := send(42); st != http.StatusBadRequest || s.Stats().LastUser != "user-7f3a" {
				t.Errorf("a user id that is a number: status %d, last user %q; want 400 and the last good one", st, s.Stats().LastUser)
			}
			if st := send(nil); st != http.StatusOK || s.Stats().LastUser != "" {
				t.Errorf("no user: status %d, last user %q; want 200 and none", st, s.Stats().LastUser)
			}
		})
	}
}

// A user that is not a string is refused in OpenAI's words, naming its type
// rather than repeating it.
func TestUserMustBeAString(t *testing.T) {
	s := startServer(t, fastProfile("users"), Options{})
	b := chatBody("hi", false)
	b["user"] = map[string]any{"id": 1}
	e := expectError(t, mustPost(t, newClient(t), s.URL()+"/chat/completions", b), http.StatusBadRequest, "invalid_request_error", "")
	if want := "Invalid type for 'user': expected a string, but got an object instead."; e.Error.Message != want || string(e.Error.Param) != `"user"` {
		t.Errorf("error %+v, want %q about param user", e.Error, want)
	}
}
