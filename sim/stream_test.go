package sim

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// openStream posts a streaming request that must be accepted.
func openStream(ctx context.Context, t *testing.T, c *http.Client, s *Server, body any) *http.Response {
	t.Helper()
	return openAIAPI.open(ctx, t, c, s, body)
}

func TestStreamShape(t *testing.T) {
	clock := newFakeClock()
	s := startServer(t, fastProfile("groq"), Options{Now: clock.Now})
	c := newClient(t)
	body := chatBody("Explain routing in two sentences.", true)
	body["stream_options"] = map[string]any{"include_usage": true}

	got := readSSE(openStream(t.Context(), t, c, s, body).Body)
	if got.err != nil {
		t.Fatalf("stream ended with %v", got.err)
	}
	if len(got.other) > 0 || len(got.comments) > 0 {
		t.Errorf("unexpected lines %q, comments %q", got.other, got.comments)
	}
	if n := len(got.data); n < 5 || got.data[n-1] != "[DONE]" {
		t.Fatalf("want at least 5 events ending in [DONE], got %q", got.data)
	}
	chunks := parseChunks(t, got.data)

	id := chunks[0].ID
	for i, c := range chunks {
		if c.ID != id || !strings.HasPrefix(id, "chatcmpl-") || c.Object != "chat.completion.chunk" ||
			c.Model != testModel || c.Created != clock.Now().Unix() {
			t.Errorf("chunk %d header = %q %q %q %d", i, c.ID, c.Object, c.Model, c.Created)
		}
	}
	first := chunks[0].Choices
	if len(first) != 1 || first[0].Delta.Role != "assistant" || first[0].Delta.Content == nil ||
		*first[0].Delta.Content != "" || first[0].FinishReason != nil {
		t.Errorf("first chunk = %+v, want the assistant role with empty content", first)
	}

	last := chunks[len(chunks)-1]
	if len(last.Choices) != 0 || last.Usage == nil {
		t.Fatalf("last chunk = %+v, want usage and no choices", last)
	}
	finish := chunks[len(chunks)-2]
	if len(finish.Choices) != 1 || finish.Choices[0].FinishReason == nil || *finish.Choices[0].FinishReason != "stop" ||
		finish.Choices[0].Delta.Content != nil {
		t.Errorf("finish chunk = %+v, want finish_reason stop and an empty delta", finish.Choices)
	}
	if reasons := finishReasons(chunks); len(reasons) != 1 {
		t.Errorf("finish reasons = %q, want exactly one", reasons)
	}
	for i, c := range chunks[:len(chunks)-1] {
		if c.Usage != nil {
			t.Errorf("chunk %d carries usage before the last chunk", i)
		}
	}

	text := streamText(chunks)
	if !sampleText("groq", text) {
		t.Errorf("streamed text does not read as groq's sample text: %q", text)
	}
	words := len(strings.Fields(text))
	if u := last.Usage; u.CompletionTokens != words || u.TotalTokens != u.PromptTokens+u.CompletionTokens || u.PromptTokens == 0 {
		t.Errorf("usage = %+v for %d words", *u, words)
	}

	// The same prompt without streaming carries the same words.
	if json := complete(t, c, s, chatBody("Explain routing in two sentences.", false)); json.Choices[0].Message.Content != text {
		t.Errorf("JSON answer %q differs from the streamed %q", json.Choices[0].Message.Content, text)
	}
	if st := s.Stats(); st.OK != 2 || st.Requests != 2 {
		t.Errorf("stats = %+v, want 2 ok", st)
	}
}

func TestStreamUsageWithoutAsking(t *testing.T) {
	s := startServer(t, fastProfile("groq"), Options{})
	body := chatBody("hi", true)
	body["max_tokens"] = 3
	got := readSSE(openStream(t.Context(), t, newClient(t), s, body).Body)
	chunks := parseChunks(t, got.data)
	if u := chunks[len(chunks)-1].Usage; u == nil || u.CompletionTokens != 3 {
		t.Errorf("last chunk usage = %+v, want 3 completion tokens", u)
	}
	if reasons := finishReasons(chunks); !slices.Equal(reasons, []string{"length"}) {
		t.Errorf("finish reasons = %q, want [length]", reasons)
	}
}

