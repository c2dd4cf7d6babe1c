package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// apiError is the body of an OpenAI error response. Param and Code are
// pointers because the real API sends them as explicit nulls.
type apiError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// The error types the OpenAI API uses.
const (
	typeInvalidRequest = "invalid_request_error"
	typeServer         = "server_error"
	typeRateLimit      = "rate_limit_error"
)

// opt turns a possibly empty string into an optional JSON string.
func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// httpError is an error answer not yet written: the status and the body,
// already in the words of the API it answers.
type httpError struct {
	status int
	body   any         // a plain struct, encoded as JSON
	header http.Header // extra headers, such as Retry-After
}

// newHTTPError makes an error in the OpenAI API's shape.
func newHTTPError(status int, typ, code, param, format string, args ...any) *httpError {
	return &httpError{status: status, body: struct {
		Error apiError `json:"error"`
	}{apiError{Message: fmt.Sprintf(format, args...), Type: typ, Param: opt(param), Code: opt(code)}}}
}

// write sends the error. Only called before anything else was written, which
// is why faults are decided before the headers of a stream go out.
func (e *httpError) write(w http.ResponseWriter) {
	for k, vs := range e.header {
		w.Header()[k] = vs
	}
	writeJSON(w, e.status, e.body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b := mustJSON(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n')) // a failed write means the client left; nothing to tell it
}

// mustJSON encodes v, which is always a plain struct: failing is a bug in sim.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("sim: encode %T: %v", v, err))
	}
	return b
}

func (openAI) unavailable(name string) *httpError {
	return newHTTPError(http.StatusServiceUnavailable, typeServer, "service_unavailable", "",
		"%s is temporarily unavailable. Please try again later.", name)
}

func (openAI) rateLimited(name string, retryAfter time.Duration) *httpError {
	secs := retryAfterSeconds(retryAfter)
	return newHTTPError(http.StatusTooManyRequests, typeRateLimit, "rate_limit_exceeded", "",
		"Rate limit reached for requests on %s. Please try again in %ds.", name, secs).retryAfter(secs)
}

// prefillRefusal is how a provider without prefill support refuses a
// conversation that ends with the assistant's text, in both dialects.
const prefillRefusal = "This model does not support assistant message prefill. The conversation must end with a user message."

func (openAI) prefillRefused() *httpError { return errBadRequest("messages", prefillRefusal) }

// retryAfter adds the Retry-After header, in whole seconds.
func (e *httpError) retryAfter(secs int) *httpError {
	e.header = http.Header{"Retry-After": {strconv.Itoa(secs)}}
	return e
}

// retryAfterSeconds rounds up to whole seconds, the unit of Retry-After, and
// never says 0, which clients would read as "retry at once".
func retryAfterSeconds(d time.Duration) int {
	secs := int((d + time.Second - 1) / time.Second)
	return max(secs, 1)
}

// injected is the failure picked by Profile.ErrorRate, worded like the
// real API's answer for that status.
func (openAI) injected(status int) *httpError {
	switch status {
	case http.StatusInternalServerError:
		return newHTTPError(status, typeServer, "internal_error", "",
			"The server had an error while processing your request. Sorry about that!")
	case http.StatusBadGateway:
		return newHTTPError(status, typeServer, "bad_gateway", "", "Bad gateway: the upstream model server did not answer.")
	case http.StatusServiceUnavailable:
		return newHTTPError(status, typeServer, "service_unavailable", "",
			"The engine is currently overloaded, please try again later.")
	case http.StatusGatewayTimeout:
		return newHTTPError(status, typeServer, "timeout", "", "The request timed out before the model answered.")
	}
	typ := typeServer
	if status < 500 {
		typ = typeInvalidRequest
	}
	text := http.StatusText(status)
	if text == "" {
		text = "Error " + strconv.Itoa(status)
	}
	return newHTTPError(status, typ, "", "", "%s.", text)
}

func (openAI) authorize(r *http.Request, key string) *httpError {
	if key == "" || r.Header.Get("Authorization") == "Bearer "+key {
		return nil
	}
	// The key is never echoed back: secrets stay out of error texts.
	return newHTTPError(http.StatusUnauthorized, typeInvalidRequest, "invalid_api_key", "",
		"Incorrect or missing API key. Send it as \"Authorization: Bearer <key>\".")
}

func (openAI) modelNotFound(model string) *httpError {
	return newHTTPError(http.StatusNotFound, typeInvalidRequest, "model_not_found", "model",
		"The model '%s' does not exist or you do not have access to it.", model)
}

func errBadRequest(param, format string, args ...any) *httpError {
	return newHTTPError(http.StatusBadRequest, typeInvalidRequest, "", param, format, args...)
}

func (openAI) methodNotAllowed(method, path, allow string) *httpError {
	return newHTTPError(http.StatusMethodNotAllowed, typeInvalidRequest, "method_not_allowed", "",
		"%s is not allowed on %s; use %s.", method, path, allow)
}

func (openAI) notFound(path string) *httpError {
	return newHTTPError(http.StatusNotFound, typeInvalidRequest, "unknown_url", "",
		"Unknown request URL: %s. Please check the URL for typos.", path)
}

// contextLength is OpenAI's answer to a prompt (plus the answer it asks
// for) longer than the model's context, with its breakdown of the tokens.
func (openAI) contextLength(limit, prompt, maxTokens int) *httpError {
	if maxTokens == 0 {
		return newHTTPError(http.StatusBadRequest, typeInvalidRequest, "context_length_exceeded", "messages",
			"This model's maximum context length is %d tokens. However, your messages resulted in %d tokens. "+
				"Please reduce the length of the messages.", limit, prompt)
	}
	return newHTTPError(http.StatusBadRequest, typeInvalidRequest, "context_length_exceeded", "messages",
		"This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the messages, %d in the completion). "+
			"Please reduce the length of the messages or completion.", limit, prompt+maxTokens, prompt, maxTokens)
}
