package provider

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzUnmarshal holds unmarshal to json.Unmarshal on the types it decodes
// from upstreams: the same value, the same error text.
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
			sameAsStd[openAIChunk](t, data)
			sameAsStd[openAICompletion](t, data)
			sameAsStd[anthropicEvent](t, data)
			sameAsStd[anthropicMessage](t, data)
		}
	})
}

func sameAsStd[T any](t *testing.T, data []byte) {
	t.Helper()
	var got, want T
	err := unmarshal(data, &got)
	wantErr := json.Unmarshal(data, &want)
	switch {
	case (err == nil) != (wantErr == nil):
		t.Fatalf("%q into %T: error %v, json.Unmarshal's %v", data, got, err, wantErr)
	case err != nil && err.Error() != wantErr.Error():
		t.Fatalf("%q into %T: error %q, json.Unmarshal's %q", data, got, err, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q into %T: %+v, json.Unmarshal's %+v", data, got, got, want)
	}
}
