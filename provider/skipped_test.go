package provider

import (
	"strings"
	"testing"
)

// TestOneBadEvent: an event that is not a chunk and cannot hold text is
// skipped, once an answer; the caller gets exactly the text the upstream
// meant. An event that may hold text, or a second bad one, ends the attempt
// as malformed after exactly the text before it, for the router to resume
// from.
func TestOneBadEvent(t *testing.T) {
	oa := func(text string) string {
		return `data: {"id":"c1","choices":[{"index":0,"delta":{"content":"` + text + `"}}]}` + "\n\n"
	}
	oaEnd := `data: {"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\ndata: [DONE]\n\n"
	an := func(text string) string {
		return anthropicEvents(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"` + text + `"}}`)
	}
	anStart := anthropicEvents(aStart, aTextBlock)
	anEnd := anthropicEvents(aDelta("end_turn"), aStop)
	const whole = "Hello world!" // what every upstream below means to say
	tests := []struct {
		name, protocol, body string
		content              string // what the caller gets
		class                Class
		skipped              int
	}{
		{"a stray line", "openai", roleChunk + oa("Hello") + "data: ping\n\n" + oa(" world") + oa("!") + oaEnd, whole, ClassOK, 1},
		{"an empty event", "openai", roleChunk + oa("Hello") + "data:\n\n" + oa(" world") + oa("!") + oaEnd, whole, ClassOK, 1},
		{"before any content", "openai", "data: <garbled>\n\n" + roleChunk + oa("Hello") + oa(" world") + oa("!") + oaEnd, whole, ClassOK, 1},
		{"two stray lines", "openai", roleChunk + oa("Hello") + "data: ping\n\n" + oa(" world") + "data: ping\n\n" + oa("!") + oaEnd,
			"Hello world", ClassMalformed, 1},
		{"a truncated chunk", "openai", roleChunk + oa("Hello") + `data: {"id":"c1","choices":[{"delta":{"content":" wor` + "\n\n" + oa(" world") + oa("!") + oaEnd,
			"Hello", ClassMalformed, 0},
		{"a chunk of another shape", "openai", roleChunk + oa("Hello") + `data: {"choices":"world"}` + "\n\n" + oa("!") + oaEnd,
			"Hello", ClassMalformed, 0},
		{"a stray line after a skipped one's answer", "openai", roleChunk + oa("Hello") + "data: ping\n\n" + oa(" world") +
			`data: {"choices":[{"delta":{"content":"!"` + "\n\n" + oaEnd, "Hello world", ClassMalformed, 1},

		{"a stray line", "anthropic", anStart + an("Hello") + "data: ping\n\n" + an(" world") + an("!") + anEnd, whole, ClassOK, 1},
		{"a ping that is not JSON", "anthropic", anStart + an("Hello") + "event: ping\ndata: ping\n\n" + an(" world") + an("!") + anEnd, whole, ClassOK, 1},
		{"a text delta that is not JSON", "anthropic", anStart + an("Hello") + "event: content_block_delta\ndata: world\n\n" + an("!") + anEnd,
			"Hello", ClassMalformed, 0},
		{"a stop reason that is not JSON", "anthropic", anStart + an("Hello") + an(" world") + an("!") + "event: message_delta\ndata: end_turn\n\n" + anthropicEvents(aStop),
			whole, ClassMalformed, 0},
		{"two stray lines", "anthropic", anStart + an("Hello") + "data: ping\n\n" + an(" world") + "data: ping\n\n" + an("!") + anEnd,
			"Hello world", ClassMalformed, 1},
		{"a truncated delta", "anthropic", anStart + an("Hello") + `event: content_block_delta` + "\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" wor` + "\n\n" + an("!") + anEnd,
			"Hello", ClassMalformed, 0},
	}
	for _, tt := range tests {
		t.Run(tt.protocol+"/"+tt.name, func(t *testing.T) {
			c := clientOf(t, tt.protocol, sseHandler([]byte(tt.body)), OpenAIOptions{})
			s, chunks, err := streamAll(t, c)
			var got strings.Builder
			for _, ch := range chunks {
				got.WriteString(ch.Content)
			}
			if cl := classOf(t, err); cl != tt.class {
				t.Fatalf("class = %v (%v), want %v", cl, err, tt.class)
			}
			if got.String() != tt.content {
				t.Errorf("caller got %q, want %q", got.String(), tt.content)
			}
			if !strings.HasPrefix(whole, got.String()) {
				t.Errorf("caller got %q, not a start of the whole answer %q", got.String(), whole)
			}
			if n := s.Stats().SkippedEvents; n != tt.skipped {
				t.Errorf("SkippedEvents = %d, want %d", n, tt.skipped)
			}
		})
	}
}
