package routing

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"switchboard/provider"
)

// scripted is a loopback upstream that streams the same chunks (the data
// of chat.completion.chunk events, as OpenAI words them) to every request,
// then the end (a finish reason is among the chunks) or, with cut, a
// dropped connection.
type scripted struct {
	srv      *httptest.Server
	requests atomic.Int64
}

func newScripted(t *testing.T, cut bool, chunks ...string) *scripted {
	s := &scripted{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range chunks {
			fmt.Fprintf(w, "data: %s\n\n", c)
			w.(http.Flusher).Flush()
		}
		if !cut {
			fmt.Fprint(w, "data: [DONE]\n\n")
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// The chunks of a scripted answer.
func reasoningChunk(s string) string {
	return fmt.Sprintf(`{"choices":[{"index":0,"delta":{"reasoning":%q}}]}`, s)
}

func contentChunk(s string) string {
	return fmt.Sprintf(`{"choices":[{"index":0,"delta":{"content":%q}}]}`, s)
}

func callStart(index int, id, name string) string {
	return fmt.Sprintf(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":%d,"id":%q,"type":"function","function":{"name":%q,"arguments":""}}]}}]}`, index, id, name)
}

func callArgs(index int, args string) string {
	return fmt.Sprintf(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":%d,"function":{"arguments":%q}}]}}]}`, index, args)
}

func finishChunk(reason string) string {
	return fmt.Sprintf(`{"choices":[{"index":0,"delta":{},"finish_reason":%q}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}`, reason)
}

// routerOfScripts routes model m over the upstreams in order (provider.order
// names them so), each taking a prefill.
func routerOfScripts(t *testing.T, ups ...*scripted) (*Router, Request) {
	t.Helper()
	var eps []Endpoint
	var order []string
	for i, u := range ups {
		name := fmt.Sprintf("p%d", i)
		eps = append(eps, Endpoint{ID: "m@" + name, Provider: name, Model: "m", UpstreamModel: "u", PriceIn: 1, Prefill: true,
			Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: u.srv.URL})})
		order = append(order, name)
	}
	req := ask("what is the weather in Paris?")
	req.Tools = []provider.Tool{{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}}
	req.Provider.Order = order
	return routerOver(t, Options{}, eps...), req
}

// A stream cut before anything committed (it had only thought) restarts
// elsewhere, and the caller gets the other's tool call, its pieces in
// order and nothing lost, after that endpoint's own thinking; nothing of
// the first attempt reaches it.
func TestToolCallAfterARestartArrivesWhole(t *testing.T) {
	thinksThenCuts := newScripted(t, true, reasoningChunk("Let me look at "), reasoningChunk("the weather..."))
	calls := newScripted(t, false, reasoningChunk("The user wants Paris."),
		callStart(0, "call_1", "get_weather"), callArgs(0, `{"ci`), callArgs(0, `ty": "Par`), callArgs(0, `is"}`),
		finishChunk("tool_calls"))
	r, req := routerOfScripts(t, thinksThenCuts, calls)
	var got []Delta
	var committedTo []string
	req.OnCommit = func(e Endpoint) { committedTo = append(committedTo, e.Provider) }
	res, err := r.Send(t.Context(), req, func(d Delta) { got = append(got, d) })
	if err != nil {
		t.Fatalf("%v; attempts %v", err, outcomes(res.Trace))
	}
	want := []Delta{
		{Reasoning: "The user wants Paris."},
		{ToolCalls: []provider.ToolCall{{Index: 0, ID: "call_1", Name: "get_weather"}}},
		{ToolCalls: []provider.ToolCall{{Index: 0, Arguments: `{"ci`}}},
		{ToolCalls: []provider.ToolCall{{Index: 0, Arguments: `ty": "Par`}}},
		{ToolCalls: []provider.ToolCall{{Index: 0, Arguments: `is"}`}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the caller got\n%+v\nwant\n%+v", got, want)
	}
	if res.FinishReason != "tool_calls" || res.Provider != "p1" || !reflect.DeepEqual(committedTo, []string{"p1"}) {
		t.Errorf("finish %q from %q, committed to %v; want tool_calls from p1, committed once to it", res.FinishReason, res.Provider, committedTo)
	}
	if n := calls.requests.Load(); n != 1 {
		t.Errorf("the second upstream got %d requests, want 1", n)
	}
	if n := thinksThenCuts.requests.Load(); n < 1 {
		t.Errorf("the first upstream got %d requests, want at least 1", n)
	}
}

// A stream that breaks once a tool call has begun is not carried on
// anywhere, though every endpoint takes a prefill: the caller has part of
// a call, which no prefill continues. The request ends as interrupted,
// saying why, and the other upstream never hears of it.
func TestToolCallBrokenMidwayIsNotResumed(t *testing.T) {
	cuts := newScripted(t, true, contentChunk("Checking. "), callStart(0, "call_1", "get_weather"), callArgs(0, `{"city": "Pa`))
	other := newScripted(t, false, contentChunk("unused"), finishChunk("stop"))
	r, req := routerOfScripts(t, cuts, other)
	var args strings.Builder
	res, err := r.Send(t.Context(), req, func(d Delta) {
		for _, c := range d.ToolCalls {
			args.WriteString(c.Arguments)
		}
	})
	var re *Error
	if err == nil || !errors.As(err, &re) || re.Kind != KindInterrupted || !strings.Contains(re.Message, "a tool call cannot be carried on") {
		t.Fatalf("error %v, want an interrupted answer saying a tool call cannot be carried on", err)
	}
	if res.FinishReason != "error" || args.String() != `{"city": "Pa` {
		t.Errorf("finish %q, arguments streamed %q; want error after {\"city\": \"Pa", res.FinishReason, args.String())
	}
	if n := other.requests.Load(); n != 0 {
		t.Errorf("the other upstream got %d requests, want none", n)
	}
}

// A caller that does not stream gets the calls whole, put together from
// their interleaved pieces, in the model's order, with the thinking; a
// stream cut in the middle of a call is retried elsewhere from the start,
// and nothing of it is in the answer.
func TestWholeAnswerGathersToolCalls(t *testing.T) {
	cuts := newScripted(t, true, callStart(0, "call_x", "get_weather"), callArgs(0, `{"city":`))
	two := newScripted(t, false, reasoningChunk("Two cities."),
		callStart(0, "call_a", "get_weather"), callStart(1, "call_b", "get_weather"),
		callArgs(1, `{"city": "Rome"}`), callArgs(0, `{"city": `), callArgs(0, `"Paris"}`), finishChunk("tool_calls"))
	r, req := routerOfScripts(t, cuts, two)
	res, err := r.Send(t.Context(), req, nil)
	if err != nil {
		t.Fatalf("%v; attempts %v", err, outcomes(res.Trace))
	}
	want := []provider.ToolCall{
		{Index: 0, ID: "call_a", Name: "get_weather", Arguments: `{"city": "Paris"}`},
		{Index: 1, ID: "call_b", Name: "get_weather", Arguments: `{"city": "Rome"}`},
	}
	if !reflect.DeepEqual(res.ToolCalls, want) || res.Reasoning != "Two cities." || res.Content != "" || res.FinishReason != "tool_calls" {
		t.Errorf("answer %+v\nwant calls %+v, reasoning %q, no content, finish tool_calls", res, want, "Two cities.")
	}
	if n := two.requests.Load(); n != 1 {
		t.Errorf("the second upstream got %d requests, want 1", n)
	}
}

// Thinking is held until the answer commits, then handed on before the
// content, all of it at once.
func TestThinkingWaitsForTheCommit(t *testing.T) {
	up := newScripted(t, false, reasoningChunk("First "), reasoningChunk("this."), contentChunk("Sunny."), finishChunk("stop"))
	r, req := routerOfScripts(t, up)
	var got []Delta
	committed := 0
	req.OnCommit = func(Endpoint) {
		if len(got) > 0 {
			t.Errorf("committed after %d deltas", len(got))
		}
		committed++
	}
	if _, err := r.Send(t.Context(), req, func(d Delta) { got = append(got, d) }); err != nil {
		t.Fatal(err)
	}
	want := []Delta{{Reasoning: "First this."}, {Content: "Sunny."}}
	if !reflect.DeepEqual(got, want) || committed != 1 {
		t.Errorf("the caller got %+v after %d commits, want %+v after one", got, committed, want)
	}
}

// A prompt with an image goes only to the endpoints that take images; when
// none of the model's does, it is the caller's error, before any upstream
// hears of it. Log probabilities likewise go only where they are listed.
func TestImagesAndLogprobsGoWhereTheyCan(t *testing.T) {
	textOnly := newScripted(t, false, contentChunk("text"), finishChunk("stop"))
	sees := newScripted(t, false, contentChunk("a cat"), finishChunk("stop"))
	eps := []Endpoint{
		{ID: "m@text", Provider: "text", Model: "m", UpstreamModel: "u", PriceIn: 1, Parameters: []string{"tools"},
			Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: textOnly.srv.URL})},
		{ID: "m@sees", Provider: "sees", Model: "m", UpstreamModel: "u", PriceIn: 9, InputModalities: []string{ModalityImage},
			Parameters: []string{"logprobs"}, Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: sees.srv.URL})},
		{ID: "n@text", Provider: "text", Model: "n", UpstreamModel: "u", PriceIn: 1,
			Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: textOnly.srv.URL})},
	}
	r := routerOver(t, Options{}, eps...)
	image := []provider.Message{{Role: "user", Parts: []provider.Part{{Type: provider.PartText, Text: "What is it?"},
		{Type: provider.PartImage, ImageURL: "data:image/png;base64,iVBORw0KGgo="}}}}
	for _, tc := range []struct {
		name, model string
		msgs        []provider.Message
		params      []string
		served      string
		param       string // of the caller's error
	}{
		{"an image", "m", image, nil, "sees", ""},
		{"logprobs", "m", ask("x").Messages, []string{"logprobs", "top_logprobs"}, "sees", ""},
		{"an image no endpoint takes", "n", image, nil, "", "messages"},
		{"logprobs no endpoint gives", "n", ask("x").Messages, []string{"logprobs"}, "", "logprobs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := textOnly.requests.Load() + sees.requests.Load()
			res, err := r.Send(t.Context(), Request{Model: tc.model, Messages: tc.msgs, Params: tc.params}, nil)
			var re *Error
			switch {
			case tc.param == "" && (err != nil || res.Provider != tc.served):
				t.Errorf("served by %q (%v), want %q", res.Provider, err, tc.served)
			case tc.param != "" && (!errors.As(err, &re) || re.Kind != KindBadRequest || re.Param != tc.param):
				t.Errorf("error %v, want the caller's, about %s", err, tc.param)
			case tc.param != "" && textOnly.requests.Load()+sees.requests.Load() != before:
				t.Errorf("an upstream was asked")
			}
		})
	}
}

