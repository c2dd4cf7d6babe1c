package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMaxAnswerEndlessStream: an upstream that streams content without
// end is cut off once the answer passes Request.MaxAnswer, as malformed,
// and its connection is released: the server sees its request end.
func TestMaxAnswerEndlessStream(t *testing.T) {
	const limit = 1000
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			start, chunk := contentChunk, contentChunk
			if p.name == "anthropic" {
				start, chunk = anthropicEvents(aStart, aTextBlock), anthropicEvents(aText)
			}
			released := make(chan struct{})
			c, _ := serveTo(t, endless(start, chunk, released), p.newClient)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req := testRequest()
			req.MaxAnswer = limit
			s, err := c.Stream(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			chunks, err := drain(t, s)
			got := 0
			for _, ch := range chunks {
				got += len(ch.Content)
			}
			if classOf(t, err) != ClassMalformed || !strings.Contains(err.Error(), "answer longer than 1000 bytes") || got > limit {
				t.Fatalf("%d bytes, then %v; want at most %d bytes, then malformed, naming the limit", got, err, limit)
			}
			select {
			case <-released:
			case <-time.After(10 * time.Second):
				t.Fatal("the connection was not released")
			}
		})
	}
}

// TestMaxAnswerWholeAnswer: a whole (non-streamed) answer longer than
// Request.MaxAnswer is malformed, on both protocols, whether its body is
// read to its end or only up to the bound derived from the limit.
func TestMaxAnswerWholeAnswer(t *testing.T) {
	const limit = 1000
	whole := map[string]func(text string) any{
		"openai": func(text string) any {
			return map[string]any{"id": "c1", "choices": []any{map[string]any{"index": 0,
				"message": map[string]string{"role": "assistant", "content": text}, "finish_reason": "stop"}}}
		},
		"anthropic": func(text string) any {
			return map[string]any{"id": "msg_1", "type": "message", "stop_reason": "end_turn",
				"content": []any{map[string]string{"type": "text", "text": text}}}
		},
	}
	for _, p := range protocols {
		for _, tt := range []struct {
			size int
			want string // in the error; "" for success
		}{
			{limit, ""},
			{limit + 1, "answer longer than 1000 bytes"},
			{1 << 20, "longer than"},
		} {
			t.Run(fmt.Sprintf("%s/%d", p.name, tt.size), func(t *testing.T) {
				body, err := json.Marshal(whole[p.name](strings.Repeat("x", tt.size)))
				if err != nil {
					t.Fatal(err)
				}
				h := func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					w.Write(body)
				}
				c, _ := serveTo(t, http.HandlerFunc(h), p.newClient)
				req := testRequest()
				req.MaxAnswer = limit
				_, chunks, err := streamOf(t, c, req)
				switch {
				case tt.want == "" && (err != io.EOF || len(chunks) != 1 || len(chunks[0].Content) != limit):
					t.Fatalf("%d chunks, %v; want the whole answer", len(chunks), err)
				case tt.want != "" && (classOf(t, err) != ClassMalformed || !strings.Contains(err.Error(), tt.want) || len(chunks) != 0):
					t.Fatalf("%d chunks, %v; want malformed, saying %q", len(chunks), err, tt.want)
				}
			})
		}
	}
}
