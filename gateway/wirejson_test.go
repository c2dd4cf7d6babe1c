package gateway

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http/httptest"
	"testing"
	"time"

	"switchboard/provider"
	"switchboard/routing"
	"switchboard/wirejson"
)

// FuzzMarshal holds wirejson's encoding of the gateway's answers to
// encoding/json's, byte for byte: whole answers and stream chunks of both
// APIs, with tool calls, log probabilities, a trace and errors, built from
// the fuzzed text and figures (HTML characters, U+2028, invalid UTF-8,
// control characters; floats large, small and negative).
//
//	go test -run xxx -fuzz FuzzMarshal -fuzztime 2m ./gateway
func FuzzMarshal(f *testing.F) {
	f.Add("Hello, <world> & \"friends\"", 0.5, int64(1_700_000_000_123_456_789))
	f.Add("\u2028\u2029\x00\x1f\xff\xfe é 😀 \\", -1e-7, int64(0))
	f.Add(`{"city":"Oslo"}`, 1e21, int64(-1))
	f.Add("", math.Copysign(0, -1), int64(math.MaxInt64))
	f.Add("x", 123456789.125, int64(42))
	f.Fuzz(func(t *testing.T, s string, v float64, n int64) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return // encoding/json refuses them; no figure of ours is one
		}
		for i, v := range answers(s, v, n) {
			want, wantErr := json.Marshal(v)
			got, err := wirejson.Marshal(v)
			if (err == nil) != (wantErr == nil) || !bytes.Equal(got, want) {
				t.Fatalf("value %d: wirejson %s (%v), encoding/json %s (%v)", i, got, err, want, wantErr)
			}
			var a, b bytes.Buffer
			_ = wirejson.NewEncoder(&a).Encode(v)
			_ = json.NewEncoder(&b).Encode(v)
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Fatalf("value %d encoded: wirejson %s, encoding/json %s", i, a.Bytes(), b.Bytes())
			}
		}
		for _, e := range handWritten(s, n) {
			var want bytes.Buffer
			if e.name != "" {
				want.WriteString("event: " + e.name + "\n")
			}
			data, err := json.Marshal(e.v)
			if err != nil {
				t.Fatal(err)
			}
			want.WriteString("data: " + string(data) + "\n\n")
			rec := httptest.NewRecorder()
			(&sseOut{w: rec, cancel: func() {}}).event(e.name, e.v)
			if !bytes.Equal(e.hand, want.Bytes()) || !bytes.Equal(rec.Body.Bytes(), want.Bytes()) {
				t.Fatalf("event by hand\n%s\nencoded\n%s\nencoding/json\n%s", e.hand, rec.Body.Bytes(), want.Bytes())
			}
		}
	})
}

// event is a stream's event written by hand, and what it is written for:
// the value of an event named name.
type event struct {
	hand []byte
	name string
	v    any
}

// handWritten are the stream's events written by hand, built by the
// gateway's functions from s and n, with the values they stand for.
func handWritten(s string, n int64) []event {
	var out []event
	// One exchange, its answer carried on elsewhere half way (what a
	// piece's event starts with changes with the endpoint).
	x := &exchange{id: "gen-" + s, start: time.Unix(0, n), model: s}
	for _, served := range []routing.Endpoint{{}, {ID: s, Provider: s, Model: s + "-served"}, {ID: s, Provider: s + "2", Model: s + "-served"}} {
		x.served = served
		for _, role := range []string{"", "assistant"} {
			text := s
			out = append(out, event{hand: x.textChunk(nil, role, s), v: x.chunk(&message{Role: role, Content: &text}, nil)})
		}
	}
	for _, typ := range []string{"text_delta", "thinking_delta", "signature_delta", "input_json_delta"} {
		text := s
		d := blockDelta{Type: typ}
		switch typ {
		case "thinking_delta":
			d.Thinking = &text
		case "signature_delta":
			d.Signature = &text
		case "input_json_delta":
			d.PartialJSON = &text
		default:
			d.Text = &text
		}
		i := int(n % 1000)
		out = append(out, event{hand: blockDeltaEvent(nil, i, typ, s), name: "content_block_delta",
			v: blockEvent{Type: "content_block_delta", Index: i, Delta: &d}})
	}
	return out
}

// answers are what the gateway writes, built by its own functions from s,
// v and n.
func answers(s string, v float64, n int64) []any {
	at := time.Unix(0, n).UTC()
	trace := &routing.Trace{Model: s, Models: []string{s, "b"}, At: at,
		Candidates: []routing.Candidate{{Endpoint: s, Provider: "p", Model: s, StateStr: "healthy", Price: v, Weight: v / 3, Tier: routing.TierFallback, Why: s}},
		Order:      []string{s}, Served: s,
		Attempts: []routing.Attempt{{Endpoint: s, Provider: "p", Start: at, TTFT: time.Duration(n), Duration: time.Duration(n / 2),
			Outcome: "ok", Status: int(n % 600), Error: s, Retry: n%2 == 0, Waited: s, Skipped: int(n % 7), Model: s}}}
	calls := []provider.ToolCall{{Index: 0, ID: s, Name: s, Arguments: s}, {Index: 1, Name: "f", Arguments: "{}"}}
	lps := []provider.Logprob{{Token: s, Logprob: v, Bytes: []int{int(n % 256), 0}, Top: []provider.TopLogprob{{Token: s, Logprob: v * 2}}}}
	res := &routing.Result{Endpoint: s, Provider: s, Model: s, Content: s, Reasoning: s, Signature: s, ToolCalls: calls,
		Logprobs: lps, FinishReason: s, Usage: provider.Usage{PromptTokens: int(n % 1000), CompletionTokens: 3, CachedTokens: 1}, Trace: trace}
	x := &exchange{id: "gen-" + s, start: at, model: s, served: routing.Endpoint{ID: s, Provider: s, Model: s}, cost: v}
	e := &apiError{Status: 502, Type: "provider_error", Message: s, Param: s, Trace: trace,
		Previous: []routing.PreviousError{{Provider: s, Model: s, Class: "server", Status: 500}}}
	body := e.body()
	end := x.chunk(&message{}, &s)
	end.Error = &body
	last := x.chunk(nil, nil)
	last.Choices, last.Usage, last.Trace = []choice{}, usageOf(res.Usage, v), trace
	piece := x.chunk(&message{Role: "assistant", Content: &s, Reasoning: s, ToolCalls: toolCalls(calls, true)}, nil)
	piece.Choices[0].Logprobs = logprobsOf(lps)
	return []any{wholeChat(x, res), wholeMessage(x, res), piece, end, last, body, e.anthropic(),
		map[string]any{"s": s, "v": v, "n": n, "list": []any{s, v, nil, true}}}
}
