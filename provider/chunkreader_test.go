package provider

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzChunkReader checks that one chunkReader, reading event after event,
// gives for each what json.Unmarshal gives for it alone into a fresh
// chunk: the same value, the same error text, never a field left over from
// the chunk before. The input is split into events at blank lines; the
// seeds mix chunks with what must fall back to json.Unmarshal (white space
// or another value after the chunk, values of another type, cut objects).
func FuzzChunkReader(f *testing.F) {
	addFixtures(f, "stream_*.txt")
	f.Add([]byte(`{"id":"a","choices":[{"index":0,"delta":{"content":"x","tool_calls":[{"index":0,"id":"c"}]},` +
		`"logprobs":{"content":[{"token":"x","logprob":-1}]},"finish_reason":"stop"}],"usage":{"completion_tokens":3}}` +
		"\n\n" + `{"choices":[{"index":0,"delta":{}}]}` + "\n\n" + `{"model":"m"}` + "\n\n" + `{"choices":[{},{"index":1}]}`))
	f.Add([]byte(`{"id":"a"} ` + "\n\n" + `{"id":"b"}{"id":"c"}` + "\n\n" + `{"id":"d"}` + "\n\n" + `null` + "\n\n" + `123` +
		"\n\n" + `{"id":"e"}` + "\n\n" + `{"choices":{}}` + "\n\n" + `{"choices":[` + "\n\n" + `{"id":"f"}` + "\n\n" + `"x"` + "\n\n" + `{"id":"g"}`))
	long := `{"id":"long","choices":[{"index":0,"delta":{"content":"` + strings.Repeat("x", 64<<10) + `"}}]}`
	f.Add([]byte(`{"id":"a","usage":{"completion_tokens":1}}` + "\n\n" + long + "\n\n" + `{"model":"m"}` + "\n\n" + long[:100]))
	f.Add([]byte(`{"error":{"message":"x"},"choices":[{"index":0,"delta":{"content":"y"}}]}` + "\n\n" + `{"choices":[]}` + "\n\n" + `{"choices":null}`))
	// Chunks that begin alike, for the reader's head: what follows the
	// content differs, and may be wrong.
	head := `{"id":"a","created":1,"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","reasoning":"r","content":`
	f.Add([]byte(head + `"x"}}]}` + "\n\n" + head + `"y\"z\u00e9"},"finish_reason":"stop"}],"usage":null}` + "\n\n" +
		head + `"y","content":"w"}}]}` + "\n\n" + head + `"q"},"index":1}]}` + "\n\n" + head + `"q"},"delta":{}}]}` + "\n\n" +
		head + `"q"}},{"index":1,"delta":{"content":"r"}}]}` + "\n\n" + head + `5}}]}` + "\n\n" + head + `"x"}}]} x` + "\n\n" +
		head + `"\ud83d"},"logprobs":{"content":[]}}]}` + "\n\n" + head + `"x"}}],"choices":[]}` + "\n\n" + head + `"x"}}],"Usage":{}}` +
		"\n\n" + head + `"x","tool_calls":null,"Content":"y"}}]}` + "\n\n" + head + `"x"}}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var r chunkReader
		checkReads(t, in, r.read, func(got, want *openAIChunk) {
			// An empty list of choices is as good as none: the reader
			// keeps the list's memory.
			if len(got.Choices) == 0 && len(want.Choices) == 0 {
				want.Choices = got.Choices
			}
		})
	})
}

// FuzzEventReader is FuzzChunkReader for the events of a Messages stream.
func FuzzEventReader(f *testing.F) {
	addFixtures(f, "anthropic_*.txt")
	head := `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`
	think := `{"type":"content_block_delta","index":1,"delta":{"type":"thinking_delta","thinking":`
	f.Add([]byte(head + `"x"}}` + "\n\n" + head + `"y\"z\u00e9"}}` + "\n\n" + head + `"y","text":"w"}}` + "\n\n" +
		head + `"q"},"index":1}` + "\n\n" + head + `"q"},"delta":{}}` + "\n\n" + head + `5}}` + "\n\n" + head + `"x"}} x` +
		"\n\n" + head + `"x","Text":"y"}}` + "\n\n" + head + `"x"},"usage":{"output_tokens":3}}` + "\n\n" + think + `"t"}}` +
		"\n\n" + think + `"u","signature":"s"}}` + "\n\n" + think + `"v"},"type":"x"}` + "\n\n" + head + `"x"}}` + "\n\n" +
		`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}` + "\n\n" + head + `"x"}}` +
		"\n\n" + `{"type":"ping"}`))
	// A second text after the head is read on from the middle of the
	// event: it must not leave a head of its own.
	f.Add([]byte(head + `"a"}}` + "\n\n" + head + `"a","thinking":"b"}}` + "\n\n" + `"a","thinking":"q"}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var r eventReader
		checkReads(t, in, r.read, func(*anthropicEvent, *anthropicEvent) {})
	})
}

// checkReads reads the events of in (split at blank lines, each its data
// line's value) one after another with read, each checked against what
// json.Unmarshal gives for it alone into a fresh value: the same value
// (once norm has made what is as good alike), the same error text, never
// a field left over from the event before.
func checkReads[T any](t *testing.T, in []byte, read func([]byte) (*T, error), norm func(got, want *T)) {
	for _, data := range bytes.Split(in, []byte("\n\n")) {
		if i := bytes.LastIndex(data, []byte("data: ")); i == 0 || i > 0 && data[i-1] == '\n' {
			data = data[i+len("data: "):]
		}
		got, err := read(data)
		var want T
		wantErr := json.Unmarshal(data, &want)
		switch {
		case (err == nil) != (wantErr == nil):
			t.Fatalf("%q: error %v, json.Unmarshal's %v", data, err, wantErr)
		case err != nil && err.Error() != wantErr.Error():
			t.Fatalf("%q: error %q, json.Unmarshal's %q", data, err, wantErr)
		case err != nil:
			continue
		}
		norm(got, &want)
		if !reflect.DeepEqual(*got, want) {
			t.Fatalf("%q: read %+v, json.Unmarshal %+v", data, *got, want)
		}
	}
}
