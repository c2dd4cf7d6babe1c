package gateway

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"switchboard/provider"
	"switchboard/routing"
	"switchboard/wirejson"
)

// apiError is an error answer. It is written in the shape both OpenAI's
// and OpenRouter's clients read: error.message, error.type, error.param
// and error.code as OpenAI has them, with the HTTP status as code and
// metadata.error_type and metadata.previous_errors as OpenRouter has them.
type apiError struct {
	Status   int
	Type     string // stable machine-readable kind: invalid_request, provider_unavailable, ...
	Message  string
	Param    string // the request field at fault, if one is
	Previous []routing.PreviousError
	Trace    *routing.Trace // how the router got there, when it tried
	// RetryAfter, when positive, is how long until a provider that refused
	// may take the request again; a 429 or 503 says it in Retry-After.
	RetryAfter time.Duration
	Kind       routing.Kind // the router's kind of failure; 0 for the gateway's own errors
}

func (e *apiError) Error() string { return e.Message }

// errorBody is the JSON of an error answer, and of the error object in a
// stream's last chunk.
type errorBody struct {
	Code     int           `json:"code"`
	Message  string        `json:"message"`
	Type     string        `json:"type"`
	Param    *string       `json:"param"`
	Metadata errorMetadata `json:"metadata"`
}

type errorMetadata struct {
	ErrorType      string                  `json:"error_type"`
	PreviousErrors []routing.PreviousError `json:"previous_errors,omitempty"`
}

// maxMessage and maxParam bound what an error answer says, whoever forgot
// to clip a value they repeat (a model name 3 MB long, in the router's
// "not served here"): the gateway's own messages are well under.
const (
	maxMessage = 2048
	maxParam   = 256
)

func (e *apiError) body() errorBody {
	b := errorBody{Code: e.Status, Message: routing.Clip(e.Message, maxMessage), Type: e.Type,
		Metadata: errorMetadata{ErrorType: e.Type, PreviousErrors: e.Previous}}
	if e.Param != "" {
		param := routing.Clip(e.Param, maxParam)
		b.Param = &param
	}
	return b
}

// writeError answers with e, and the trace when the router made one.
func writeError(w http.ResponseWriter, e *apiError) {
	e.setRetryAfter(w)
	writeJSON(w, e.Status, struct {
		Error errorBody      `json:"error"`
		Trace *routing.Trace `json:"trace,omitempty"`
	}{e.body(), e.Trace})
}

// setRetryAfter says when to try again, as OpenRouter does on a 429 or a
// 503, if the router knows: whole seconds, rounded up, and never 0, which
// a client would read as at once.
func (e *apiError) setRetryAfter(w http.ResponseWriter) {
	if after := e.retryAfter(); after != "" {
		w.Header().Set("Retry-After", after)
	}
}

// retryAfter is the Retry-After of e, "" for none.
func (e *apiError) retryAfter() string {
	if e.RetryAfter <= 0 || e.Status != http.StatusTooManyRequests && e.Status != http.StatusServiceUnavailable {
		return ""
	}
	return strconv.FormatInt(max(1, int64((e.RetryAfter+time.Second-1)/time.Second)), 10)
}

// fromRouting turns the router's failure into an error answer: the status
// and metadata.error_type of its kind, as OpenRouter's error reference has
// them. Where OpenRouter's pages disagree, one was picked:
//
//   - An unknown model is 404 model_not_found, as OpenRouter answers a
//     model it has no endpoints for and OpenAI an unknown model, not the
//     400 "not a valid model ID" of some OpenRouter pages: the request is
//     well formed and names a model that is not here.
//   - Requirements that leave no endpoint (provider.only, ignore,
//     require_parameters, max_price, ...) are 503 provider_unavailable, as
//     the error reference says ("no available model provider that meets
//     your routing requirements"), not the 404 "No endpoints found" of the
//     provider-routing page: a 404 would read as an unknown model, and the
//     status is what tells this apart from 502, every provider failed.
//   - Every provider failed is 502; its error_type says what the last one
//     ran into: provider_overloaded, timeout, authentication (the
//     upstream's key, not the caller's, so the status stays 502 and never
//     becomes a 401 a client would blame on its own key), else
//     provider_unavailable.
//   - A break after streaming began goes out in the stream's last chunk
//     (the status is 200 by then) as 502 with the same error types.
func fromRouting(err error, trace *routing.Trace) *apiError {
	var re *routing.Error
	if !errors.As(err, &re) {
		return &apiError{Status: http.StatusInternalServerError, Type: "server", Message: err.Error(), Trace: trace}
	}
	e := &apiError{Message: re.Message, Param: re.Param, Previous: re.Previous, Trace: trace, RetryAfter: re.RetryAfter, Kind: re.Kind}
	switch re.Kind {
	case routing.KindBadRequest:
		e.Status, e.Type = http.StatusBadRequest, "invalid_request"
	case routing.KindContentPolicy:
		e.Status, e.Type = http.StatusForbidden, "content_policy_violation"
	case routing.KindContextLength:
		e.Status, e.Type = http.StatusBadRequest, "context_length_exceeded"
	case routing.KindUnknownModel:
		e.Status, e.Type = http.StatusNotFound, "model_not_found"
	case routing.KindNoEndpoints, routing.KindUnavailable:
		// No provider was available: none meets the requirements, or every
		// one was known to be down before the request (breakers open) and
		// failed again as a last resort. OpenRouter's 503, rather than a 502
		// for providers that failed this request; Retry-After is then the
		// first breaker's next trial.
		e.Status, e.Type = http.StatusServiceUnavailable, "provider_unavailable"
	case routing.KindRateLimited:
		e.Status, e.Type = http.StatusTooManyRequests, "rate_limit_exceeded"
	case routing.KindTimeout:
		e.Status, e.Type = http.StatusRequestTimeout, "timeout"
	case routing.KindCanceled:
		e.Status, e.Type = 499, "canceled" // nginx's "client closed request": nobody reads it
	default: // KindExhausted, KindInterrupted
		e.Status, e.Type = http.StatusBadGateway, upstreamFailure(re.Class)
	}
	return e
}

