package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// These tests drive the gateway with programs written against the real
// SDKs, not our own client code: openai-go here, and the openai and
// @anthropic-ai/sdk npm packages in scripts/sdk. Each runs a whole tool
// loop (a question with a tool, the tool call, its result, the final
// answer), streaming and not, pinned once to each of two simulated
// providers, one speaking OpenAI's protocol and one Anthropic's, so that
// both directions of translation are crossed by a real client.

// sdkModel is the one model of sdkConfig.
const sdkModel = "test/agent"

// sdkProviders are sdkConfig's providers: the first speaks OpenAI's
// protocol upstream, the second Anthropic's.
var sdkProviders = []string{"sim-openai", "sim-anthropic"}

// sdkProfile makes a simulated provider answer at once and never fail on
// its own, so that a tool loop is deterministic.
const sdkProfile = `[provider.sim]
ttft = { p50 = "1ms", p95 = "2ms" }
tokens_per_second = 20000
error_rate = 0
rate_limit_rate = 0
cut_rate = 0
stall_rate = 0
slow_start_rate = 0
silent_close_rate = 0
malformed_rate = 0
`

// sdkConfig is sdkModel served by both sdkProviders, each endpoint
// declaring tools as OpenRouter's endpoints do.
var sdkConfig = fmt.Sprintf(`
[[provider]]
name = %[1]q
protocol = "openai"
%[3]s
[[provider]]
name = %[2]q
protocol = "anthropic"
%[3]s
[[model]]
name = %[4]q
[[model.endpoint]]
provider = %[1]q
price_in = 1
price_out = 1
supported_parameters = ["max_tokens", "tools", "tool_choice"]
[[model.endpoint]]
provider = %[2]q
price_in = 1
price_out = 1
supported_parameters = ["max_tokens", "tools", "tool_choice"]
`, sdkProviders[0], sdkProviders[1], sdkProfile, sdkModel)

// serveSDK runs switchboard serve on sdkConfig and returns the API's base
// URL, ending in /v1.
func serveSDK(t *testing.T) string {
	t.Helper()
	base, _ := serveConfigForTest(t, sdkConfig, "--listen", "127.0.0.1:0")
	return base
}

// weatherProperties and weatherRequired make up the get_weather tool's
// parameters, weatherSchema: both properties required, one an enum,
// nothing else allowed, so that a call built from the schema can be
// checked against it exactly.
var (
	weatherProperties = map[string]any{
		"city": map[string]any{"type": "string", "description": "The city, e.g. Lisbon"},
		"unit": map[string]any{"type": "string", "enum": []string{"celsius", "fahrenheit"}},
	}
	weatherRequired = []string{"city", "unit"}
	weatherSchema   = map[string]any{"type": "object", "properties": weatherProperties, "required": weatherRequired, "additionalProperties": false}
)

// weatherDescription describes get_weather.
const weatherDescription = "The current weather in a city."

// weatherArgs are get_weather's arguments.
type weatherArgs struct {
	City *string `json:"city"`
	Unit *string `json:"unit"`
}

// checkWeatherArgs reads a get_weather call's arguments, and says how they
// do not match weatherSchema.
func checkWeatherArgs(arguments string) (weatherArgs, error) {
	var a weatherArgs
	dec := json.NewDecoder(strings.NewReader(arguments))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return a, fmt.Errorf("arguments %s are not an object of get_weather's schema: %w", arguments, err)
	}
	if dec.More() {
		return a, fmt.Errorf("arguments %s have more than one JSON value", arguments)
	}
	switch {
	case a.City == nil || a.Unit == nil:
		return a, fmt.Errorf("arguments %s lack a required property (city, unit)", arguments)
	case *a.City == "":
		return a, fmt.Errorf("arguments %s have an empty city", arguments)
	case *a.Unit != "celsius" && *a.Unit != "fahrenheit":
		return a, fmt.Errorf("arguments %s have unit %q, not one of the enum celsius, fahrenheit", arguments, *a.Unit)
	}
	return a, nil
}

// weatherReport is what the tool answers for a: a result the final answer
// can be checked to use.
func weatherReport(a weatherArgs) string {
	b, _ := json.Marshal(map[string]any{"city": *a.City, "temperature": 21, "unit": *a.Unit, "conditions": "sunny"})
	return string(b)
}

// weatherQuestion starts every loop.
const weatherQuestion = "What is the weather in Lisbon right now? Use the get_weather tool."

