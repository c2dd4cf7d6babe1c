package provider

import (
	"bytes"
	"testing"

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