// An answer that says it is whole with a tool call no caller can run
// (arguments that are not a JSON object) is the upstream's failure: a
// caller that does not stream gets another endpoint's answer; one that
// streams, which has the pieces, gets the error, not a finish that passes
// the call off as whole. Arguments cut at max_tokens are what they say.
func TestBrokenToolArgumentsAreNotPassedOffAsWhole(t *testing.T) {
	broken := []string{callStart(0, "call_1", "get_weather"), callArgs(0, `{"city": "Par`), finishChunk("tool_calls")}
	sound := []string{callStart(0, "call_2", "get_weather"), callArgs(0, `{"city": "Paris"}`), finishChunk("tool_calls")}

	bad, good := newScripted(t, false, broken...), newScripted(t, false, sound...)
	r, req := routerOfScripts(t, bad, good)
	res, err := r.Send(t.Context(), req, nil)
	if err != nil || len(res.ToolCalls) != 1 || res.ToolCalls[0].ID != "call_2" {
		t.Fatalf("%v: calls %+v, want the second upstream's", err, res.ToolCalls)
	}
	if a := res.Trace.Attempts[0]; a.Outcome != "malformed" || !strings.Contains(a.Error, "not a JSON object") {
		t.Errorf("first attempt %s: %s", a.Outcome, a.Error)
	}

	bad, good = newScripted(t, false, broken...), newScripted(t, false, sound...)
	r, req = routerOfScripts(t, bad, good)
	res, err = r.Send(t.Context(), req, func(Delta) {})
	var re *Error
	if !errors.As(err, &re) || re.Kind != KindInterrupted || res.FinishReason != "error" || good.requests.Load() != 0 {
		t.Errorf("streamed: %v, finish %q, the other upstream asked %d times; want interrupted, no other asked", err, res.FinishReason, good.requests.Load())
	}

	cut := newScripted(t, false, callStart(0, "call_3", "get_weather"), callArgs(0, `{"city": "Par`), finishChunk("length"))
	r, req = routerOfScripts(t, cut)
	if res, err := r.Send(t.Context(), req, nil); err != nil || res.FinishReason != "length" {
		t.Errorf("cut at max_tokens: %v, finish %q; want the answer, finish length", err, res.FinishReason)
	}
}

// An answer that is thinking alone (max_tokens ran out while the model
// thought) is still its endpoint's answer: a streaming caller gets the
// thinking, not an empty answer.
func TestThinkingAloneIsHandedOn(t *testing.T) {
	up := newScripted(t, false, reasoningChunk("Still "), reasoningChunk("thinking."), finishChunk("length"))
	r, req := routerOfScripts(t, up)
	var got []Delta
	res, err := r.Send(t.Context(), req, func(d Delta) { got = append(got, d) })
	if err != nil || res.FinishReason != "length" {
		t.Fatalf("%v, finish %q", err, res.FinishReason)
	}
	if want := []Delta{{Reasoning: "Still thinking."}}; !reflect.DeepEqual(got, want) {
		t.Errorf("the caller got %+v, want %+v", got, want)
	}
}
