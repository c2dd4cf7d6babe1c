package provider

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// apiError is an error object as OpenAI-compatible servers send it, in an
// error body or inside a stream. It gathers the shapes seen in the wild:
// OpenAI's {"error":{"message","type","code","param"}}, OpenRouter's
// {"error":{"code":<int>,"message","metadata":{"error_type"}}}, vLLM's
// top-level {"message","type","code"} and FastAPI's {"detail": "..."}.
// Its texts are scrubbed as they are parsed (see scrubbed): whatever uses
// them, to classify or to show, has them without the key and clipped.
type apiError struct {
	Message   string
	Type      string // OpenAI's "type", e.g. "invalid_request_error"
	Code      string // a string code ("context_length_exceeded"), or a numeric one in decimal
	CodeNum   int    // a numeric code (OpenRouter's HTTP-like status), 0 if none
	ErrorType string // OpenRouter's stable metadata.error_type
}

// wireErrorObject is the JSON form of one error object.
type wireErrorObject struct {
	Message  json.RawMessage `json:"message"`
	Type     string          `json:"type"`
	Code     json.RawMessage `json:"code"`
	Metadata struct {
		ErrorType string `json:"error_type"`
	} `json:"metadata"`
}

// wireErrorBody is the JSON form of an error answer.
type wireErrorBody struct {
	Error  json.RawMessage `json:"error"`
	Detail json.RawMessage `json:"detail"`
	wireErrorObject
}

// parseAPIError reads an error object from raw JSON (the value of an "error"
// field: an object, or a bare string), scrubbed of key. ok is false if raw
// holds neither.
func parseAPIError(raw json.RawMessage, key string) (apiError, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return apiError{}, false
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return apiError{}, false
		}
		return apiError{Message: s}.scrubbed(key), true
	case '{':
		var w wireErrorObject
		if json.Unmarshal(raw, &w) != nil {
			return apiError{}, false
		}
		return fromWire(w).scrubbed(key), true
	}
	return apiError{}, false
}

// scrubbed returns e with its texts fit to show: the message scrubbed, the
// labels scrubbed and clipped short. A real label comes out as it went in,
// so classification is not changed by it.
func (e apiError) scrubbed(key string) apiError {
	e.Message = scrub(e.Message, key)
	e.Type, e.Code, e.ErrorType = scrubLabel(e.Type, key), scrubLabel(e.Code, key), scrubLabel(e.ErrorType, key)
	return e
}

