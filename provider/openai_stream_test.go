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

// TestStreamFixtures serves each recorded stream from a loopback server and
// checks what the client makes of it.
func TestStreamFixtures(t *testing.T) {
	const hello = "Hello! How can I help you today?"
	usage := &Usage{PromptTokens: 19, CompletionTokens: 9, TotalTokens: 28}
	tests := []struct {
		fixture string
		want    streamWant
	}{
		{"stream_normal.txt", streamWant{content: hello, finish: "stop", usage: usage, tokens: 9}},
		{"stream_keepalive_crlf.txt", streamWant{content: hello, finish: "stop", usage: usage, tokens: 9}},
		{"stream_cr.txt", streamWant{content: hello, finish: "stop", usage: usage, tokens: 9}},
		{"stream_no_done.txt", streamWant{content: "Hello! How", finish: "length", tokens: 3}},
		{"stream_multiline.txt", streamWant{content: "multi-line", finish: "stop", tokens: 2}},
		{"stream_cut.txt", streamWant{content: "Hello! How can", tokens: 4, class: ClassStreamCut,
			message: "ended before a finish reason"}},
		{"stream_cut_midline.txt", streamWant{content: "Hello", tokens: 1, class: ClassStreamCut}},
		{"stream_malformed.txt", streamWant{content: "Hello", tokens: 1, class: ClassMalformed,
			message: "stream chunk is not valid"}},
		{"stream_inband_error.txt", streamWant{content: "The answer", tokens: 2, class: ClassServer,
			message: "error 502 in stream: Provider returned error"}},
		{"stream_event_error.txt", streamWant{content: "Hi", tokens: 1, class: ClassRateLimited,
			message: "Rate limit reached"}},
		{"stream_finish_error.txt", streamWant{content: "Hel", tokens: 1, class: ClassServer,
			message: `finish_reason "error"`}},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.fixture, ".txt"), func(t *testing.T) {
			c, _ := newTestClient(t, sseHandler(readFixture(t, tt.fixture)), OpenAIOptions{})
			s, chunks, err := streamAll(t, c)
			checkStreamEnd(t, s, chunks, err, tt.want)
		})
	}
}

func TestStreamChunkFields(t *testing.T) {
	c, _ := newTestClient(t, sseHandler(readFixture(t, "stream_normal.txt")), OpenAIOptions{})
	s, err := c.Stream(context.Background(), testRequest())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	chunks, err := drain(t, s)
	if err != io.EOF || len(chunks) != 11 {
		t.Fatalf("%d chunks, %v; want 9 content + finish + usage, io.EOF", len(chunks), err)
	}
	first, last := chunks[0], chunks[10]
	if first.Content != "Hello" {
		t.Errorf("first chunk %+v", first)
	}
	want := Usage{PromptTokens: 19, CompletionTokens: 9, TotalTokens: 28}
	if last.Usage == nil || *last.Usage != want || last.Content != "" {
		t.Errorf("usage chunk %+v, want usage %+v only", last, want)
	}
}

