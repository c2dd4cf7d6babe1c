package gateway

import (
	"encoding/json"
	"errors"
	"net/http"

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

// fromRouting turns the router's failure into an error answer.
func fromRouting(err error, trace *routing.Trace) *apiError {
	var re *routing.Error
	if errors.As(err, &re) {
		return &apiError{Status: re.Code, Type: re.Type, Message: re.Message, Previous: re.Previous, Trace: trace}
	}
	return &apiError{Status: http.StatusInternalServerError, Type: "server", Message: err.Error(), Trace: trace}
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