// openaiTurn is one answer of the chat completions API, as openai-go gives
// it, and who served it.
type openaiTurn struct {
	message  openai.ChatCompletionMessage
	finish   string
	provider string
}

// openaiLoop runs the tool loop with openai-go, pinned to one provider.
type openaiLoop struct {
	client openai.Client
	pin    string
	stream bool
}

// turn asks the gateway once, streaming or not, with the get_weather tool
// and the provider pinned with OpenRouter's provider.only (not a field of
// the SDK's params, so set as an extra JSON field).
func (l openaiLoop) turn(ctx context.Context, t *testing.T, messages []openai.ChatCompletionMessageParamUnion) openaiTurn {
	t.Helper()
	params := openai.ChatCompletionNewParams{
		Model:               sdkModel,
		Messages:            messages,
		MaxCompletionTokens: openai.Int(200),
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name:        "get_weather",
			Description: openai.String(weatherDescription),
			Parameters:  weatherSchema,
		})},
	}
	var resp *http.Response
	opts := []option.RequestOption{
		option.WithJSONSet("provider", map[string]any{"only": []string{l.pin}}),
		option.WithResponseInto(&resp),
	}
	if !l.stream {
		c, err := l.client.Chat.Completions.New(ctx, params, opts...)
		if err != nil {
			t.Fatalf("pinned to %s: %v", l.pin, err)
		}
		if len(c.Choices) != 1 {
			t.Fatalf("%d choices in %s", len(c.Choices), c.RawJSON())
		}
		return openaiTurn{c.Choices[0].Message, c.Choices[0].FinishReason, servedBy(t, resp, namedProvider(t, c.JSON.ExtraFields))}
	}
	s := l.client.Chat.Completions.NewStreaming(ctx, params, opts...)
	defer s.Close()
	var acc openai.ChatCompletionAccumulator
	var named []string // each chunk's provider, in order
	for s.Next() {
		chunk := s.Current()
		if !acc.AddChunk(chunk) {
			t.Fatalf("the SDK's accumulator refused chunk %s", chunk.RawJSON())
		}
		named = append(named, servedBy(t, resp, namedProvider(t, chunk.JSON.ExtraFields)))
	}
	if err := s.Err(); err != nil {
		t.Fatalf("pinned to %s, streaming: %v", l.pin, err)
	}
	if len(named) == 0 || len(acc.Choices) != 1 {
		t.Fatalf("%d chunks, %d choices accumulated", len(named), len(acc.Choices))
	}
	return openaiTurn{acc.Choices[0].Message, acc.Choices[0].FinishReason, named[0]}
}

// namedProvider is the provider field among an answer's (or a chunk's)
// fields that the SDK does not know, which both SDKs keep as raw JSON.
func namedProvider[F interface{ Raw() string }](t *testing.T, fields map[string]F) string {
	t.Helper()
	var name string
	if f, ok := fields["provider"]; !ok || json.Unmarshal([]byte(f.Raw()), &name) != nil {
		t.Fatalf("the answer has no provider field (extra fields %v)", fields)
	}
	return name
}

// servedBy is the provider an answer names, which must agree with the
// X-Switchboard-Provider header and be one of sdkProviders.
func servedBy(t *testing.T, resp *http.Response, named string) string {
	t.Helper()
	if resp == nil {
		t.Fatal("the SDK gave no HTTP response")
	}
	if h := resp.Header.Get("X-Switchboard-Provider"); h != named {
		t.Fatalf("the answer names provider %q but X-Switchboard-Provider says %q", named, h)
	}
	if !slices.Contains(sdkProviders, named) {
		t.Fatalf("served by %q, which is not one of the configured %q", named, sdkProviders)
	}
	return named
}

// shown is m as it goes back to the API, for a failure's message (a
// streamed message, put together by the accumulator, has no raw JSON).
func shown(m openai.ChatCompletionMessage) string {
	b, err := json.Marshal(m.ToParam())
	if err != nil {
		return fmt.Sprintf("%+v", m)
	}
	return string(b)
}