// TestStreamRequest checks what goes on the wire.
func TestStreamRequest(t *testing.T) {
	temp := 0.2
	tests := []struct {
		name     string
		key      string
		req      Request
		header   http.Header
		wantBody string
		wantAuth string
	}{
		{
			name:     "minimal",
			key:      "-", // none
			req:      testRequest(),
			wantBody: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello."}],"stream":true,"stream_options":{"include_usage":true}}`,
		},
		{
			name: "all fields",
			key:  testKey,
			req: Request{Model: "llama-3.3-70b-versatile", MaxTokens: 64, Temperature: &temp,
				Messages: []Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}}},
			header:   http.Header{"Http-Referer": {"https://switchboard.example"}, "X-Title": {"Switchboard"}},
			wantBody: `{"model":"llama-3.3-70b-versatile","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true},"max_tokens":64,"temperature":0.2}`,
			wantAuth: "Bearer " + testKey,
		},
		{
			name: "further parameters pass through",
			key:  testKey,
			req: Request{Model: "m", Messages: []Message{{Role: "user", Content: "Hi"}}, Extra: map[string]json.RawMessage{
				"top_p": json.RawMessage(`0.9`), "stop": json.RawMessage(`["\n\n"]`), "response_format": json.RawMessage(`{"type":"json_object"}`)}},
			wantBody: `{"model":"m","messages":[{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true},"response_format":{"type":"json_object"},"stop":["\n\n"],"top_p":0.9}`,
			wantAuth: "Bearer " + testKey,
		},
		{
			name:     "the end user as OpenAI's user",
			key:      testKey,
			req:      Request{Model: "m", Messages: []Message{{Role: "user", Content: "Hi"}}, User: "u-42"},
			wantBody: `{"model":"m","messages":[{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true},"user":"u-42"}`,
			wantAuth: "Bearer " + testKey,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type seen struct {
				method, path, auth, accept, ctype, referer string
				body                                       []byte
			}
			got := make(chan seen, 1)
			h := func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got <- seen{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Accept"),
					r.Header.Get("Content-Type"), r.Header.Get("Http-Referer"), b}
				sseHandler(readFixture(t, "stream_normal.txt"))(w, r)
			}
			o := OpenAIOptions{APIKey: tt.key, Header: tt.header}
			c, srv := newTestClient(t, http.HandlerFunc(h), o)
			if tt.key == "-" {
				c = NewOpenAI(OpenAIOptions{BaseURL: srv.URL + "/v1/"}) // trailing slash on purpose
				t.Cleanup(c.CloseIdleConnections)
			}
			s, err := c.Stream(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := drain(t, s); err != io.EOF {
				t.Fatal(err)
			}
			r := <-got
			if r.method != http.MethodPost || r.path != "/v1/chat/completions" {
				t.Errorf("request %s %s", r.method, r.path)
			}
			if r.auth != tt.wantAuth || r.accept != "text/event-stream" || r.ctype != "application/json" {
				t.Errorf("headers: Authorization %q Accept %q Content-Type %q", r.auth, r.accept, r.ctype)
			}
			if tt.header != nil && r.referer != tt.header.Get("Http-Referer") {
				t.Errorf("extra header lost: %q", r.referer)
			}
			var a, b any
			if json.Unmarshal(r.body, &a) != nil || json.Unmarshal([]byte(tt.wantBody), &b) != nil ||
				fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("body\n got %s\nwant %s", r.body, tt.wantBody)
			}
			// Decoding keeps only the last of a repeated key; count them.
			if n := strings.Count(string(r.body), `"user":`); n > 1 {
				t.Errorf("body has %d user keys: %s", n, r.body)
			}
		})
	}
}

// Extra cannot replace what the client sets, nor send broken JSON, with
// any client.
func TestStreamRequestExtraChecked(t *testing.T) {
	for _, p := range protocols {
		c, _ := serveTo(t, http.HandlerFunc(blockUntilDone), p.newClient)
		for key, v := range map[string]string{"stream": `false`, "max_tokens": `5`, "top_p": `0.9,`} {
			req := testRequest()
			req.Extra = map[string]json.RawMessage{key: json.RawMessage(v)}
			_, err := c.Stream(context.Background(), req)
			if got := classOf(t, err); got != ClassBadRequest || !strings.Contains(err.Error(), key) {
				t.Errorf("%s: %s = %s: class %v (%v); want a bad request naming it", p.name, key, v, got, err)
			}
		}
	}
}

