package sim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// OpenAI's reasoning_effort "none" turns a reasoning model's thinking off;
// any other known effort leaves it on; an unknown one is refused.
func TestReasoningEffort(t *testing.T) {
	s := startServer(t, reasoningProfile("o"), Options{})
	c := newClient(t)
	for _, tt := range []struct {
		effort   string
		thinking bool
	}{{"", true}, {"high", true}, {"minimal", true}, {"none", false}} {
		body := chatBody("hi", false)
		if tt.effort != "" {
			body["reasoning_effort"] = tt.effort
		}
		got := complete(t, c, s, body)
		answer := len(strings.Fields(got.Choices[0].Message.Content))
		want := answer
		if tt.thinking {
			want += 7
		}
		if (got.Choices[0].Message.Reasoning != "") != tt.thinking || got.Usage.CompletionTokens != want {
			t.Errorf("effort %q: reasoning %q, completion_tokens %d; want thinking %v and %d tokens",
				tt.effort, got.Choices[0].Message.Reasoning, got.Usage.CompletionTokens, tt.thinking, want)
		}
	}
	body := chatBody("hi", false)
	body["reasoning_effort"] = "extreme"
	e := expectError(t, mustPost(t, c, s.URL()+"/chat/completions", body), http.StatusBadRequest, "invalid_request_error", "invalid_value")
	if string(e.Error.Param) != `"reasoning_effort"` || !strings.Contains(e.Error.Message, "'extreme'") {
		t.Errorf("refusal = %+v", e.Error)
	}
}

// Anthropic's API thinks only when asked, and refuses what Anthropic
// refuses with thinking on.
func TestAnthropicThinkingOptions(t *testing.T) {
	s := startServer(t, reasoningProfile("anthropic"), Options{})
	c := newClient(t)
	for _, thinking := range []any{nil, map[string]any{"type": "disabled"}} {
		body := messagesBody("hi", false)
		if thinking != nil {
			body["thinking"] = thinking
		}
		if m := createMessage(t, c, s, body); len(m.Content) != 1 || m.Content[0].Type != "text" {
			t.Errorf("thinking %v: content %+v, want text alone", thinking, m.Content)
		}
	}
	if m := createMessage(t, c, s, with(thinkingBody("hi", false), "temperature", 1)); m.Content[0].Type != "thinking" {
		t.Errorf("with temperature 1: content %+v, want thinking first", m.Content)
	}
	tests := []struct {
		name string
		body map[string]any
		says string
	}{
		{"budget under the least", with(thinkingBody("hi", false), "thinking", map[string]any{"type": "enabled", "budget_tokens": 1000}),
			"thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"},
		{"budget not under max_tokens", with(thinkingBody("hi", false), "max_tokens", minThinkingBudget),
			"`max_tokens` must be greater than `thinking.budget_tokens`"},
		{"temperature", with(thinkingBody("hi", false), "temperature", 0.5),
			"`temperature` may only be set to 1 when thinking is enabled"},
		{"top_k", with(thinkingBody("hi", false), "top_k", 5), "`top_k`"},
		{"unknown type", with(messagesBody("hi", false), "thinking", map[string]any{"type": "deep"}), "thinking: Input tag 'deep'"},
		{"forced tool use", with(with(thinkingBody("hi", false), "tools", []any{map[string]any{"name": "t", "input_schema": map[string]any{}}}),
			"tool_choice", map[string]any{"type": "any"}), "Thinking may not be enabled when tool_choice forces tool use."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := expectAnthropicError(t, postMessages(t.Context(), t, c, s, tt.body, anthropicHeader("")), http.StatusBadRequest, "invalid_request_error")
			if !strings.Contains(msg, tt.says) {
				t.Errorf("message %q, want it to say %q", msg, tt.says)
			}
		})
	}
}

// with is body with key set to v.
func with(body map[string]any, key string, v any) map[string]any {
	body[key] = v
	return body
}

// Thinking sent back must carry the signature this server gave it: the
// provider's own, not another's, and not a forgery.
func TestThinkingSignature(t *testing.T) {
	s := startServer(t, reasoningProfile("anthropic"), Options{})
	other := startServer(t, reasoningProfile("elsewhere"), Options{})
	c := newClient(t)
	first := createMessage(t, c, s, thinkingBody("hi", false))
	th := first.Content[0]
	sig := *th.Signature
	if again := createMessage(t, c, s, thinkingBody("hi", false)); *again.Content[0].Signature != sig {
		t.Errorf("the same thinking was signed %q, then %q", sig, *again.Content[0].Signature)
	}
	turn := func(signature string) map[string]any {
		body := thinkingBody("", false)
		body["messages"] = []any{
			map[string]any{"role": "user", "content": "hi"},
			map[string]any{"role": "assistant", "content": []any{
				map[string]any{"type": "thinking", "thinking": *th.Thinking, "signature": signature},
				map[string]any{"type": "text", "text": *first.Content[1].Text},
			}},
			map[string]any{"role": "user", "content": "and then?"},
		}
		return body
	}
	createMessage(t, c, s, turn(sig))
	for name, tt := range map[string]struct {
		s   *Server
		sig string
	}{"forged": {s, sig[:len(sig)-4] + "AAA="}, "another provider's": {other, sig}} {
		msg := expectAnthropicError(t, postMessages(t.Context(), t, c, tt.s, turn(tt.sig), anthropicHeader("")), http.StatusBadRequest, "invalid_request_error")
		if msg != "messages.1.content.0: Invalid `signature` in `thinking` block" {
			t.Errorf("%s signature: message %q", name, msg)
		}
	}
}