// openai-go runs a whole tool loop through the gateway, streaming and not,
// with each upstream protocol: a tool call matching the tool's schema,
// then, given the result, a final answer; each turn served by the provider
// it was pinned to.
func TestOpenAIGoToolLoop(t *testing.T) {
	base := serveSDK(t)
	client := openai.NewClient(
		option.WithBaseURL(base+"/"),
		option.WithAPIKey("sk-test-sdk"),
		option.WithMaxRetries(0), // a failure is a finding, not something to retry past
	)
	for _, pin := range sdkProviders {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", pin, stream), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
				defer cancel()
				l := openaiLoop{client, pin, stream}

				messages := []openai.ChatCompletionMessageParamUnion{openai.UserMessage(weatherQuestion)}
				first := l.turn(ctx, t, messages)
				if first.provider != pin {
					t.Fatalf("turn 1 pinned to %s was served by %s", pin, first.provider)
				}
				calls := first.message.ToolCalls
				if first.finish != "tool_calls" || len(calls) != 1 {
					t.Fatalf("turn 1: finish_reason %q and %d tool calls, want tool_calls and one: %s", first.finish, len(calls), shown(first.message))
				}
				call := calls[0]
				if call.Type != "function" || call.Function.Name != "get_weather" || call.ID == "" {
					t.Fatalf("turn 1 called %q (type %q, id %q), want a function call of get_weather with an id", call.Function.Name, call.Type, call.ID)
				}
				args, err := checkWeatherArgs(call.Function.Arguments)
				if err != nil {
					t.Fatalf("turn 1: %v", err)
				}
				t.Logf("turn 1 served by %s: get_weather(%s)", first.provider, call.Function.Arguments)

				report := weatherReport(args)
				messages = append(messages, first.message.ToParam(), openai.ToolMessage(report, call.ID))
				final := l.turn(ctx, t, messages)
				if final.provider != pin {
					t.Fatalf("turn 2 pinned to %s was served by %s", pin, final.provider)
				}
				if final.finish != "stop" || len(final.message.ToolCalls) != 0 || strings.TrimSpace(final.message.Content) == "" {
					t.Fatalf("turn 2: finish_reason %q, %d tool calls, want a final text answer: %s", final.finish, len(final.message.ToolCalls), shown(final.message))
				}
				// The simulated model quotes the tool's result: the sign that
				// it reached the upstream in the upstream's own words.
				if !strings.Contains(final.message.Content, "sunny") {
					t.Fatalf("turn 2's answer does not use the tool's result %s: %q", report, final.message.Content)
				}
				t.Logf("turn 2 served by %s: %q", final.provider, final.message.Content)
			})
		}
	}
}

// anthropicLoop runs the tool loop with anthropic-sdk-go against
// /v1/messages, pinned to one provider.
type anthropicLoop struct {
	client anthropic.Client
	pin    string
	stream bool
}

// turn asks the gateway once, streaming (with the SDK's Accumulate) or not,
// with the get_weather tool and the provider pinned as openaiLoop's is, and
// returns the message and who served it. A streamed message's provider
// comes from message_start, whose message Accumulate starts from.
func (l anthropicLoop) turn(ctx context.Context, t *testing.T, messages []anthropic.MessageParam) (anthropic.Message, string) {
	t.Helper()
	params := anthropic.MessageNewParams{
		Model:     sdkModel,
		MaxTokens: 200,
		Messages:  messages,
		Tools: []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{
			Name:        "get_weather",
			Description: anthropic.String(weatherDescription),
			InputSchema: anthropic.ToolInputSchemaParam{Properties: weatherProperties, Required: weatherRequired,
				ExtraFields: map[string]any{"additionalProperties": false}},
		}}},
	}
	var resp *http.Response
	opts := []aoption.RequestOption{
		aoption.WithJSONSet("provider", map[string]any{"only": []string{l.pin}}),
		aoption.WithResponseInto(&resp),
	}
	if !l.stream {
		m, err := l.client.Messages.New(ctx, params, opts...)
		if err != nil {
			t.Fatalf("pinned to %s: %v", l.pin, err)
		}
		return *m, servedBy(t, resp, namedProvider(t, m.JSON.ExtraFields))
	}
	s := l.client.Messages.NewStreaming(ctx, params, opts...)
	defer s.Close()
	var m anthropic.Message
	for s.Next() {
		if err := m.Accumulate(s.Current()); err != nil {
			t.Fatalf("the SDK could not accumulate event %s: %v", s.Current().RawJSON(), err)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("pinned to %s, streaming: %v", l.pin, err)
	}
	return m, servedBy(t, resp, namedProvider(t, m.JSON.ExtraFields))
}