func TestStreamKeepAliveBeforeFirstToken(t *testing.T) {
	p := fastProfile("vertex")
	p.TTFT = Latency{P50: 80 * time.Millisecond, P95: 80 * time.Millisecond}
	s := startServer(t, p, Options{KeepAlive: 5 * time.Millisecond})

	got := readSSE(openStream(t.Context(), t, newClient(t), s, chatBody("hi", true)).Body)
	if got.err != nil {
		t.Fatal(got.err)
	}
	if len(got.comments) == 0 {
		t.Fatal("no keep-alive comment during an 80ms wait with a 5ms interval")
	}
	for _, c := range got.comments {
		if c != ": keep-alive" {
			t.Errorf("comment %q, want \": keep-alive\"", c)
		}
	}
	if i, j := slices.Index(got.order, "data"), slices.Index(got.order, "comment"); j > i || slices.Contains(got.order[i:], "comment") {
		t.Errorf("keep-alives must come only before the first data line: %q", got.order)
	}
}

// pacedProfile sends its first token at once, then 5 tokens every 10ms.
func pacedProfile(name string) Profile {
	p := fastProfile(name)
	p.TTFT = Latency{}
	p.TokensPerSecond = 500
	return p
}

// reasoningProfile is a paced reasoning model that thinks for 7 tokens.
func reasoningProfile(name string) Profile {
	p := pacedProfile(name)
	p.ReasoningTokens = 7
	return p
}

func TestStreamPacing(t *testing.T) {
	testPacing(t, openAIAPI, func(t *testing.T, got sseRead) (sizes []int) {
		for _, c := range parseChunks(t, got.data) {
			if len(c.Choices) == 1 && c.Choices[0].Delta.Content != nil && *c.Choices[0].Delta.Content != "" {
				sizes = append(sizes, len(strings.Fields(*c.Choices[0].Delta.Content)))
			}
		}
		return sizes
	})
}

// testPacing checks the pace of a stream through API a: 20 tokens at 500 a
// second go out as four pieces of 5, 10ms apart. sizes counts the words of
// each piece of the answer the stream sent.
func testPacing(t *testing.T, a api, sizes func(*testing.T, sseRead) []int) {
	s := startServer(t, pacedProfile("cerebras"), Options{})
	body := a.body(true)
	body["max_tokens"] = minAnswerTokens // every answer is at least this long

	start := time.Now()
	got := readSSE(a.open(t.Context(), t, newClient(t), s, body).Body)
	elapsed := time.Since(start)
	if got.err != nil {
		t.Fatal(got.err)
	}
	if sizes := sizes(t, got); !slices.Equal(sizes, []int{5, 5, 5, 5}) {
		t.Errorf("tokens per piece = %v, want four pieces of 5", sizes)
	}
	// Three gaps of 10ms at least; only a lower bound is safe on a busy machine.
	if elapsed < 30*time.Millisecond {
		t.Errorf("20 tokens at 500/s took %v, want at least 30ms", elapsed)
	}
}

func TestStreamCut(t *testing.T) {
	testCut(t, openAIAPI, func(t *testing.T, got sseRead) {
		if slices.Contains(got.data, "[DONE]") {
			t.Error("a cut stream sent [DONE]")
		}
		chunks := parseChunks(t, got.data)
		if reasons := finishReasons(chunks); len(reasons) != 0 {
			t.Errorf("a cut stream sent finish reasons %q", reasons)
		}
		if streamText(chunks) == "" {
			t.Error("the stream was cut before any content; want a cut mid-answer")
		}
	})
}

// testCut checks cuts through API a: a stream ends mid-answer without its
// ending, and a JSON request loses its connection before any answer. check
// judges what the stream sent before the cut.
func testCut(t *testing.T, a api, check func(*testing.T, sseRead)) {
	p := fastProfile("novita")
	p.CutRate = 1
	s := startServer(t, p, Options{})
	c := newClient(t)

	got := readSSE(a.open(t.Context(), t, c, s, a.body(true)).Body)
	if !errors.Is(got.err, io.ErrUnexpectedEOF) {
		t.Errorf("reading a cut stream ended with %v, want unexpected EOF", got.err)
	}
	check(t, got)

	if resp, err := a.post(t.Context(), t, c, s, a.body(false)); err == nil {
		resp.Body.Close()
		t.Errorf("a cut JSON request got status %d; want a transport error", resp.StatusCode)
	}
	if st := s.Stats(); st.Cut != 2 {
		t.Errorf("stats = %+v, want 2 cut", st)
	}
}

func TestStreamStall(t *testing.T) {
	testStall(t, openAIAPI, func(t *testing.T, got sseRead) {
		chunks := parseChunks(t, got.data)
		if slices.Contains(got.data, "[DONE]") || len(finishReasons(chunks)) != 0 {
			t.Error("a stalled stream finished")
		}
		if streamText(chunks) == "" {
			t.Error("the stream stalled before any content; want a stall mid-answer")
		}
	})
}

