package provider

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"switchboard/wirejson"
	"switchboard/wirejson/wirejsontest"
)

// FuzzUnmarshal holds wirejson.Unmarshal to json.Unmarshal on the types the
// provider clients decode from upstreams: the same value, the same error
// text.
func FuzzUnmarshal(f *testing.F) {
	addFixtures(f, "stream_*.txt")
	f.Add([]byte(`{"id":"a","choices":[{"index":0,"delta":{"content":"x\u00e9\ud83d\ude00","tool_calls":[{"index":0,"id":"c"}]},` +
		`"logprobs":{"content":[{"token":"x","logprob":-1}]},"finish_reason":"stop"}],"usage":{"completion_tokens":3}}`))
	f.Add([]byte(`{"ID":"a","Choices":[{"INDEX":0}]}`))
	f.Add([]byte(`{"id":"a","id":"b"}`))
	f.Add([]byte(`{"id":"a"} {"id":"b"}`))
	f.Add([]byte("{\"id\":\"\xff\xfe\"}"))
	f.Add([]byte(`{"id":1}`))
	f.Add([]byte(`{"choices":[{"index":1.5}]}`))
	f.Add([]byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}`))
	f.Add([]byte(`{"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":3}}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, data := range bytes.Split(in, []byte("\n\n")) {
			data = bytes.TrimPrefix(data, []byte("data: "))
			for _, d := range []string{
				wirejsontest.Differs[openAIChunk](data),
				wirejsontest.Differs[openAICompletion](data),
				wirejsontest.Differs[anthropicEvent](data),
				wirejsontest.Differs[anthropicMessage](data),
			} {
				if d != "" {
					t.Fatal(d)
				}
			}
		}
	})
}

// FuzzEncodeRequest holds the request bodies both clients send, encoded by
// wirejson, to encoding/json's bytes: every kind of message and part,
// tools whose schema is the fuzzed JSON, figures and text of every sort.
func FuzzEncodeRequest(f *testing.F) {
	f.Add("Hello, <world> & \"friends\" \u2028 é 😀", []byte(`{"type":"object","properties":{"city":{"type":"string"}}}`), 0.7)
	f.Add("\x00\xff\\", []byte(` { "a" : [1, 2.50, 1e3, true, null] } `), -1e-7)
	f.Add("", []byte(`"x"`), 1e21)
	f.Fuzz(func(t *testing.T, text string, raw []byte, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return
		}
		if !json.Valid(raw) {
			raw = nil
		}
		strict := true
		req := Request{Model: text, MaxTokens: 100, Temperature: &v, User: text,
			Messages: []Message{
				{Role: "system", Content: text},
				{Role: "user", Parts: []Part{{Type: "text", Text: text}, {Type: "image", ImageURL: "data:image/png;base64,iVBORw0KGgo=", Detail: "low"}}},
				{Role: "assistant", Content: text, ToolCalls: []ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"` + strconvQuote(text) + `"}`}}},
				{Role: "tool", ToolCallID: "call_1", Content: text},
			},
			Tools:      []Tool{{Name: "get_weather", Description: text, Parameters: json.RawMessage(raw), Strict: &strict}},
			ToolChoice: ToolChoice{Mode: "auto"},
		}
		for _, enc := range []func(marshaller, Request) ([]byte, error){encodeOpenAIWith, encodeAnthropicWith} {
			got, err := enc(wirejson.Marshal, req)
			want, wantErr := enc(json.Marshal, req)
			if (err == nil) != (wantErr == nil) || !bytes.Equal(got, want) {
				t.Fatalf("wirejson %s (%v)\nencoding/json %s (%v)", got, err, want, wantErr)
			}
		}
	})
}

// strconvQuote is text escaped for a JSON string, without its quotes.
func strconvQuote(text string) string {
	b, _ := json.Marshal(text)
	return string(b[1 : len(b)-1])
}
