package provider

import (
	"io"
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