// testStall checks both ways a stream comes to stall, by the profile and
// forced, through API a: a stream goes silent mid-answer and a JSON request
// hangs, each until the client's own deadline, as it would be for a real
// caller. check judges what the stream sent before the silence.
func testStall(t *testing.T, a api, check func(*testing.T, sseRead)) {
	tests := []struct {
		name    string
		profile func(*Profile)
		mode    Mode
	}{
		{"profile", func(p *Profile) { p.StallRate = 1 }, ModeNormal},
		{"mode", func(*Profile) {}, ModeStall},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fastProfile("fireworks")
			tt.profile(&p)
			// Keep-alives as often as can be, to show none goes out in a stall.
			s := startServer(t, p, Options{KeepAlive: time.Millisecond})
			s.SetMode(tt.mode)
			c := newClient(t)

			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			got := readSSE(a.open(ctx, t, c, s, a.body(true)).Body)
			if !errors.Is(got.err, context.DeadlineExceeded) {
				t.Errorf("reading a stalled stream ended with %v, want the client's deadline", got.err)
			}
			check(t, got)

			ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			if _, err := a.post(ctx, t, c, s, a.body(false)); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("a stalled JSON request ended with %v, want the client's deadline", err)
			}

			// Close waits for every handler, so after it the stalls are counted.
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if st := s.Stats(); st.Stalled != 2 {
				t.Errorf("stats = %+v, want 2 stalled", st)
			}
		})
	}
}

// TestClientLeavingEndsHandler checks that a stalled handler notices its
// client leaving, without waiting for Close.
func TestClientLeavingEndsHandler(t *testing.T) {
	p := fastProfile("fireworks")
	p.StallRate = 1
	ended := make(chan outcome, 1)
	s := startServer(t, p, Options{ended: func(o outcome) { ended <- o }})

	ctx, cancel := context.WithCancel(t.Context())
	body := chatBody("hi", true)
	body["max_tokens"] = 2 // one token, then the stall
	resp := openStream(ctx, t, newClient(t), s, body)
	readUntilContent(t, resp.Body)
	cancel()
	select {
	case o := <-ended:
		if o != outcomeStalled {
			t.Errorf("outcome = %v, want stalled", o)
		}
	case <-time.After(5 * time.Second): // a guard against hanging, not a wait
		t.Fatal("the handler did not end after its client left")
	}
}

// A reasoning model thinks first: its reasoning streams as delta.reasoning,
// paced like the answer and never in the same chunk, then the answer; both
// count in completion_tokens. A JSON answer carries it in message.reasoning.
func TestStreamReasoning(t *testing.T) {
	s := startServer(t, reasoningProfile("deepseek"), Options{})
	got := readSSE(openStream(t.Context(), t, newClient(t), s, chatBody("hi", true)).Body)
	if got.err != nil {
		t.Fatal(got.err)
	}
	var kinds []string
	var thinking, answer []string
	var usage *wireUsage
	for _, c := range parseChunks(t, got.data) {
		if c.Usage != nil {
			usage = c.Usage
		}
		if len(c.Choices) != 1 {
			continue
		}
		d := c.Choices[0].Delta
		switch {
		case d.Reasoning != "" && d.Content != nil:
			t.Fatalf("a chunk mixes reasoning and content: %+v", d)
		case d.Reasoning != "":
			kinds = append(kinds, "r")
			thinking = append(thinking, strings.Fields(d.Reasoning)...)
		case d.Content != nil && *d.Content != "":
			kinds = append(kinds, "c")
			answer = append(answer, strings.Fields(*d.Content)...)
		}
	}
	if k := strings.Join(kinds, ""); !strings.HasPrefix(k, "rrc") || strings.Contains(strings.TrimPrefix(k, "rr"), "r") {
		t.Errorf("chunk kinds %q: want 2 of reasoning (5+2 tokens), then only content", k)
	}
	if len(thinking) != 7 || len(answer) < minAnswerTokens {
		t.Errorf("%d reasoning tokens and %d of answer; want 7 and at least %d", len(thinking), len(answer), minAnswerTokens)
	}
	if usage == nil || usage.CompletionTokens != 7+len(answer) {
		t.Errorf("usage %+v; want completion_tokens %d", usage, 7+len(answer))
	}

	whole := complete(t, newClient(t), s, chatBody("hi", false))
	if m := whole.Choices[0].Message; strings.Join(strings.Fields(m.Reasoning), " ") != strings.Join(thinking, " ") || m.Content == "" {
		t.Errorf("JSON answer: reasoning %q, content %q; want the streamed reasoning %q", m.Reasoning, m.Content, thinking)
	}
}
