package provider

import (
	"context"
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
