package provider

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// Chunks that carry no token: an empty delta, a role, usage alone, the end
// of a block. An upstream that sends only these after its first token is
// stalled, however fast it sends them.
var noProgress = map[string]struct{ protocol, start, chunk string }{
	"openai empty delta": {"openai", contentChunk, `data: {"id":"c1","choices":[{"index":0,"delta":{}}]}` + "\n\n"},
	"openai role":        {"openai", contentChunk, roleChunk},
	"openai usage":       {"openai", contentChunk, `data: {"id":"c1","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}` + "\n\n"},
	"anthropic empty text": {"anthropic", anthropicEvents(aStart, aTextBlock, aText),
		anthropicEvents(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}`)},
	"anthropic block stop": {"anthropic", anthropicEvents(aStart, aTextBlock, aText),
		anthropicEvents(`{"type":"content_block_stop","index":0}`)},
	"anthropic usage": {"anthropic", anthropicEvents(aStart, aTextBlock, aText),
		anthropicEvents(`{"type":"message_delta","delta":{"stop_reason":null},"usage":{"output_tokens":5}}`)},
}

// TestStallDespiteChunksWithoutTokens: after the first token, an upstream
// that sends chunks without tokens as fast as it can is stalled within the
// stall limit. It used to hold the request until the caller gave up.
func TestStallDespiteChunksWithoutTokens(t *testing.T) {
	for name, tt := range noProgress {
		t.Run(name, func(t *testing.T) {
			c := clientOf(t, tt.protocol, endless(tt.start, tt.chunk, nil), OpenAIOptions{FirstTokenTimeout: long, StallTimeout: short})
			// Without the fix the stream would last forever: the caller's
			// deadline ends it, as a timeout.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := c.Stream(ctx, testRequest())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			chunks, err := drain(t, s)
			if got := classOf(t, err); got != ClassStall || len(chunks) == 0 || chunks[0].Content != "Hi" {
				t.Fatalf("class %v (%v) after %d chunks; want the first token, then a stall", got, err, len(chunks))
			}
		})
	}
}

// TestSlowCallerIsNoStall: a caller that holds a chunk for longer than the
// stall limit (a gateway whose client reads slowly stops reading the
// upstream meanwhile) gets the whole answer from an upstream that sent it
// at once, and the upstream's gaps between tokens leave the held time out:
// the caller's pace is not the provider's. It used to end in a stall,
// counted against the provider, and a gap as long as the hold.
func TestSlowCallerIsNoStall(t *testing.T) {
	for _, protocol := range []string{"openai", "anthropic"} {
		t.Run(protocol, func(t *testing.T) {
			var body strings.Builder
			if protocol == "openai" {
				body.WriteString(roleChunk)
				for range 20 {
					body.WriteString(contentChunk)
				}
				body.WriteString(`data: {"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\ndata: [DONE]\n\n")
			} else {
				body.WriteString(anthropicEvents(aStart, aTextBlock))
				for range 20 {
					body.WriteString(anthropicEvents(aText))
				}
				body.WriteString(anthropicEvents(`{"type":"content_block_stop","index":0}`,
					`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":20}}`, `{"type":"message_stop"}`))
			}
			c := clientOf(t, protocol, sseHandler([]byte(body.String())), OpenAIOptions{FirstTokenTimeout: long, StallTimeout: short})
			s, err := c.Stream(context.Background(), testRequest())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			first, err := s.Next()
			if err != nil || first.Content == "" {
				t.Fatalf("first chunk %+v, %v", first, err)
			}
			// The slow caller: it deals with the first token for four
			// stall limits before it asks for the next.
			hold := 4 * short
			<-time.After(hold)
			rest, err := drain(t, s)
			if err != io.EOF || len(rest) < 20 {
				t.Fatalf("after the hold: %d chunks, then %v (class %v); want the rest of the answer and io.EOF", len(rest), err, classOf(t, err))
			}
			if gap := s.Stats().MaxGap; gap >= hold {
				t.Errorf("the longest gap between tokens is %v, the caller's hold (%v) in it", gap, hold)
			}
		})
	}
}
