package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// errorFixture is a recorded error answer and what it must become.
type errorFixture struct {
	fixture     string
	wantClass   Class
	wantStatus  int
	wantRetry   time.Duration
	wantMessage string
}

// errorFixtures are recorded error answers of OpenAI-compatible servers.
var errorFixtures = []errorFixture{
	{"error_400_context_length.txt", ClassContextLength, 400, 0, "maximum context length is 128000 tokens"},
	{"error_400_vllm_context.txt", ClassContextLength, 400, 0, "maximum context length is 8192 tokens"},
	{"error_400_bad_request.txt", ClassBadRequest, 400, 0, "'messages' must contain at least one message."},
	{"error_400_content_filter.txt", ClassContentPolicy, 400, 0, "content management policy"},
	{"error_401.txt", ClassAuth, 401, 0, "Incorrect API key provided: [redacted]."},
	{"error_402_openrouter.txt", ClassAuth, 402, 0, "Insufficient credits"},
	{"error_403_moderation.txt", ClassContentPolicy, 403, 0, "requires moderation"},
	{"error_404_model_not_found.txt", ClassNotFound, 404, 0, "The model `gpt-5-turbo` does not exist"},
	{"error_408.txt", ClassTimeout, 408, 0, "Request timed out"},
	{"error_413_plain.txt", ClassBadRequest, 413, 0, "request entity too large"},
	{"error_429_retry_after.txt", ClassRateLimited, 429, 7 * time.Second, "Rate limit reached"},
	{"error_429_retry_after_ms.txt", ClassRateLimited, 429, 1500 * time.Millisecond, "tokens per min"},
	{"error_429_insufficient_quota.txt", ClassAuth, 429, 0, "exceeded your current quota"},
	{"error_500.txt", ClassServer, 500, 0, "The server had an error"},
	{"error_500_empty.txt", ClassServer, 500, 0, "Internal Server Error"},
	{"error_502_html.txt", ClassServer, 502, 0, "Bad Gateway"},
	{"error_503.txt", ClassOverloaded, 503, 30 * time.Second, "currently overloaded"},
	{"error_529_overloaded.txt", ClassOverloaded, 529, 0, "Overloaded"},
}

// TestErrorAnswers serves each recorded error answer to every client's
// Stream and ListModels: every client reads error answers the same way.
func TestErrorAnswers(t *testing.T) {
	all := append(slices.Clip(errorFixtures), anthropicErrorFixtures(t)...)
	for _, p := range protocols {
		for _, tt := range all {
			t.Run(p.name+"/"+strings.TrimSuffix(tt.fixture, ".txt"), func(t *testing.T) {
				c, _ := serveTo(t, replayHandler(t, readFixture(t, tt.fixture)), p.newClient)
				s, err := c.Stream(context.Background(), testRequest())
				if err == nil {
					s.Close()
					t.Fatal("Stream succeeded on an error answer")
				}
				checkAnswerError(t, err, tt.wantClass, tt.wantStatus, tt.wantRetry, tt.wantMessage)
				ids, err := c.ListModels(context.Background())
				if err == nil {
					t.Fatalf("ListModels = %v on an error answer", ids)
				}
				checkAnswerError(t, err, tt.wantClass, tt.wantStatus, tt.wantRetry, tt.wantMessage)
			})
		}
	}
}

func checkAnswerError(t *testing.T, err error, class Class, status int, retry time.Duration, msg string) {
	t.Helper()
	e := AsError(err)
	if got := classOf(t, err); got != class {
		t.Errorf("class = %v, want %v (%v)", got, class, err)
	}
	if e.Status != status || e.RetryAfter != retry {
		t.Errorf("status %d retry %v, want %d %v", e.Status, e.RetryAfter, status, retry)
	}
	if !strings.Contains(e.Message, msg) {
		t.Errorf("message %q does not contain %q", e.Message, msg)
	}
	if strings.Contains(e.Message, "<") {
		t.Errorf("markup in message %q", e.Message)
	}
}

func TestStreamRetryAfterDate(t *testing.T) {
	clock := &testClock{}
	h := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", clockBase.Add(90*time.Second).Format(http.TimeFormat))
		http.Error(w, `{"error":{"message":"slow down","code":"rate_limit_exceeded"}}`, http.StatusTooManyRequests)
	}
	c, _ := newTestClient(t, http.HandlerFunc(h), OpenAIOptions{Now: clock.Now})
	_, err := c.Stream(context.Background(), testRequest())
	if e := AsError(err); e == nil || e.Class != ClassRateLimited || e.RetryAfter != 90*time.Second {
		t.Fatalf("err = %#v, want rate limited, retry after 90s", e)
	}
}