// wireLogprobs mirrors OpenAI's choices[].logprobs.
type wireLogprobs struct {
	Content []struct {
		Token       string  `json:"token"`
		Logprob     float64 `json:"logprob"`
		Bytes       []byte  `json:"bytes"`
		TopLogprobs []struct {
			Token   string  `json:"token"`
			Logprob float64 `json:"logprob"`
			Bytes   []int   `json:"bytes"`
		} `json:"top_logprobs"`
	} `json:"content"`
	Refusal *string `json:"refusal"`
}

func decodeLogprobs(t *testing.T, raw json.RawMessage) wireLogprobs {
	t.Helper()
	var lp wireLogprobs
	decodeStrict(t, strings.NewReader(string(raw)), &lp)
	return lp
}

// Asked for, logprobs cover every token of the answer, whole or streamed
// (each chunk its own), the same both ways, with top_logprobs entries led
// by the token itself.
func TestLogprobs(t *testing.T) {
	s := startServer(t, fastProfile("openai"), Options{})
	c := newClient(t)
	ask := func(stream bool) map[string]any {
		return with(with(chatBody("hi", stream), "logprobs", true), "top_logprobs", 3)
	}
	whole := complete(t, c, s, ask(false))
	lp := decodeLogprobs(t, whole.Choices[0].Logprobs)
	var joined strings.Builder
	for _, e := range lp.Content {
		joined.WriteString(e.Token)
		if len(e.TopLogprobs) != 3 || e.TopLogprobs[0].Token != e.Token || e.TopLogprobs[0].Logprob != e.Logprob ||
			e.TopLogprobs[1].Logprob >= e.Logprob || string(e.Bytes) != e.Token || e.Logprob > 0 {
			t.Fatalf("entry %+v, want 3 alternatives led by the token, its bytes and a log probability", e)
		}
	}
	if joined.String() != whole.Choices[0].Message.Content {
		t.Errorf("logprob tokens make %q, want the answer %q", joined.String(), whole.Choices[0].Message.Content)
	}

	chunks := parseChunks(t, readSSE(openAIAPI.open(t.Context(), t, c, s, ask(true)).Body).data)
	var streamed []float64
	for _, ck := range chunks {
		for _, ch := range ck.Choices {
			if ch.Delta.Content == nil || *ch.Delta.Content == "" {
				continue
			}
			clp := decodeLogprobs(t, ch.Logprobs)
			var text string
			for _, e := range clp.Content {
				text += e.Token
				streamed = append(streamed, e.Logprob)
			}
			if text != *ch.Delta.Content {
				t.Errorf("chunk %q carries logprobs of %q", *ch.Delta.Content, text)
			}
		}
	}
	if len(streamed) != len(lp.Content) {
		t.Fatalf("%d streamed logprobs, %d whole", len(streamed), len(lp.Content))
	}
	for i, v := range streamed {
		if v != lp.Content[i].Logprob {
			t.Fatalf("token %d: streamed logprob %v, whole %v", i, v, lp.Content[i].Logprob)
		}
	}

	if plain := complete(t, c, s, chatBody("hi", false)); string(plain.Choices[0].Logprobs) != "null" {
		t.Errorf("logprobs not asked for = %s, want null", plain.Choices[0].Logprobs)
	}
	for name, body := range map[string]map[string]any{
		"top_logprobs without logprobs": with(chatBody("hi", false), "top_logprobs", 2),
		"top_logprobs over 20":          with(ask(false), "top_logprobs", 21),
		"top_logprobs negative":         with(ask(false), "top_logprobs", -1),
	} {
		e := expectError(t, mustPost(t, c, s.URL()+"/chat/completions", body), http.StatusBadRequest, "invalid_request_error", "")
		if string(e.Error.Param) != `"top_logprobs"` {
			t.Errorf("%s: param %s", name, e.Error.Param)
		}
	}

	// Anthropic's API has no logprobs, and refuses fields it does not know.
	msg := expectAnthropicError(t, postMessages(t.Context(), t, c, s, with(messagesBody("hi", false), "logprobs", true), anthropicHeader("")),
		http.StatusBadRequest, "invalid_request_error")
	if msg != "logprobs: Extra inputs are not permitted" {
		t.Errorf("message %q", msg)
	}
}
