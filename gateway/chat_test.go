package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/provider"
	"switchboard/routing"
	"switchboard/sim"
)

// answer is a chat.completion or one chunk of a stream, as a client reads it.
type answer struct {
	ID       string `json:"id"`
	Object   string `json:"object"`
	Model    string `json:"model"`
	Provider string `json:"provider"`
	Choices  []struct {
		Message struct {
			Role      string `json:"role"`
			Content   string `json:"content"`
			Reasoning string `json:"reasoning"`
		} `json:"message"`
		Delta struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int     `json:"prompt_tokens"`
		CompletionTokens int     `json:"completion_tokens"`
		TotalTokens      int     `json:"total_tokens"`
		Cost             float64 `json:"cost"`
		Details          struct {
			CachedTokens int `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
	} `json:"usage"`
	Trace *struct {
		Served   string `json:"served"`
		Attempts []struct {
			Provider string `json:"provider"`
			Outcome  string `json:"outcome"`
		} `json:"attempts"`
	} `json:"trace"`
	Error *struct {
		Code    int    `json:"code"`
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

func decodeAnswer(t *testing.T, s string) answer {
	t.Helper()
	var a answer
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		t.Fatalf("not a JSON answer: %v: %s", err, s)
	}
	return a
}

// stream is a streamed answer taken apart.
type stream struct {
	chunks   []answer // every data event but [DONE]
	comments []string
	content  string
	provider []string // of each content chunk
	finish   string
	last     answer // the usage and trace chunk, or an error chunk
	done     bool   // ended with [DONE]
}

func readStream(t *testing.T, resp *http.Response, body []byte) stream {
	t.Helper()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, Content-Type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var s stream
	data, comments := events(t, body)
	s.comments = comments
	for i, d := range data {
		if d == "[DONE]" {
			s.done = i == len(data)-1
			continue
		}
		c := decodeAnswer(t, d)
		if c.Object != "chat.completion.chunk" || c.ID == "" {
			t.Errorf("chunk %d: object %q id %q", i, c.Object, c.ID)
		}
		s.chunks = append(s.chunks, c)
		for _, ch := range c.Choices {
			if ch.Delta.Content != "" {
				s.content += ch.Delta.Content
				s.provider = append(s.provider, c.Provider)
			}
			if ch.FinishReason != nil {
				s.finish = *ch.FinishReason
			}
		}
		s.last = c
	}
	return s
}

func TestChatAnswersWithWhoServedAndWhy(t *testing.T) {
	f := newFixture(t, Options{}, map[string]upstream{"cheap": {profile: &sim.Profile{}, price: 1}, "dear": {profile: &sim.Profile{}, price: 50}})
	resp, body := f.post(t, "/v1/chat/completions", chatBody(false))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	a := decodeAnswer(t, string(body))
	if a.Object != "chat.completion" || a.Model != testModel || a.Provider != "cheap" || len(a.Choices) != 1 {
		t.Fatalf("answer %s", body)
	}
	c := a.Choices[0]
	if c.Message.Role != "assistant" || c.Message.Content == "" || c.FinishReason == nil || *c.FinishReason != "length" {
		t.Errorf("choice %+v (max_tokens 8 cuts the answer: finish length)", c)
	}
	if u := a.Usage; u == nil || u.CompletionTokens != 8 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("usage %+v", a.Usage)
	}
	if a.Trace == nil || a.Trace.Served != testModel+"@cheap" || len(a.Trace.Attempts) != 1 {
		t.Errorf("trace %+v", a.Trace)
	}
	h := resp.Header
	if h.Get("X-Switchboard-Provider") != "cheap" || !strings.HasPrefix(h.Get("X-Switchboard-Route"), "cheap: drawn at random") || h.Get("X-Switchboard-Attempts") != "1" {
		t.Errorf("headers %v", h)
	}

	// The same prompt streamed: the same answer, chunk by chunk.
	resp, sbody := f.post(t, "/api/v1/chat/completions", chatBody(true)) // OpenRouter's path
	s := readStream(t, resp, sbody)
	if s.content != c.Message.Content || s.finish != "length" || !s.done {
		t.Fatalf("streamed %q (finish %q, [DONE] %v); the whole answer was %q", s.content, s.finish, s.done, c.Message.Content)
	}
	if first := s.chunks[0].Choices[0].Delta; first.Role != "assistant" {
		t.Errorf("the first chunk's delta %+v has no role", first)
	}
	for i, p := range s.provider {
		if p != "cheap" {
			t.Errorf("content chunk %d says provider %q", i, p)
		}
	}
	if s.last.Usage == nil || s.last.Usage.CompletionTokens != 8 || len(s.last.Choices) != 0 || s.last.Trace == nil {
		t.Errorf("the last chunk should carry usage and the trace, with no choices: %+v", s.last)
	}
}

func TestChatFallsBackBeforeTheFirstToken(t *testing.T) {
	routed := make(chan *routing.Trace, 2) // what the dashboard's event log is given
	f := newFixture(t, Options{Routed: func(t *routing.Trace) { routed <- t }},
		map[string]upstream{"broken": {profile: &sim.Profile{ErrorRate: 1, ErrorStatuses: []int{502}}, price: 1},
			"fine": {profile: &sim.Profile{}, price: 50}})
	resp, body := f.post(t, "/v1/chat/completions", chatBody(false))
	if a := decodeAnswer(t, string(body)); resp.StatusCode != 200 || a.Provider != "fine" || len(a.Trace.Attempts) != 2 ||
		a.Trace.Attempts[0].Provider != "broken" || resp.Header.Get("X-Switchboard-Attempts") != "2" {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if tr := <-routed; tr.Served != testModel+"@fine" || len(tr.Attempts) != 2 {
		t.Errorf("Routed was given %+v", tr)
	}
	another := chatBody(true)
	another["session_id"] = "another conversation" // not stuck to fine, which served the first
	resp, body = f.post(t, "/v1/chat/completions", another)
	if s := readStream(t, resp, body); s.content == "" || strings.Join(s.provider, "") != strings.Repeat("fine", len(s.provider)) || !s.done {
		t.Errorf("streamed %q from %v", s.content, s.provider)
	}
	// The fallback shows in the metrics.
	_, m := f.get(t, "/metrics")
	if !strings.Contains(string(m), `switchboard_fallbacks_total{model="acme/chat-1"} 2`) {
		t.Errorf("metrics do not count 2 fallbacks:\n%s", grep(string(m), "fallbacks"))
	}
}

// Before anything was sent, a failing request gets its own HTTP status
// and an error answer, streaming or not.
func TestChatStreamFailingBeforeContentGetsItsStatus(t *testing.T) {
	f := newFixture(t, Options{}, map[string]upstream{"one": {profile: &sim.Profile{ErrorRate: 1, ErrorStatuses: []int{503}}, price: 1},
		"two": {profile: &sim.Profile{ErrorRate: 1, ErrorStatuses: []int{503}}, price: 2}})
	for i, streaming := range []bool{true, false} {
		resp, body := f.post(t, "/v1/chat/completions", chatBody(streaming))
		e := decodeError(t, resp, body, http.StatusBadGateway)
		// Every provider was overloaded: OpenRouter's provider_overloaded.
		// The first request asks each twice (a second round); the next
		// once, their breakers opened by a third failure in a row.
		if e.Error.Type != "provider_overloaded" || len(e.Error.Metadata.PreviousErrors) != 4-2*i || e.Trace == nil {
			t.Errorf("stream %v: %s", streaming, body)
		}
		for _, p := range e.Error.Metadata.PreviousErrors {
			if p.Status != 503 || p.Provider == "" {
				t.Errorf("previous error %+v", p)
			}
		}
	}
}

// After content was sent, a break with nowhere to resume ends the stream
// with OpenRouter's error chunk (status 200, finish_reason "error"); a
// client who wants the whole answer gets it from another provider.
func TestChatBrokenStreamAfterContent(t *testing.T) {
	f := newFixture(t, Options{}, map[string]upstream{"cuts": {profile: &sim.Profile{CutRate: 1}, price: 1},
		"whole": {profile: &sim.Profile{}, price: 50}})
	req := chatBody(true)
	req["max_tokens"] = 200
	resp, body := f.post(t, "/v1/chat/completions", req)
	s := readStream(t, resp, body)
	if s.content == "" || s.finish != "error" || !s.done {
		t.Fatalf("content %q, finish %q, [DONE] %v", s.content, s.finish, s.done)
	}
	var e *answer
	for i := range s.chunks {
		if s.chunks[i].Error != nil {
			e = &s.chunks[i]
		}
	}
	// The error type says what the provider did (OpenRouter's words); the
	// metrics say the answer broke off.
	if e == nil || e.Error.Type != "provider_unavailable" || e.Error.Code != http.StatusBadGateway || e.Provider != "cuts" {
		t.Errorf("error chunk %+v", e)
	}
	if _, m := f.get(t, "/metrics"); !strings.Contains(string(m), `outcome="stream_interrupted"`) {
		t.Errorf("metrics do not count the broken stream:\n%s", grep(string(m), "requests_total"))
	}
	resp, body = f.post(t, "/v1/chat/completions", chatBody(false))
	if a := decodeAnswer(t, string(body)); resp.StatusCode != 200 || a.Provider != "whole" {
		t.Errorf("whole answer: status %d: %s", resp.StatusCode, body)
	}
}

// A stream with no token yet opens after KeepAlive and sends comments, as
// OpenRouter does, so that proxies do not time it out.
func TestChatKeepAliveWhileWaitingForTheFirstToken(t *testing.T) {
	slow := sim.Profile{TTFT: sim.Latency{P50: 400 * time.Millisecond, P95: 400 * time.Millisecond}}
	f := newFixture(t, Options{KeepAlive: 20 * time.Millisecond}, map[string]upstream{"slow": {profile: &slow, price: 1}})
	resp, body := f.post(t, "/v1/chat/completions", chatBody(true))
	s := readStream(t, resp, body)
	if len(s.comments) == 0 || s.comments[0] != ": SWITCHBOARD PROCESSING" || s.content == "" || !s.done {
		t.Fatalf("comments %q, content %q", s.comments, s.content)
	}
	if i := strings.Index(string(body), ": SWITCHBOARD"); i > strings.Index(string(body), "data: ") {
		t.Error("keep-alive comments must come before the first data")
	}
}

// A client that goes away mid-stream stops the upstream call, and the
// provider is not blamed for it.
func TestChatClientGoneMidStream(t *testing.T) {
	slow := sim.Profile{TokensPerSecond: 20}
	f := newFixture(t, Options{}, map[string]upstream{"slow": {profile: &slow, price: 1}})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	body := chatBody(true)
	body["max_tokens"] = 100 // five seconds of answer
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL+"/v1/chat/completions", strings.NewReader(string(b)))
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(resp.Body)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("the stream ended before its first chunk: %v", err)
		}
		if strings.HasPrefix(line, "data: ") {
			break
		}
	}
	cancel()
	resp.Body.Close()
	f.srv.Close() // waits for the handler to end
	st, _ := f.mon.Snapshot().Endpoint(testModel + "@slow")
	if st.Successes != 0 || st.ProviderErrors != 0 || st.Errors[provider.ClassCanceled] != 1 {
		t.Errorf("after the client left: %d successes, %d provider errors, %d canceled; want one canceled attempt",
			st.Successes, st.ProviderErrors, st.Errors[provider.ClassCanceled])
	}
}

// grep returns the lines of s that contain sub, for failure messages.
func grep(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A reasoning model's thinking comes back in a whole answer, apart from
// the answer itself.
func TestChatAnswerCarriesReasoning(t *testing.T) {
	thinker := sim.Profile{ReasoningTokens: 6}
	f := newFixture(t, Options{}, map[string]upstream{"thinker": {profile: &thinker, price: 1}})
	resp, body := f.post(t, "/v1/chat/completions", chatBody(false))
	a := decodeAnswer(t, string(body))
	if resp.StatusCode != 200 || len(a.Choices) != 1 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	m := a.Choices[0].Message
	if n := len(strings.Fields(m.Reasoning)); n != 6 || m.Content == "" || strings.Contains(m.Content, m.Reasoning) {
		t.Errorf("reasoning %q (%d words), content %q; want 6 words of thinking apart from the answer", m.Reasoning, n, m.Content)
	}
}

// One garbage event that holds no text, in an otherwise healthy stream, is
// skipped: the client gets the whole answer, byte for byte what the
// upstream gives without the garbage, the trace notes the skip and
// /metrics counts it.
func TestOneBadEventIsSkipped(t *testing.T) {
	clean := newFixture(t, Options{}, map[string]upstream{"p": {profile: &sim.Profile{Seed: 3}, price: 1}})
	garbled := newFixture(t, Options{}, map[string]upstream{"p": {profile: &sim.Profile{Seed: 3, MalformedRate: 1}, price: 1}})
	for _, stream := range []bool{false, true} {
		_, want := clean.post(t, "/v1/chat/completions", chatBody(stream))
		resp, body := garbled.post(t, "/v1/chat/completions", chatBody(stream))
		var got, expected string
		if stream {
			got, expected = readStream(t, resp, body).content, readStream(t, resp, want).content
		} else {
			got, expected = decodeAnswer(t, string(body)).Choices[0].Message.Content, decodeAnswer(t, string(want)).Choices[0].Message.Content
		}
		if got == "" || got != expected {
			t.Errorf("stream %v: the client got %q; the clean upstream gives %q", stream, got, expected)
		}
		if !stream && !strings.Contains(string(body), `"skipped_events":1`) {
			t.Errorf("the trace does not note the skip: %s", body)
		}
	}
	if n := garbled.sims["p"].Stats().Garbled; n != 2 {
		t.Errorf("the upstream garbled %d streams, want 2", n)
	}
	if _, m := garbled.get(t, "/metrics"); !strings.Contains(string(m), `switchboard_skipped_events_total{model="acme/chat-1"} 2`) {
		t.Errorf("metrics:\n%s", grep(string(m), "skipped"))
	}
}

// A stream that a provider cuts mid-answer carries on, through the gateway,
// at the same endpoint from the text already sent; where that endpoint
// refuses the prefill, at the next that takes one. The client gets byte for
// byte the answer the provider gives uncut, once, and each upstream no more
// requests than the rule allows.
func TestCutStreamIsResumedThroughTheGateway(t *testing.T) {
	// An answer that ends by itself ("stop"), not at max_tokens: how many
	// tokens a cut stream had sent is known only roughly (its chunks), so a
	// continuation may run past a max_tokens the whole answer would have
	// stopped at, never short of it.
	req := chatBody(true)
	req["max_tokens"] = 300
	clean := newFixture(t, Options{}, map[string]upstream{"p": {profile: &sim.Profile{Seed: 5}, price: 1}})
	resp, body := clean.post(t, "/v1/chat/completions", req)
	want := readStream(t, resp, body)
	if want.finish != "stop" {
		t.Fatalf("the clean answer ended with %q, want stop", want.finish)
	}

	same := newFixture(t, Options{}, map[string]upstream{"p": {profile: &sim.Profile{Seed: 5}, price: 1, prefill: true}})
	same.sims["p"].SetMode(sim.ModeCut)
	resp, body = same.post(t, "/v1/chat/completions", req)
	if s := readStream(t, resp, body); s.content != want.content || s.finish != "stop" {
		t.Errorf("resumed on the same endpoint: got %q (finish %q), want %q", s.content, s.finish, want.content)
	}
	if st := same.sims["p"].Stats(); st.Requests != 2 || st.Prefills != 1 {
		t.Errorf("the upstream saw %d requests, %d of them continuations; want 2 and 1", st.Requests, st.Prefills)
	}

	// p cuts and refuses to carry on; q carries on, in its own words (a
	// simulator continues the conversation it is given, not another's
	// text): the client has p's text up to the cut, once, then q's, and
	// not the answer begun again.
	next := newFixture(t, Options{}, map[string]upstream{
		"p": {profile: &sim.Profile{Seed: 5, RefusePrefill: true}, price: 1, prefill: true},
		"q": {profile: &sim.Profile{Seed: 5}, price: 10, prefill: true}})
	next.sims["p"].SetMode(sim.ModeCut)
	resp, body = next.post(t, "/v1/chat/completions", req)
	s := readStream(t, resp, body)
	cut := 0 // p's text: the start of the answer it gives uncut
	for cut < min(len(s.content), len(want.content)) && s.content[cut] == want.content[cut] {
		cut++
	}
	if rest := s.content[cut:]; cut < 16 || s.finish != "stop" || rest == "" || strings.HasPrefix(rest, want.content[:16]) {
		t.Errorf("resumed after a refused prefill: got %q (finish %q); want p's start of %q, then q's rest", s.content, s.finish, want.content)
	}
	if p, q := next.sims["p"].Stats(), next.sims["q"].Stats(); p.Requests != 2 || q.Requests != 1 || q.Prefills != 1 {
		t.Errorf("p saw %d requests, q %d (%d continuations); want 2, 1 and 1", p.Requests, q.Requests, q.Prefills)
	}
}

// The turns of one conversation stick to the endpoint that served it, whose
// prompt cache then holds its earlier turns: the second turn's usage says
// how many prompt tokens were read from the cache, as OpenAI's API does.
func TestStickyConversationFindsItsCache(t *testing.T) {
	f := newFixture(t, Options{}, map[string]upstream{"a": {profile: &sim.Profile{}, price: 1}, "b": {profile: &sim.Profile{}, price: 1}})
	var route string // the last answer's X-Switchboard-Route
	turn := func(msgs ...map[string]any) answer {
		body := map[string]any{"model": testModel, "max_tokens": 8, "messages": msgs}
		resp, b := f.post(t, "/v1/chat/completions", body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		route = resp.Header.Get("X-Switchboard-Route")
		return decodeAnswer(t, string(b))
	}
	system, user := map[string]any{"role": "system", "content": "Be brief."}, map[string]any{"role": "user", "content": "Say hello."}
	first := turn(system, user)
	second := turn(system, user, map[string]any{"role": "assistant", "content": first.Choices[0].Message.Content},
		map[string]any{"role": "user", "content": "Again."})
	if second.Provider != first.Provider || !strings.HasPrefix(route, second.Provider+": sticky") {
		t.Fatalf("the second turn went to %s (first %s): %s", second.Provider, first.Provider, route)
	}
	if c := second.Usage.Details.CachedTokens; c != first.Usage.PromptTokens {
		t.Errorf("the second turn read %d prompt tokens from the cache, want the first turn's %d", c, first.Usage.PromptTokens)
	}
	if f.sims[first.Provider].Stats().Requests != 2 {
		t.Errorf("%s saw %d requests, want both turns", first.Provider, f.sims[first.Provider].Stats().Requests)
	}
}
