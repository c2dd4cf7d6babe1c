package provider

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Reasoning arrives as delta.reasoning (OpenRouter) or
// delta.reasoning_content (DeepSeek, vLLM); it is kept apart from the
// answer, and its chunks are tokens.
func TestReasoningIsKeptApart(t *testing.T) {
	body := roleChunk +
		`data: {"id":"c1","choices":[{"index":0,"delta":{"content":null,"reasoning":"Think"}}]}` + "\n\n" +
		`data: {"id":"c1","choices":[{"index":0,"delta":{"content":"","reasoning_content":"ing."}}]}` + "\n\n" +
		contentChunk +
		`data: {"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\ndata: [DONE]\n\n"
	c, _ := newTestClient(t, sseHandler([]byte(body)), OpenAIOptions{})
	s, chunks, err := streamAll(t, c)
	if err != io.EOF {
		t.Fatal(err)
	}
	var reasoning, content strings.Builder
	for _, c := range chunks {
		reasoning.WriteString(c.Reasoning)
		content.WriteString(c.Content)
	}
	if reasoning.String() != "Thinking." || content.String() != "Hi" {
		t.Errorf("reasoning %q, content %q; want %q, %q", reasoning.String(), content.String(), "Thinking.", "Hi")
	}
	if st := s.Stats(); st.OutputTokens != 3 || st.TTFT <= 0 {
		t.Errorf("stats %+v: want 3 tokens counted (no usage was sent) and a TTFT", st)
	}
}

// A model that thinks before answering is not silent: its reasoning meets
// the first-token limit, and only a pause after it is a stall.
func TestReasoningMeetsTheFirstTokenLimit(t *testing.T) {
	reasoning := `data: {"id":"c1","choices":[{"index":0,"delta":{"reasoning":"Let me think"}}]}` + "\n\n"
	// Uncounted, the reasoning would leave the stall limit unarmed and the
	// first-token limit would fire after a second; counted, the stall limit
	// fires short after it.
	c, _ := newTestClient(t, writeThenBlock(roleChunk+reasoning), OpenAIOptions{FirstTokenTimeout: time.Second, StallTimeout: short})
	_, chunks, err := streamAll(t, c)
	if got := classOf(t, err); got != ClassStall || len(chunks) != 1 || chunks[0].Reasoning != "Let me think" {
		t.Fatalf("chunks %+v, class %v (%v); want the reasoning, then a stall (not a first-token timeout)", chunks, got, err)
	}
}

// A whole completion's reasoning is kept too.
func TestCompletionReasoning(t *testing.T) {
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c1","choices":[{"index":0,"message":{"role":"assistant","content":"42","reasoning_content":"6 x 7"},"finish_reason":"stop"}]}`)
	}), OpenAIOptions{})
	_, chunks, err := streamAll(t, c)
	if err != io.EOF || len(chunks) != 1 || chunks[0].Reasoning != "6 x 7" || chunks[0].Content != "42" {
		t.Fatalf("chunks %+v, %v", chunks, err)
	}
}