func TestStreamErrorBodyCapped(t *testing.T) {
	h := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		junk := strings.Repeat("0123456789abcdef", 64) // 1 KiB
		for range 1024 {                               // 1 MiB in all
			if _, err := io.WriteString(w, junk); err != nil {
				return
			}
		}
	}
	c, _ := newTestClient(t, http.HandlerFunc(h), OpenAIOptions{})
	_, err := c.Stream(context.Background(), testRequest())
	e := AsError(err)
	if e == nil || e.Class != ClassServer || len(e.Message) > maxMessage+len("…") {
		t.Fatalf("err = %v, want a server error with a clipped message", err)
	}
}

func TestListModels(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			headers := make(chan http.Header, 1)
			models := replayHandler(t, readFixture(t, p.models))
			h := func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || r.URL.Path != "/v1/models" {
					http.NotFound(w, r)
					return
				}
				headers <- r.Header.Clone()
				models(w, r)
			}
			c, _ := serveTo(t, http.HandlerFunc(h), p.newClient)
			ids, err := c.ListModels(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids, p.modelIDs) {
				t.Errorf("ids = %q, want %q", ids, p.modelIDs)
			}
			got := <-headers
			for k := range p.auth {
				if got.Get(k) != p.auth.Get(k) {
					t.Errorf("%s %q, want %q", k, got.Get(k), p.auth.Get(k))
				}
			}
			if a := got.Get("Accept"); a != "application/json" {
				t.Errorf("Accept %q", a)
			}
		})
	}
}

func TestListModelsShapes(t *testing.T) {
	tests := []struct {
		body      string
		want      string
		wantClass Class
	}{
		{`{"object":"list","data":[]}`, "[]", ClassOK},
		{`[{"id":"a"},{"id":"b"},{"object":"model"}]`, "[a b]", ClassOK},
		{`{"models":["a"]}`, "", ClassMalformed},
		{`not json`, "", ClassMalformed},
		{``, "", ClassMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			h := func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, tt.body) }
			c, _ := newTestClient(t, http.HandlerFunc(h), OpenAIOptions{})
			ids, err := c.ListModels(context.Background())
			if got := classOf(t, err); got != tt.wantClass {
				t.Fatalf("class = %v (%v), want %v", got, err, tt.wantClass)
			}
			if err == nil && fmt.Sprint(ids) != tt.want {
				t.Errorf("ids = %v, want %s", ids, tt.want)
			}
		})
	}
}

func TestListModelsTimeout(t *testing.T) {
	c, _ := newTestClient(t, http.HandlerFunc(blockUntilDone), OpenAIOptions{FirstTokenTimeout: 50 * time.Millisecond})
	_, err := c.ListModels(context.Background())
	if got := classOf(t, err); got != ClassTimeout {
		t.Fatalf("class = %v (%v), want timeout", got, err)
	}
}

// TestSecretsStayOut checks that no error text, from any path, holds the key:
// not the upstream's echo of it, not a URL that carries it.
func TestSecretsStayOut(t *testing.T) {
	var errs []error
	for _, tt := range errorFixtures {
		c, _ := newTestClient(t, replayHandler(t, readFixture(t, tt.fixture)), OpenAIOptions{})
		_, err := c.Stream(context.Background(), testRequest())
		errs = append(errs, err)
		_, err = c.ListModels(context.Background())
		errs = append(errs, err)
	}
	for _, f := range []string{"stream_inband_error.txt", "stream_malformed.txt", "stream_cut.txt"} {
		body := strings.ReplaceAll(string(readFixture(t, f)), "Provider returned error", "bad key "+testKey)
		body = strings.ReplaceAll(body, `"!"}`, `"`+testKey+`"}`)
		c, _ := newTestClient(t, sseHandler([]byte(body)), OpenAIOptions{})
		s, err := c.Stream(context.Background(), testRequest())
		if err != nil {
			t.Fatal(err)
		}
		_, err = drain(t, s)
		s.Close()
		errs = append(errs, err)
	}
	// A key in the base URL (some gateways want ?key=) must not show either.
	closed := closedAddr(t)
	for _, base := range []string{
		"http://" + closed + "/v1?key=" + testKey,
		"http://user:" + testKey + "@" + closed + "/v1",
		"http://" + closed + "/v1#" + testKey,
		"http://\x7f" + testKey,
	} {
		c := NewOpenAI(OpenAIOptions{BaseURL: base, APIKey: testKey})
		_, err := c.Stream(context.Background(), testRequest())
		errs = append(errs, err)
		_, err = c.ListModels(context.Background())
		errs = append(errs, err)
	}
	for _, err := range errs {
		if err == nil {
			t.Fatal("an error case succeeded")
		}
		for e := err; e != nil; e = errors.Unwrap(e) {
			for _, text := range []string{e.Error(), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e)} {
				if strings.Contains(text, testKey) {
					t.Errorf("the key leaked: %s", text)
				}
			}
		}
		if e := AsError(err); strings.Contains(e.Message, testKey) {
			t.Errorf("the key leaked into Message: %s", e.Message)
		}
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