func fromWire(w wireErrorObject) apiError {
	e := apiError{Message: textOf(w.Message), Type: w.Type, ErrorType: w.Metadata.ErrorType}
	code := bytes.TrimSpace(w.Code)
	switch {
	case len(code) == 0 || string(code) == "null":
	case code[0] == '"':
		_ = json.Unmarshal(code, &e.Code)
	default:
		if f, err := strconv.ParseFloat(string(code), 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1e6 {
			e.CodeNum = int(f)
			e.Code = strconv.Itoa(e.CodeNum)
		}
	}
	return e
}

// textOf returns a JSON string's value, or the raw JSON of anything else
// (some servers send a message that is an object or a list).
func textOf(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// parseErrorBody extracts the upstream's error from a non-2xx body,
// scrubbed of key. Bodies that are not JSON give their text as the message;
// HTML pages (a proxy's "502 Bad Gateway") give nothing, since their markup
// explains nothing.
func parseErrorBody(body []byte, key string) apiError {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return apiError{}
	}
	if body[0] == '{' {
		var w wireErrorBody
		if json.Unmarshal(body, &w) == nil {
			if e, ok := parseAPIError(w.Error, key); ok {
				return e
			}
			e := fromWire(w.wireErrorObject)
			if e.Message == "" {
				e.Message = textOf(w.Detail)
			}
			if e = e.scrubbed(key); e.Message != "" || e.Code != "" || e.Type != "" {
				return e
			}
		}
	}
	if body[0] == '<' {
		return apiError{}
	}
	return apiError{Message: scrub(string(body), key)}
}

// has reports whether any of e's machine-readable labels is one of names.
func (e apiError) has(names ...string) bool {
	for _, n := range names {
		if strings.EqualFold(e.Code, n) || strings.EqualFold(e.Type, n) || strings.EqualFold(e.ErrorType, n) {
			return true
		}
	}
	return false
}

// mentions reports whether e's message contains any of the phrases, ignoring case.
func (e apiError) mentions(phrases ...string) bool {
	m := strings.ToLower(e.Message)
	for _, p := range phrases {
		if strings.Contains(m, p) {
			return true
		}
	}
	return false
}

var (
	contextPhrases = []string{
		"context length", "context_length", "maximum context", "context window",
		"prompt is too long", "reduce the length of the messages",
		"exceed context limit", // Anthropic: "input length and `max_tokens` exceed context limit: ..."
	}
	moderationPhrases = []string{"moderation", "flagged", "content policy", "content_policy", "content management policy", "safety system"}
	// billingPhrases are Anthropic's words for an account out of credit or
	// over its spend limit, which it sends as a 400 invalid_request_error:
	// the key's problem, not the caller's input, and another provider may
	// well answer.
	billingPhrases = []string{"credit balance is too low", "reached your specified api usage limits"}
)

// classifyHTTP returns the class of a non-2xx answer from its status and
// error object. The status decides, except for what only the body can tell:
// a prompt too long for the model, a moderation refusal, an unknown model
// sent as a 400, OpenAI's exhausted quota, which comes as a 429 but is a
// billing problem that waiting does not fix, and Anthropic's, which comes
// as a 400.
func classifyHTTP(status int, e apiError) Class {
	badRequest := status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge ||
		status == http.StatusUnprocessableEntity
	switch {
	case e.has("content_policy_violation", "content_filter", "content_policy"),
		status == http.StatusForbidden && e.mentions(moderationPhrases...):
		return ClassContentPolicy
	case e.has("context_length_exceeded"), badRequest && e.mentions(contextPhrases...):
		return ClassContextLength
	case e.has("insufficient_quota"), badRequest && e.mentions(billingPhrases...):
		return ClassAuth
	case e.has("model_not_found") && status < 500:
		return ClassNotFound
	}
	return classOfStatus(status)
}

// classOfStatus maps an HTTP status alone to a class.
func classOfStatus(status int) Class {
	switch {
	case status >= 200 && status < 300:
		return ClassOK
	case status == http.StatusBadRequest, status == http.StatusRequestEntityTooLarge, status == http.StatusUnprocessableEntity:
		return ClassBadRequest
	case status == http.StatusUnauthorized, status == http.StatusPaymentRequired, status == http.StatusForbidden:
		return ClassAuth
	case status == http.StatusNotFound:
		return ClassNotFound
	case status == http.StatusRequestTimeout:
		return ClassTimeout
	case status == http.StatusTooManyRequests:
		return ClassRateLimited
	case status == http.StatusServiceUnavailable, status == 529:
		return ClassOverloaded
	}
	return ClassServer
}

// inBandClasses maps the machine-readable labels of an error sent inside a
// 200 stream, where there is no status to go by, to a class.
var inBandClasses = map[string]Class{
	"rate_limit_exceeded":      ClassRateLimited,
	"provider_overloaded":      ClassOverloaded,
	"overloaded":               ClassOverloaded,
	"timeout":                  ClassTimeout,
	"authentication":           ClassAuth,
	"invalid_api_key":          ClassAuth,
	"insufficient_quota":       ClassAuth,
	"model_not_found":          ClassNotFound,
	"invalid_request":          ClassBadRequest,
	"context_length_exceeded":  ClassContextLength,
	"content_policy_violation": ClassContentPolicy,
	"content_filter":           ClassContentPolicy,
}

// errorTypeStatus maps the error types of Anthropic's API, which OpenAI's
// shares in part, to the HTTP status each is sent with. Inside a stream
// (Anthropic's "event: error", mid-answer) there is no status, and the type
// stands for it; the body's wording then refines it as for an answer, so
// that "prompt is too long" is still the context's fault.
var errorTypeStatus = map[string]int{
	"invalid_request_error": http.StatusBadRequest,
	"authentication_error":  http.StatusUnauthorized,
	"billing_error":         http.StatusPaymentRequired,
	"permission_error":      http.StatusForbidden,
	"not_found_error":       http.StatusNotFound,
	"request_too_large":     http.StatusRequestEntityTooLarge,
	"rate_limit_error":      http.StatusTooManyRequests,
	"api_error":             http.StatusInternalServerError,
	"timeout_error":         http.StatusGatewayTimeout,
	"overloaded_error":      529,
}

// classifyInBand returns the class of an error the upstream sent inside a
// stream (OpenRouter's mid-stream error chunk, or an "event: error"). It is a
// server error unless a label, an error type or an HTTP-like numeric code
// says otherwise.
func classifyInBand(e apiError) Class {
	for _, label := range []string{e.ErrorType, e.Code, e.Type} {
		if c, ok := inBandClasses[strings.ToLower(label)]; ok {
			return c
		}
	}
	if status, ok := errorTypeStatus[strings.ToLower(e.Type)]; ok {
		return classifyHTTP(status, e)
	}
	if e.CodeNum >= 400 && e.CodeNum < 600 {
		return classifyHTTP(e.CodeNum, e)
	}
	if e.mentions(contextPhrases...) {
		return ClassContextLength
	}
	return ClassServer
}

// maxRetryAfter caps what we believe of a Retry-After: a day is already
// "not today", and it keeps durations far from overflow.
const maxRetryAfter = 24 * time.Hour

// retryAfter reads how long the upstream asks us to wait: retry-after-ms
// (OpenAI's precise form), then Retry-After in seconds or as an HTTP date,
// relative to now. It returns 0 when there is no usable hint.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && !math.IsInf(ms, 0) {
			return capRetry(time.Duration(math.Min(ms, float64(maxRetryAfter/time.Millisecond)) * float64(time.Millisecond)))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 || math.IsNaN(s) {
			return 0
		}
		return capRetry(time.Duration(math.Min(s, maxRetryAfter.Seconds()) * float64(time.Second)))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return capRetry(d)
		}
	}
	return 0
}

func capRetry(d time.Duration) time.Duration {
	return min(d, maxRetryAfter)
}
