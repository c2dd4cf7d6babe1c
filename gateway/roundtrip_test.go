package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"switchboard/sim"
)

// A tool loop as a client runs it, in either API, through the gateway to a
// simulated upstream speaking either protocol: the translation both ways,
// proven on the wire of both sides. Turn one offers get_weather and gets a
// call whose arguments follow the tool's schema; turn two sends the call
// back with its result and gets an answer that read the result.

// turnOutcome is what one turn came to, whatever the API.
type turnOutcome struct {
	calls    []seenCall // in order
	text     string
	finish   string // in the API's words
	provider string
	prompt   int // the prompt's tokens, as the answer's usage says
}

type seenCall struct {
	id, name string
	args     map[string]any
}

// weatherSchema is get_weather's parameters.
var weatherSchema = map[string]any{"type": "object", "required": []string{"city"},
	"properties": map[string]any{"city": map[string]any{"type": "string"}, "days": map[string]any{"type": "integer"}}}

// openAITurn sends a chat request of msgs offering get_weather.
func openAITurn(t *testing.T, f *fixture, stream bool, msgs []map[string]any) turnOutcome {
	t.Helper()
	resp, body := f.post(t, "/v1/chat/completions", map[string]any{"model": testModel, "stream": stream, "max_tokens": 200,
		"messages": msgs, "tools": []map[string]any{{"type": "function", "function": map[string]any{"name": "get_weather",
			"description": "The weather in a city.", "parameters": weatherSchema}}}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	type call struct {
		Index    int    `json:"index"`
		ID       string `json:"id"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	}
	type answer struct {
		Provider string `json:"provider"`
		Choices  []struct {
			Message, Delta struct {
				Content   *string `json:"content"`
				ToolCalls []call  `json:"tool_calls"`
			}
			FinishReason *string `json:"finish_reason"`
		} `json:"choices"`
		Usage *struct {
			PromptTokens int `json:"prompt_tokens"`
		} `json:"usage"`
	}
	var out turnOutcome
	var calls []call
	add := func(a answer) {
		out.provider = a.Provider
		if a.Usage != nil {
			out.prompt = a.Usage.PromptTokens
		}
		for _, ch := range a.Choices {
			for _, m := range []struct {
				Content   *string `json:"content"`
				ToolCalls []call  `json:"tool_calls"`
			}{ch.Message, ch.Delta} {
				if m.Content != nil {
					out.text += *m.Content
				}
				for i, c := range m.ToolCalls {
					if !stream {
						c.Index = i
					}
					// A stream's pieces join by index, as the SDKs join them.
					if c.Index == len(calls) {
						calls = append(calls, call{Index: c.Index})
					}
					if c.Index >= len(calls) {
						t.Fatalf("a piece of call %d before call %d began: %s", c.Index, len(calls), body)
					}
					calls[c.Index].ID += c.ID
					calls[c.Index].Function.Name += c.Function.Name
					calls[c.Index].Function.Arguments += c.Function.Arguments
				}
			}
			if ch.FinishReason != nil {
				out.finish = *ch.FinishReason
			}
		}
	}
	if !stream {
		var a answer
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		add(a)
	} else {
		data, _ := events(t, body)
		for _, d := range data {
			if d == "[DONE]" {
				continue
			}
			var a answer
			if err := json.Unmarshal([]byte(d), &a); err != nil {
				t.Fatalf("%v: %s", err, d)
			}
			add(a)
		}
	}
	for _, c := range calls {
		u := seenCall{id: c.ID, name: c.Function.Name}
		if err := json.Unmarshal([]byte(c.Function.Arguments), &u.args); err != nil {
			t.Fatalf("the arguments %q are not a JSON object: %v", c.Function.Arguments, err)
		}
		out.calls = append(out.calls, u)
	}
	return out
}

// anthropicTurn sends a Messages request of msgs offering get_weather.
func anthropicTurn(t *testing.T, f *fixture, stream bool, msgs []map[string]any) turnOutcome {
	t.Helper()
	resp, body := f.post(t, "/v1/messages", map[string]any{"model": testModel, "stream": stream, "max_tokens": 200,
		"messages": msgs, "tools": []map[string]any{{"name": "get_weather", "description": "The weather in a city.",
			"input_schema": weatherSchema}}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	type message struct {
		Provider string `json:"provider"`
		Content  []struct {
			Type  string         `json:"type"`
			Text  string         `json:"text"`
			ID    string         `json:"id"`
			Name  string         `json:"name"`
			Input map[string]any `json:"input"`
		} `json:"content"`
		StopReason string `json:"stop_reason"`
		Usage      struct {
			InputTokens int `json:"input_tokens"`
		} `json:"usage"`
	}
	var m message
	if !stream {
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
	} else {
		evs := splitEvents(t, string(body))
		if err := json.Unmarshal([]byte(accumulate(t, evs)), &m.Content); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		var start struct {
			Message message `json:"message"`
		}
		_ = json.Unmarshal([]byte(evs[0][strings.Index(evs[0], "{"):]), &start)
		last := evs[len(evs)-2] // message_delta, before message_stop
		var d struct {
			Delta struct {
				StopReason string `json:"stop_reason"`
			} `json:"delta"`
			Usage struct {
				InputTokens int `json:"input_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal([]byte(last[strings.Index(last, "{"):]), &d); err != nil {
			t.Fatalf("%v: %s", err, last)
		}
		m.Provider, m.StopReason, m.Usage.InputTokens = start.Message.Provider, d.Delta.StopReason, d.Usage.InputTokens
	}
	out := turnOutcome{finish: m.StopReason, provider: m.Provider, prompt: m.Usage.InputTokens}
	for _, b := range m.Content {
		switch b.Type {
		case "text":
			out.text += b.Text
		case "tool_use":
			out.calls = append(out.calls, seenCall{id: b.ID, name: b.Name, args: b.Input})
		}
	}
	return out
}

func TestToolLoopAcrossProtocols(t *testing.T) {
	for _, upstreamAnthropic := range []bool{false, true} {
		f := newFixture(t, Options{}, map[string]upstream{"up": {profile: &sim.Profile{}, price: 1, anthropic: upstreamAnthropic}})
		for _, clientAnthropic := range []bool{false, true} {
			for _, stream := range []bool{false, true} {
				name := fmt.Sprintf("%s client, %s upstream, stream %v", api(clientAnthropic), api(upstreamAnthropic), stream)
				t.Run(name, func(t *testing.T) {
					before := f.sims["up"].Stats().OK
					ask := map[string]any{"role": "user", "content": "What is the weather in Oslo?"}
					turn, callFinish, stopFinish := openAITurn, "tool_calls", "stop"
					if clientAnthropic {
						turn, callFinish, stopFinish = anthropicTurn, "tool_use", "end_turn"
					}
					first := turn(t, f, stream, []map[string]any{ask})
					if len(first.calls) != 1 || first.calls[0].name != "get_weather" || first.calls[0].id == "" || first.finish != callFinish {
						t.Fatalf("turn one: %+v, want one call of get_weather and finish %s", first, callFinish)
					}
					if city, ok := first.calls[0].args["city"].(string); !ok || city == "" {
						t.Errorf("the call's arguments %v have no city, which the schema requires", first.calls[0].args)
					}
					if first.provider != "up" || first.prompt <= 0 {
						t.Errorf("turn one served by %q with %d prompt tokens", first.provider, first.prompt)
					}
					c := first.calls[0]
					var history []map[string]any
					if clientAnthropic {
						history = []map[string]any{ask,
							{"role": "assistant", "content": []map[string]any{{"type": "tool_use", "id": c.id, "name": c.name, "input": c.args}}},
							{"role": "user", "content": []map[string]any{{"type": "tool_result", "tool_use_id": c.id, "content": "4 degrees and clear skies"}}}}
					} else {
						args, _ := json.Marshal(c.args)
						history = []map[string]any{ask,
							{"role": "assistant", "content": nil, "tool_calls": []map[string]any{{"id": c.id, "type": "function",
								"function": map[string]any{"name": c.name, "arguments": string(args)}}}},
							{"role": "tool", "tool_call_id": c.id, "content": "4 degrees and clear skies"}}
					}
					second := turn(t, f, stream, history)
					if len(second.calls) != 0 || !strings.Contains(second.text, "get_weather tool returned: 4 degrees and clear skies") ||
						second.finish != stopFinish && !(second.finish == "length" || second.finish == "max_tokens") {
						t.Errorf("turn two: %+v, want text using the tool's result", second)
					}
					// Both turns reached the upstream and were answered in
					// full: had it refused the translated history (a
					// result without its call), the turn would have failed.
					if got := f.sims["up"].Stats().OK - before; got != 2 {
						t.Errorf("the upstream answered %d requests in full, want 2", got)
					}
				})
			}
		}
	}
}

func api(anthropic bool) string {
	if anthropic {
		return "anthropic"
	}
	return "openai"
}

// An image goes through in either API to either protocol, as a data URL
// or Anthropic's base64 block, to an upstream that takes images (the
// simulator says how many it saw); thinking asked for in either API's
// words comes back in the other's, and Anthropic's signed thinking goes
// back to an Anthropic upstream with its signature whole, which the
// upstream checks, on the turn after a tool call.
func TestImagesAndThinkingAcrossProtocols(t *testing.T) {
	const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
	for _, upstreamAnthropic := range []bool{false, true} {
		f := newFixture(t, Options{}, map[string]upstream{"up": {profile: &sim.Profile{ReasoningTokens: 12}, price: 1,
			anthropic: upstreamAnthropic, images: true}})
		t.Run("openai client, "+api(upstreamAnthropic)+" upstream", func(t *testing.T) {
			resp, body := f.post(t, "/v1/chat/completions", map[string]any{"model": testModel, "max_tokens": 300,
				"reasoning": map[string]any{"max_tokens": 2048},
				"messages": []map[string]any{{"role": "user", "content": []map[string]any{{"type": "text", "text": "What is this?"},
					{"type": "image_url", "image_url": map[string]any{"url": "data:image/png;base64," + png}}}}}})
			var a struct {
				Choices []struct {
					Message struct {
						Content   string `json:"content"`
						Reasoning string `json:"reasoning"`
					} `json:"message"`
				} `json:"choices"`
			}
			if err := json.Unmarshal(body, &a); err != nil || resp.StatusCode != 200 || len(a.Choices) != 1 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if m := a.Choices[0].Message; !strings.HasPrefix(m.Content, "I see 1 image") || m.Reasoning == "" {
				t.Errorf("answer %q with thinking %q, want it to see the image, after thinking", m.Content, m.Reasoning)
			}
		})
		t.Run("anthropic client, "+api(upstreamAnthropic)+" upstream", func(t *testing.T) {
			turn := func(stream bool, msgs ...map[string]any) (*http.Response, []byte) {
				return f.post(t, "/v1/messages", map[string]any{"model": testModel, "max_tokens": 3000, "stream": stream,
					"thinking": map[string]any{"type": "enabled", "budget_tokens": 1024}, "messages": msgs,
					"tools": []map[string]any{{"name": "get_weather", "input_schema": weatherSchema}}})
			}
			ask := map[string]any{"role": "user", "content": []map[string]any{{"type": "text", "text": "Is it sunny where this was taken?"},
				{"type": "image", "source": map[string]any{"type": "base64", "media_type": "image/png", "data": png}}}}
			for _, stream := range []bool{false, true} {
				resp, body := turn(stream, ask)
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				if stream {
					body = []byte(accumulate(t, splitEvents(t, string(body))))
				} else {
					var m struct {
						Content json.RawMessage `json:"content"`
					}
					_ = json.Unmarshal(body, &m)
					body = m.Content
				}
				var blocks []map[string]any
				if err := json.Unmarshal(body, &blocks); err != nil || len(blocks) != 2 || blocks[0]["type"] != "thinking" ||
					blocks[0]["thinking"] == "" || blocks[1]["type"] != "tool_use" {
					t.Fatalf("stream %v: content %s, want thinking then a tool call", stream, body)
				}
				if sig, _ := blocks[0]["signature"].(string); upstreamAnthropic && sig == "" {
					t.Errorf("stream %v: the thinking from an Anthropic upstream lost its signature: %s", stream, body)
				}
				// The next turn hands the thinking back as it came, with
				// the call's result; an Anthropic upstream refuses a
				// thinking block whose signature is not its own.
				call := blocks[1]
				resp, body = turn(false, ask, map[string]any{"role": "assistant", "content": blocks},
					map[string]any{"role": "user", "content": []map[string]any{{"type": "tool_result", "tool_use_id": call["id"], "content": "sunny"}}})
				if resp.StatusCode != 200 || !strings.Contains(string(body), "get_weather tool returned: sunny") {
					t.Errorf("stream %v: the turn after the call: status %d: %s", stream, resp.StatusCode, body)
				}
			}
		})
	}
}

// Log probabilities come back from an upstream that gives them, whole and
// streamed, one for each token of the content (the tokens spell it), with
// the alternatives asked for; where no endpoint of the model lists
// logprobs, the request is a 400 that says so and no upstream is asked.
func TestLogprobsComeBack(t *testing.T) {
	f := newFixture(t, Options{}, map[string]upstream{"up": {profile: &sim.Profile{}, price: 1, params: []string{"logprobs", "top_logprobs"}}})
	ask := func(stream bool) map[string]any {
		b := chatBody(stream)
		b["logprobs"], b["top_logprobs"] = true, 2
		return b
	}
	type logprobs struct {
		Content []struct {
			Token       string            `json:"token"`
			TopLogprobs []json.RawMessage `json:"top_logprobs"`
		} `json:"content"`
	}
	type answer struct {
		Choices []struct {
			Message, Delta struct {
				Content string `json:"content"`
			}
			Logprobs *logprobs `json:"logprobs"`
		} `json:"choices"`
	}
	for _, stream := range []bool{false, true} {
		resp, body := f.post(t, "/v1/chat/completions", ask(stream))
		var docs []string
		if stream {
			data, _ := events(t, body)
			docs = data[:len(data)-1] // without [DONE]
		} else {
			docs = []string{string(body)}
		}
		var content, tokens strings.Builder
		n := 0
		for _, d := range docs {
			var a answer
			if err := json.Unmarshal([]byte(d), &a); err != nil {
				t.Fatalf("%v: %s", err, d)
			}
			for _, ch := range a.Choices {
				content.WriteString(ch.Message.Content + ch.Delta.Content)
				if ch.Logprobs == nil {
					continue
				}
				for _, lp := range ch.Logprobs.Content {
					tokens.WriteString(lp.Token)
					if len(lp.TopLogprobs) != 2 {
						t.Errorf("token %q has %d alternatives, want 2", lp.Token, len(lp.TopLogprobs))
					}
					n++
				}
			}
		}
		if resp.StatusCode != 200 || n == 0 || tokens.String() != content.String() {
			t.Errorf("stream %v: status %d, %d tokens spelling %q; content %q", stream, resp.StatusCode, n, tokens.String(), content.String())
		}
	}

	plain := newFixture(t, Options{}, map[string]upstream{"up": {profile: &sim.Profile{}, price: 1}})
	resp, body := plain.post(t, "/v1/chat/completions", ask(false))
	e := decodeError(t, resp, body, http.StatusBadRequest)
	if e.Error.Param == nil || *e.Error.Param != "logprobs" || !strings.Contains(e.Error.Message, "gives log probabilities") ||
		plain.sims["up"].Stats().Requests != 0 {
		t.Errorf("without an endpoint that gives them: %s; the upstream got %d requests", body, plain.sims["up"].Stats().Requests)
	}
}
