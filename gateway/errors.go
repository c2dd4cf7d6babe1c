package gateway

import (
	"encoding/json"
	"errors"
	"net/http"

	"switchboard/provider"
	"switchboard/routing"
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

func (e *apiError) body() errorBody {
	b := errorBody{Code: e.Status, Message: e.Message, Type: e.Type,
		Metadata: errorMetadata{ErrorType: e.Type, PreviousErrors: e.Previous}}
	if e.Param != "" {
		b.Param = &e.Param
	}
	return b
}

// writeError answers with e, and the trace when the router made one.
func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, struct {
		Error errorBody      `json:"error"`
		Trace *routing.Trace `json:"trace,omitempty"`
	}{e.body(), e.Trace})
}

// fromRouting turns the router's failure into an error answer: the
// status and error type of its kind, as OpenRouter's error reference has
// them.
func fromRouting(err error, trace *routing.Trace) *apiError {
	var re *routing.Error
	if !errors.As(err, &re) {
		return &apiError{Status: http.StatusInternalServerError, Type: "server", Message: err.Error(), Trace: trace}
	}
	e := &apiError{Message: re.Message, Param: re.Param, Previous: re.Previous, Trace: trace}
	switch re.Kind {
	case routing.KindBadRequest:
		e.Status, e.Type = http.StatusBadRequest, "invalid_request"
	case routing.KindContentPolicy:
		e.Status, e.Type = http.StatusForbidden, "content_policy_violation"
	case routing.KindContextLength:
		e.Status, e.Type = http.StatusBadRequest, "context_length_exceeded"
	case routing.KindUnknownModel:
		e.Status, e.Type = http.StatusNotFound, "model_not_found"
	case routing.KindNoEndpoints:
		e.Status, e.Type = http.StatusServiceUnavailable, "provider_unavailable"
	case routing.KindRateLimited:
		e.Status, e.Type = http.StatusTooManyRequests, "rate_limit_exceeded"
	case routing.KindTimeout:
		e.Status, e.Type = http.StatusRequestTimeout, "timeout"
	case routing.KindCanceled:
		e.Status, e.Type = 499, "canceled" // nginx's "client closed request": nobody reads it
	case routing.KindInterrupted:
		e.Status, e.Type = http.StatusBadGateway, "stream_interrupted"
	default: // KindExhausted
		e.Status, e.Type = http.StatusBadGateway, "provider_unavailable"
		if re.Class == provider.ClassOverloaded {
			e.Type = "provider_overloaded"
		}
	}
	return e
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // our own types: a bug, but the client still gets JSON
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":500,"message":"encoding the answer failed","type":"server","param":null}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

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
	return anthropicErrorBody{Type: "error", Error: anthropicErrorDetail{Type: anthropicErrorType(e), Message: e.Message},
		PreviousErrors: e.Previous, Trace: e.Trace}
}

// writeAnthropicError answers with e in Anthropic's shape, with the status
// the OpenAI routes would answer with.
func writeAnthropicError(w http.ResponseWriter, e *apiError) { writeJSON(w, e.Status, e.anthropic()) }

// anthropicErrorType names our error type in Anthropic's words; what is
// not named here follows from the status, as Anthropic documents it.
// Upstream failures (provider_unavailable, stream_interrupted, timeout)
// are api_error, not overloaded_error: the status is ours (502, 408), not
// Anthropic's 529, and the gateway has already fallen back across every
// provider it had, so "overloaded, retry soon" would promise more than a
// retry is likely to give. Anthropic's SDKs retry both alike.
func anthropicErrorType(e *apiError) string {
	switch e.Type {
	case "invalid_request", "context_length_exceeded", "bad_request":
		if e.Status == http.StatusRequestEntityTooLarge {
			return "request_too_large"
		}
		return "invalid_request_error"
	case "authentication", "auth":
		return "authentication_error"
	case "model_not_found", "not_found":
		return "not_found_error"
	case "rate_limit_exceeded", "rate_limited":
		return "rate_limit_error"
	case "provider_unavailable", "stream_interrupted", "timeout", "server":
		return "api_error"
	}
	switch {
	case e.Status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case e.Status == http.StatusForbidden:
		return "permission_error"
	case e.Status == http.StatusNotFound:
		return "not_found_error"
	case e.Status < 500:
		return "invalid_request_error"
	}
	return "api_error"
}