// blocksOf is m's content blocks of one type.
func blocksOf(m anthropic.Message, typ string) []anthropic.ContentBlockUnion {
	var out []anthropic.ContentBlockUnion
	for _, b := range m.Content {
		if b.Type == typ {
			out = append(out, b)
		}
	}
	return out
}

// anthropic-sdk-go runs the same tool loop through /v1/messages: a tool_use
// block matching the tool's schema, then, given its tool_result, a final
// answer; each turn served by the provider it was pinned to.
func TestAnthropicGoToolLoop(t *testing.T) {
	root := strings.TrimSuffix(serveSDK(t), "/v1")
	client := anthropic.NewClient(
		aoption.WithBaseURL(root+"/"),
		aoption.WithAPIKey("sk-test-sdk"),
		aoption.WithMaxRetries(0),
	)
	for _, pin := range sdkProviders {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", pin, stream), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
				defer cancel()
				l := anthropicLoop{client, pin, stream}

				messages := []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(weatherQuestion))}
				first, served := l.turn(ctx, t, messages)
				if served != pin {
					t.Fatalf("turn 1 pinned to %s was served by %s", pin, served)
				}
				uses := blocksOf(first, "tool_use")
				if first.StopReason != anthropic.StopReasonToolUse || len(uses) != 1 {
					t.Fatalf("turn 1: stop_reason %q and %d tool_use blocks, want tool_use and one: %s", first.StopReason, len(uses), first.RawJSON())
				}
				use := uses[0].AsToolUse()
				if use.Name != "get_weather" || use.ID == "" {
					t.Fatalf("turn 1 used %q (id %q), want get_weather with an id", use.Name, use.ID)
				}
				args, err := checkWeatherArgs(string(use.Input))
				if err != nil {
					t.Fatalf("turn 1: %v", err)
				}
				t.Logf("turn 1 served by %s: get_weather(%s)", served, use.Input)

				report := weatherReport(args)
				messages = append(messages, first.ToParam(), anthropic.NewUserMessage(anthropic.NewToolResultBlock(use.ID, report, false)))
				final, served := l.turn(ctx, t, messages)
				if served != pin {
					t.Fatalf("turn 2 pinned to %s was served by %s", pin, served)
				}
				var text strings.Builder
				for _, b := range blocksOf(final, "text") {
					text.WriteString(b.Text)
				}
				if final.StopReason != anthropic.StopReasonEndTurn || len(blocksOf(final, "tool_use")) != 0 || strings.TrimSpace(text.String()) == "" {
					t.Fatalf("turn 2: stop_reason %q; want end_turn and a text answer without tool_use: %s", final.StopReason, final.RawJSON())
				}
				if !strings.Contains(text.String(), "sunny") {
					t.Fatalf("turn 2's answer does not use the tool's result %s: %q", report, text.String())
				}
				t.Logf("turn 2 served by %s: %q", served, text.String())
			})
		}
	}
}

// The programs in scripts/sdk, written against the openai and
// @anthropic-ai/sdk npm packages, run their tool loops (streaming and not)
// through the gateway, pinned to each provider. They need node and their
// packages, which .ci/run installs when node is there.
func TestNodeSDKToolLoop(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH, so the SDK programs in scripts/sdk do not run; install Node.js 20 or later, then cd scripts/sdk && npm ci")
	}
	dir := filepath.Join("scripts", "sdk")
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		t.Skip("the SDK programs' packages are not installed, so they do not run; cd scripts/sdk && npm ci")
	}
	root := strings.TrimSuffix(serveSDK(t), "/v1")
	for _, program := range []string{"openai.mjs", "anthropic.mjs"} {
		for _, pin := range sdkProviders {
			t.Run(program+"/"+pin, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, node, program, root, pin, sdkModel)
				cmd.Dir = dir
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				err := cmd.Run()
				for line := range strings.Lines(out.String()) {
					t.Log(strings.TrimRight(line, "\n"))
				}
				if err != nil {
					t.Fatalf("node %s %s %s %s: %v", program, root, pin, sdkModel, err)
				}
				// Two loops (whole and streamed) of two turns, each line
				// naming who served it; the program itself checks the rest.
				if n := strings.Count(out.String(), "served by "+pin+":"); n != 4 {
					t.Errorf("%d turns say they were served by %s, want 4", n, pin)
				}
			})
		}
	}
}
