package provider

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseErrorBody(t *testing.T) {
	tests := []struct {
		name string
		body string
		want apiError
	}{
		{"openai", `{"error":{"message":"m","type":"invalid_request_error","param":null,"code":"context_length_exceeded"}}`,
			apiError{Message: "m", Type: "invalid_request_error", Code: "context_length_exceeded"}},
		{"openrouter", `{"error":{"code":402,"message":"m","metadata":{"error_type":"authentication"}}}`,
			apiError{Message: "m", Code: "402", CodeNum: 402, ErrorType: "authentication"}},
		{"null code", `{"error":{"message":"m","type":"server_error","code":null}}`, apiError{Message: "m", Type: "server_error"}},
		{"string error", `{"error":"model overloaded"}`, apiError{Message: "model overloaded"}},
		{"vllm top level", `{"object":"error","message":"m","type":"BadRequestError","param":null,"code":400}`,
			apiError{Message: "m", Type: "BadRequestError", Code: "400", CodeNum: 400}},
		{"fastapi detail", `{"detail":"Not Found"}`, apiError{Message: "Not Found"}},
		{"anthropic", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
			apiError{Message: "Overloaded", Type: "overloaded_error"}},
		{"message object", `{"error":{"message":{"detail":"x"}}}`, apiError{Message: `{"detail":"x"}`}},
		{"plain text", "upstream connect error\n", apiError{Message: "upstream connect error"}},
		{"html", "<html><body>502 Bad Gateway</body></html>", apiError{}},
		{"empty", "  ", apiError{}},
		{"broken json", `{"error":`, apiError{Message: `{"error":`}},
		{"json without error", `{"ok":false}`, apiError{Message: `{"ok":false}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseErrorBody([]byte(tt.body), testKey); got != tt.want {
				t.Errorf("parseErrorBody = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestClassifyHTTP(t *testing.T) {
	tests := []struct {
		status int
		e      apiError
		want   Class
	}{
		{400, apiError{}, ClassBadRequest},
		{413, apiError{}, ClassBadRequest},
		{422, apiError{}, ClassBadRequest},
		{400, apiError{Code: "context_length_exceeded"}, ClassContextLength},
		{400, apiError{Message: "This model's maximum context length is 8192 tokens"}, ClassContextLength},
		{413, apiError{Message: "prompt is too long: 215000 tokens > 200000 maximum"}, ClassContextLength},
		{400, apiError{Type: "invalid_request_error", Message: "input length and `max_tokens` exceed context limit: 197202 + 8192 > 200000, decrease input length or `max_tokens` and try again"}, ClassContextLength},
		{400, apiError{Type: "invalid_request_error", Message: "Your credit balance is too low to access the Anthropic API."}, ClassAuth},
		{400, apiError{Type: "invalid_request_error", Message: "You have reached your specified API usage limits. You will regain access on 2025-04-01 at 00:00 UTC."}, ClassAuth},
		{400, apiError{Code: "content_filter"}, ClassContentPolicy},
		{400, apiError{Type: "content_policy_violation"}, ClassContentPolicy},
		{403, apiError{Message: "Your input was flagged by moderation"}, ClassContentPolicy},
		{403, apiError{Message: "Project does not have access to model"}, ClassAuth},
		{401, apiError{}, ClassAuth},
		{402, apiError{}, ClassAuth},
		{404, apiError{}, ClassNotFound},
		{400, apiError{Code: "model_not_found"}, ClassNotFound},
		{408, apiError{}, ClassTimeout},
		{429, apiError{}, ClassRateLimited},
		{429, apiError{Code: "insufficient_quota"}, ClassAuth},
		{429, apiError{Message: "too many tokens per minute; maximum context is fine"}, ClassRateLimited},
		{500, apiError{}, ClassServer},
		{500, apiError{Message: "maximum context length"}, ClassServer}, // wording alone does not beat a 5xx
		{502, apiError{}, ClassServer},
		{503, apiError{}, ClassOverloaded},
		{529, apiError{}, ClassOverloaded},
		{504, apiError{}, ClassServer},
		{301, apiError{}, ClassServer},
		{418, apiError{}, ClassServer},
	}
	for _, tt := range tests {
		if got := classifyHTTP(tt.status, tt.e); got != tt.want {
			t.Errorf("classifyHTTP(%d, %+v) = %v, want %v", tt.status, tt.e, got, tt.want)
		}
	}
}

func TestClassifyInBand(t *testing.T) {
	tests := []struct {
		e    apiError
		want Class
	}{
		{apiError{Message: "Provider returned error", Code: "502", CodeNum: 502}, ClassServer},
		{apiError{Message: "Provider disconnected", Code: "server_error"}, ClassServer},
		{apiError{Message: "x"}, ClassServer},
		{apiError{Code: "429", CodeNum: 429}, ClassRateLimited},
		{apiError{Code: "503", CodeNum: 503}, ClassOverloaded},
		{apiError{Code: "rate_limit_exceeded"}, ClassRateLimited},
		{apiError{ErrorType: "provider_overloaded", Code: "502", CodeNum: 502}, ClassOverloaded},
		{apiError{ErrorType: "context_length_exceeded", Code: "400", CodeNum: 400}, ClassContextLength},
		{apiError{Message: "maximum context length exceeded"}, ClassContextLength},
		{apiError{Type: "overloaded_error"}, ClassOverloaded},
		// Anthropic's error types stand for the status each comes with.
		{apiError{Type: "rate_limit_error"}, ClassRateLimited},
		{apiError{Type: "authentication_error"}, ClassAuth},
		{apiError{Type: "billing_error"}, ClassAuth},
		{apiError{Type: "permission_error"}, ClassAuth},
		{apiError{Type: "not_found_error"}, ClassNotFound},
		{apiError{Type: "request_too_large"}, ClassBadRequest},
		{apiError{Type: "invalid_request_error"}, ClassBadRequest},
		{apiError{Type: "invalid_request_error", Message: "prompt is too long: 200001 tokens > 200000 maximum"}, ClassContextLength},
		{apiError{Type: "api_error"}, ClassServer},
		{apiError{Code: "content_filter"}, ClassContentPolicy},
		{apiError{Code: "200", CodeNum: 200}, ClassServer}, // an error that calls itself OK is still an error
	}
	for _, tt := range tests {
		if got := classifyInBand(tt.e); got != tt.want {
			t.Errorf("classifyInBand(%+v) = %v, want %v", tt.e, got, tt.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"none", nil, 0},
		{"seconds", map[string]string{"Retry-After": "7"}, 7 * time.Second},
		{"fractional seconds", map[string]string{"Retry-After": "0.5"}, 500 * time.Millisecond},
		{"http date", map[string]string{"Retry-After": "Sat, 01 Mar 2025 12:00:30 GMT"}, 30 * time.Second},
		{"date in the past", map[string]string{"Retry-After": "Sat, 01 Mar 2025 11:00:00 GMT"}, 0},
		{"milliseconds win", map[string]string{"Retry-After-Ms": "1500", "Retry-After": "2"}, 1500 * time.Millisecond},
		{"bad milliseconds fall back", map[string]string{"Retry-After-Ms": "soon", "Retry-After": "2"}, 2 * time.Second},
		{"negative", map[string]string{"Retry-After": "-3"}, 0},
		{"garbage", map[string]string{"Retry-After": "later"}, 0},
		{"capped", map[string]string{"Retry-After": "1e12"}, maxRetryAfter},
		{"capped ms", map[string]string{"Retry-After-Ms": "1e300"}, maxRetryAfter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			if got := retryAfter(h, now); got != tt.want {
				t.Errorf("retryAfter = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestScrub(t *testing.T) {
	got := scrub("  bad key "+testKey+" given \n", testKey)
	if strings.Contains(got, testKey) || got != "bad key [redacted] given" {
		t.Errorf("scrub = %q", got)
	}
	long := strings.Repeat("é", maxMessage)
	if got := scrub(long, ""); len(got) > maxMessage+len("…") || !strings.HasSuffix(got, "…") {
		t.Errorf("scrub did not clip: %d bytes", len(got))
	}
}

// A blip is worth one more try on the same endpoint; a struggling
// provider is not.
func TestBlip(t *testing.T) {
	for _, tt := range []struct {
		e    Error
		want bool
	}{
		{Error{Class: ClassConnect}, true},
		{Error{Class: ClassServer, Status: 500}, true},
		{Error{Class: ClassServer, Status: 502}, false},
		{Error{Class: ClassOverloaded, Status: 503}, false},
		{Error{Class: ClassServer}, false}, // an in-band error after the answer began
		{Error{Class: ClassTimeout}, false},
		{Error{Class: ClassRateLimited, Status: 429}, false},
	} {
		if got := tt.e.Blip(); got != tt.want {
			t.Errorf("%v: Blip() = %v, want %v", &tt.e, got, tt.want)
		}
	}
}