// upstreamFailure is the error_type of a 502: what the last attempt ran
// into, in OpenRouter's words.
func upstreamFailure(c provider.Class) string {
	switch c {
	case provider.ClassOverloaded:
		return "provider_overloaded"
	case provider.ClassTimeout, provider.ClassStall:
		return "timeout"
	case provider.ClassAuth:
		return "authentication"
	case provider.ClassRateLimited: // a stream cut by a rate limit after it began
		return "rate_limit_exceeded"
	}
	return "provider_unavailable"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := wirejson.Marshal(v)
	if err != nil { // our own types: a bug, but the client still gets JSON
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":500,"message":"encoding the answer failed","type":"server","param":null}}`)
	}
	w.Header()["Content-Type"] = jsonType
	w.WriteHeader(status)
	w.Write(b)
	io.WriteString(w, "\n") // not appended to b: that would copy the answer
}

// Values of headers set on every answer, shared: net/http never writes a
// header's values in place (Set and Add put a new slice), so one slice
// serves every response, where Set makes one per call.
var (
	jsonType        = []string{"application/json"}
	eventStreamType = []string{"text/event-stream"}
	noCache         = []string{"no-cache"}
	no              = []string{"no"}
)

// anthropicErrorBody is an error in Anthropic's shape, as an answer and as
// a stream's error event, with Switchboard's previous_errors and trace
// next to it so that nothing the OpenAI shape says is lost.
type anthropicErrorBody struct {
	Type           string                  `json:"type"` // always "error"
	Error          anthropicErrorDetail    `json:"error"`
	PreviousErrors []routing.PreviousError `json:"previous_errors,omitempty"`
	Trace          *routing.Trace          `json:"trace,omitempty"`
}

// anthropicErrorDetail is the error object: its type, in Anthropic's
// words, and what happened.
type anthropicErrorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

func (e *apiError) anthropic() anthropicErrorBody {
	return anthropicErrorBody{Type: "error", Error: anthropicErrorDetail{Type: anthropicErrorType(e), Message: routing.Clip(e.Message, maxMessage)},
		PreviousErrors: e.Previous, Trace: e.Trace}
}

// writeAnthropicError answers with e in Anthropic's shape, with the status
// the OpenAI routes would answer with.
func writeAnthropicError(w http.ResponseWriter, e *apiError) {
	e.setRetryAfter(w)
	writeJSON(w, e.Status, e.anthropic())
}

// anthropicErrorType names our error in Anthropic's words, from its
// status, as Anthropic documents its types: each of our statuses has one
// meaning (see fromRouting), so the status is enough. Upstream failures
// (every 502) are api_error, not overloaded_error even when every provider
// was overloaded: the status is ours (502), not Anthropic's 529, and the
// gateway has already fallen back across every provider it had, so
// "overloaded, retry soon" would promise more than a retry is likely to
// give. Anthropic's SDKs retry both alike. An upstream's refused key (502
// authentication) is api_error too: authentication_error is for the
// caller's own key (401).
func anthropicErrorType(e *apiError) string {
	switch {
	case e.Status == http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case e.Status == http.StatusUnauthorized:
		return "authentication_error"
	case e.Status == http.StatusForbidden: // content_policy_violation: Anthropic refuses it as a permission
		return "permission_error"
	case e.Status == http.StatusNotFound:
		return "not_found_error"
	case e.Status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case e.Status == http.StatusRequestTimeout:
		return "timeout_error"
	case e.Status < 500:
		return "invalid_request_error"
	}
	return "api_error"
}
