package provider

import (
	"io"
	"net/http"
	"testing"
)

// TestEndMarkerWithoutAnAnswer: the protocol's end marker ([DONE],
// message_stop) with neither content nor a finish reason before it is a
// cut stream, not an empty success. Content without a finish reason is
// still an answer, as servers that send no finish reason give it.
func TestEndMarkerWithoutAnAnswer(t *testing.T) {
	const done = "data: [DONE]\n\n"
	reasoning := `data: {"choices":[{"index":0,"delta":{"reasoning":"Hmm"}}]}` + "\n\n"
	usage := `data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":0,"total_tokens":3}}` + "\n\n"
	tests := []struct {
		name, protocol, body string
		want                 Class
	}{
		{"done alone", "openai", done, ClassStreamCut},
		{"role, then done", "openai", roleChunk + done, ClassStreamCut},
		{"role and usage, then done", "openai", roleChunk + usage + done, ClassStreamCut},
		{"reasoning only, then done", "openai", roleChunk + reasoning + done, ClassStreamCut},
		{"content without finish, then done", "openai", contentChunk + done, ClassOK},
		{"message_stop alone", "anthropic", anthropicEvents(aStop), ClassStreamCut},
		{"start, then message_stop", "anthropic", anthropicEvents(aStart, aTextBlock, aPing, aStop), ClassStreamCut},
		{"text without stop reason, then message_stop", "anthropic", anthropicEvents(aStart, aTextBlock, aText, aStop), ClassOK},
		{"stop reason alone, then message_stop", "anthropic", anthropicEvents(aStart, aDelta("end_turn"), aStop), ClassOK},
	}
	for _, tt := range tests {
		t.Run(tt.protocol+"/"+tt.name, func(t *testing.T) {
			c := clientOf(t, tt.protocol, sseHandler([]byte(tt.body)), OpenAIOptions{})
			_, _, err := streamAll(t, c)
			if got := classOf(t, err); got != tt.want || tt.want == ClassOK && err != io.EOF {
				t.Fatalf("class %v (%v), want %v", got, err, tt.want)
			}
		})
	}
}

// A whole (non-streamed) answer with neither content nor a finish reason is
// no answer, as an end marker with nothing before it is not one: it is
// malformed, on both protocols, and never a success with finish_reason "".
func TestWholeAnswerWithoutAnAnswer(t *testing.T) {
	for _, tt := range []struct{ protocol, body string }{
		{"openai", `{"id":"c1","choices":[{"index":0,"message":{"role":"assistant","content":""}}]}`},
		{"openai", `{"id":"c1","choices":[{"index":0,"message":{"role":"assistant","reasoning":"Hmm"}}]}`},
		{"anthropic", `{"id":"msg_1","type":"message","role":"assistant","content":[],"usage":{"input_tokens":3,"output_tokens":0}}`},
	} {
		c := clientOf(t, tt.protocol, jsonHandler(tt.body), OpenAIOptions{})
		if _, _, err := streamAll(t, c); classOf(t, err) != ClassMalformed {
			t.Errorf("%s %s: %v, want malformed", tt.protocol, tt.body, err)
		}
	}
	// With a finish reason, or content, it is an answer.
	c := clientOf(t, "openai", jsonHandler(`{"choices":[{"index":0,"message":{"content":""},"finish_reason":"length"}]}`), OpenAIOptions{})
	if _, _, err := streamAll(t, c); err != io.EOF {
		t.Errorf("empty content with finish_reason length: %v, want an answer", err)
	}
}

// jsonHandler answers every request with body, as a whole JSON answer.
func jsonHandler(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
}
