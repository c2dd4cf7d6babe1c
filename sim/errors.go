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

// httpError is an error answer not yet written: the status and the body.
type httpError struct {
	status int
	body   apiError
	header http.Header // extra headers, such as Retry-After
}

func newHTTPError(status int, typ, code, param, format string, args ...any) *httpError {
	return &httpError{status: status, body: apiError{
		Message: fmt.Sprintf(format, args...), Type: typ, Param: opt(param), Code: opt(code),
	}}
}

// write sends the error. Only called before anything else was written, which
// is why faults are decided before the headers of a stream go out.
func (e *httpError) write(w http.ResponseWriter) {
	for k, vs := range e.header {
		w.Header()[k] = vs
	}
	writeJSON(w, e.status, struct {
		Error apiError `json:"error"`
	}{e.body})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Every value passed here is a plain struct; failing is a bug in sim.
		panic(fmt.Sprintf("sim: encode %T: %v", v, err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n')) // a failed write means the client left; nothing to tell it
}

func errUnavailable(name string) *httpError {
	return newHTTPError(http.StatusServiceUnavailable, typeServer, "service_unavailable", "",
		"%s is temporarily unavailable. Please try again later.", name)
}

func errRateLimited(name string, retryAfter time.Duration) *httpError {
	secs := retryAfterSeconds(retryAfter)
	e := newHTTPError(http.StatusTooManyRequests, typeRateLimit, "rate_limit_exceeded", "",
		"Rate limit reached for requests on %s. Please try again in %ds.", name, secs)
	e.header = http.Header{"Retry-After": {strconv.Itoa(secs)}}
	return e
}

// retryAfterSeconds rounds up to whole seconds, the unit of Retry-After, and
// never says 0, which clients would read as "retry at once".
func retryAfterSeconds(d time.Duration) int {
	secs := int((d + time.Second - 1) / time.Second)
	return max(secs, 1)
}

// errInjected is the failure picked by Profile.ErrorRate, worded like the
// real API's answer for that status.
func errInjected(status int) *httpError {
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

func errUnauthorized() *httpError {
	// The key is never echoed back: secrets stay out of error texts.
	return newHTTPError(http.StatusUnauthorized, typeInvalidRequest, "invalid_api_key", "",
		"Incorrect or missing API key. Send it as \"Authorization: Bearer <key>\".")
}

func errModelNotFound(model string) *httpError {
	return newHTTPError(http.StatusNotFound, typeInvalidRequest, "model_not_found", "model",
		"The model '%s' does not exist or you do not have access to it.", model)
}

func errBadRequest(param, format string, args ...any) *httpError {
	return newHTTPError(http.StatusBadRequest, typeInvalidRequest, "", param, format, args...)
}

func errNotFound(path string) *httpError {
	return newHTTPError(http.StatusNotFound, typeInvalidRequest, "unknown_url", "",
		"Unknown request URL: %s. Please check the URL for typos.", path)
}

// errContextLength is OpenAI's answer to a prompt (plus the answer it asks
// for) longer than the model's context.
func errContextLength(limit, asked int) *httpError {
	return newHTTPError(http.StatusBadRequest, typeInvalidRequest, "context_length_exceeded", "messages",
		"This model's maximum context length is %d tokens. However, you requested %d tokens. Please reduce the length of the messages or completion.",
		limit, asked)
}