// TestStreamStats drives a stream step by step against a test clock.
func TestStreamStats(t *testing.T) {
	clock := &testClock{}
	steps := make(chan string)
	h := func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so that the server notices a client that leaves
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for {
			select {
			case ev, ok := <-steps:
				if !ok {
					return
				}
				io.WriteString(w, "data: "+ev+"\n\n")
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
	}
	c, _ := newTestClient(t, http.HandlerFunc(h), OpenAIOptions{Now: clock.Now})
	s, err := c.Stream(context.Background(), testRequest())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	next := func(ev string) Chunk {
		t.Helper()
		steps <- ev
		ch, err := s.Next()
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		return ch
	}
	if st := s.Stats(); !st.Start.Equal(clockBase) || st.TTFT != 0 || st.Duration != 0 {
		t.Fatalf("stats before any chunk %+v", st)
	}
	clock.Advance(100 * time.Millisecond)
	steps <- `{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}` // not a first token
	next(`{"choices":[{"index":0,"delta":{"content":"Hel"}}]}`)
	clock.Advance(200 * time.Millisecond)
	next(`{"choices":[{"index":0,"delta":{"content":"lo"}}]}`)
	if st := s.Stats(); st.TTFT != 100*time.Millisecond || st.OutputTokens != 2 || st.Duration != 0 {
		t.Fatalf("stats mid-stream %+v, want TTFT 100ms, 2 tokens counted, no duration yet", st)
	}
	next(`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`)
	next(`{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":42,"total_tokens":47}}`)
	clock.Advance(50 * time.Millisecond)
	close(steps) // the server ends the body without [DONE]
	if _, err := s.Next(); err != io.EOF {
		t.Fatalf("end = %v, want io.EOF after a finish reason", err)
	}
	if st := s.Stats(); st.TTFT != 100*time.Millisecond || st.Duration != 350*time.Millisecond || st.OutputTokens != 42 {
		t.Fatalf("final stats %+v, want TTFT 100ms, duration 350ms, 42 tokens from usage", st)
	}
}

// TestStreamNonStreamingAnswer covers servers that ignore "stream": true and
// answer with one chat.completion.
func TestStreamNonStreamingAnswer(t *testing.T) {
	completion := readFixture(t, "ok_completion_json.txt")
	_, body := splitFixture(t, completion)
	sniffed := func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil // none at all: the client must look at the body
		w.Write(body)
	}
	for name, h := range map[string]http.HandlerFunc{
		"application/json": replayHandler(t, completion),
		"sniffed":          sniffed,
	} {
		t.Run(name, func(t *testing.T) {
			c, _ := newTestClient(t, h, OpenAIOptions{})
			s, err := c.Stream(context.Background(), testRequest())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			chunks, err := drain(t, s)
			if err != io.EOF || len(chunks) != 1 {
				t.Fatalf("%d chunks, %v; want one chunk and io.EOF", len(chunks), err)
			}
			ch := chunks[0]
			if ch.Content != "Hello! How can I help you today?" || ch.FinishReason != "stop" ||
				ch.Usage == nil || ch.Usage.CompletionTokens != 9 {
				t.Errorf("chunk %+v", ch)
			}
			if st := s.Stats(); st.OutputTokens != 9 {
				t.Errorf("OutputTokens = %d, want 9", st.OutputTokens)
			}
		})
	}
}

func TestStreamJSONErrorWithStatus200(t *testing.T) {
	c, _ := newTestClient(t, replayHandler(t, readFixture(t, "ok_json_error.txt")), OpenAIOptions{})
	s, err := c.Stream(context.Background(), testRequest())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Next()
	if got := classOf(t, err); got != ClassServer || !strings.Contains(err.Error(), "Provider returned error") {
		t.Fatalf("err = %v (%v), want a server error with the upstream's message", err, got)
	}
}

func TestStreamHTMLAnswer(t *testing.T) {
	h := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<html><body>Please log in to the hotel Wi-Fi</body></html>")
	}
	c, _ := newTestClient(t, http.HandlerFunc(h), OpenAIOptions{})
	s, err := c.Stream(context.Background(), testRequest())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Next(); classOf(t, err) != ClassMalformed {
		t.Fatalf("err = %v, want malformed", err)
	}
}
