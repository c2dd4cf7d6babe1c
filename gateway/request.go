package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"switchboard/provider"
	"switchboard/routing"
)

// chatRequest is the body of POST /v1/chat/completions: OpenAI's fields
// that Switchboard reads, and OpenRouter's routing extensions. OpenRouter's
// other fields are the gateway's own (see gatewayFields); every other
// field is a parameter passed to the upstream as it is, unless the gateway
// cannot carry its answer back (see unsupported).
type chatRequest struct {
	Model               string          `json:"model"`
	Models              []string        `json:"models"`
	Messages            []chatMessage   `json:"messages"`
	Stream              bool            `json:"stream"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	Provider            json.RawMessage `json:"provider"` // routing.Preferences, decoded apart and strictly (decodeProvider)
	Route               string          `json:"route"`
	N                   *int            `json:"n"`
}

// chatMessage is a message whose content is a string or an array of parts.
type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// read are the body's keys the gateway reads itself, besides
// gatewayFields; the rest go upstream.
var read = []string{"model", "models", "messages", "stream", "stream_options", "max_tokens",
	"max_completion_tokens", "temperature", "provider", "route", "n"}

// unsupported are parameters whose answers the gateway cannot carry back
// (tool calls, log probabilities, audio) or that would change the request
// in ways it does not do: refused with a clear error rather than dropped.
var unsupported = map[string]string{
	"tools": "tool calls", "tool_choice": "tool calls", "parallel_tool_calls": "tool calls",
	"functions": "function calls", "function_call": "function calls",
	"logprobs": "log probabilities", "top_logprobs": "log probabilities",
	"audio": "audio output", "modalities": "output modalities", "prediction": "predicted outputs",
}

// parseChat checks a chat request's body, and turns it into the router's
// terms. A failure is a 400 that names the field and, for broken JSON, the
// line and column.
func parseChat(body []byte) (*chatRequest, routing.Request, *apiError) {
	fields, e := object(body)
	if e != nil {
		return nil, routing.Request{}, e
	}
	var c chatRequest
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, routing.Request{}, badJSON(body, err)
	}
	req, e := c.routing(fields)
	return &c, req, e
}

// readBody reads a request's body, at most maxBody bytes of it, within the
// read deadline ServeHTTP set, and then lifts the deadline: the answer may
// stream for minutes, and net/http's read behind the handler (which sees
// the client leave) would cancel the request at a deadline. (net/http lifts
// it too as it starts that read, at the body's end, but does not promise
// to.) A body that is too big, late or broken is an error answer after
// which the connection closes, since the rest of the body is still on it.
func readBody(w http.ResponseWriter, r *http.Request, maxBody int64, timeout time.Duration) ([]byte, *apiError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	c := connOf(r)
	if err == nil {
		if e := c.read("body"); e != nil {
			w.Header().Set("Connection", "close")
			return nil, e
		}
		_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
		return body, nil
	}
	w.Header().Set("Connection", "close")
	var tooBig *http.MaxBytesError
	switch {
	case c != nil && c.gone.Load():
		return nil, c.l.madeWay("body")
	case errors.As(err, &tooBig):
		return nil, &apiError{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request",
			Message: fmt.Sprintf("the request body is over %d bytes", maxBody)}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, &apiError{Status: http.StatusRequestTimeout, Type: "timeout",
			Message: fmt.Sprintf("the request body did not arrive within %s of its headers (%d bytes came); send the whole body at once", timeout, len(body))}
	}
	return nil, &apiError{Status: http.StatusBadRequest, Type: "invalid_request", Message: "reading the request body: " + echo(err.Error())}
}

// object reads a request body that must be a JSON object into its members.
// The body is read as JSON whatever its Content-Type says: curl -d sends
// JSON labelled as a form, and what is not JSON gets an error saying where
// it stops being JSON.
func object(body []byte) (map[string]json.RawMessage, *apiError) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, badJSON(body, err)
	}
	if fields == nil {
		return nil, invalid("", "the request body must be a JSON object, not null")
	}
	return fields, nil
}

// routing checks the request and builds the router's request from it.
func (c *chatRequest) routing(fields map[string]json.RawMessage) (routing.Request, *apiError) {
	var req routing.Request
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		v := bytes.TrimSpace(fields[k])
		if string(v) == "null" {
			continue // as if it were not there
		}
		if what, ok := unsupported[k]; ok {
			return req, invalid(k, fmt.Sprintf("%s is not supported: Switchboard cannot carry %s back yet; leave it out", k, what))
		}
		if own := gatewayFields[k]; own != nil {
			if e := own(&req, v); e != nil {
				return req, e
			}
			continue
		}
		if !slices.Contains(read, k) {
			if req.Extra == nil {
				req.Extra = map[string]json.RawMessage{}
			}
			req.Extra[k] = fields[k]
			req.Params = append(req.Params, k)
		}
	}
	if e := checkName("model", c.Model); e != nil {
		return req, e
	}
	for i, m := range c.Models {
		if e := checkName(fmt.Sprintf("models[%d]", i), m); e != nil {
			return req, e
		}
	}
	model, models, first := c.Model, c.Models, 0
	if model == "" && len(models) > 0 {
		model, models, first = models[0], models[1:], 1
	}
	if model == "" {
		return req, invalid("model", `model is missing: name the model to ask, e.g. "model": "meta-llama/llama-3.3-70b-instruct" (GET /v1/models lists them)`)
	}
	req.Model = model
	for i, m := range models {
		if m == "" {
			return req, invalid("models", fmt.Sprintf("models[%d] is empty", first+i))
		}
		if m != model {
			req.Models = append(req.Models, m)
		}
	}
	if c.N != nil && *c.N != 1 {
		return req, invalid("n", fmt.Sprintf("n is %d; Switchboard answers with one choice, so n must be 1 or left out", *c.N))
	}
	if len(c.Messages) == 0 {
		return req, invalid("messages", "messages is missing or empty: send at least one message")
	}
	for i, m := range c.Messages {
		msg, e := m.message(fmt.Sprintf("messages[%d]", i))
		if e != nil {
			return req, e
		}
		req.Messages = append(req.Messages, msg)
	}
	maxTokens, name := c.MaxTokens, "max_tokens"
	if c.MaxCompletionTokens != nil {
		maxTokens, name = c.MaxCompletionTokens, "max_completion_tokens"
	}
	if maxTokens != nil {
		if *maxTokens < 1 {
			return req, invalid(name, fmt.Sprintf("%s is %d; it must be at least 1", name, *maxTokens))
		}
		req.MaxTokens = *maxTokens
		req.Params = append(req.Params, "max_tokens")
	}
	if t := c.Temperature; t != nil {
		if *t < 0 || *t > 2 {
			return req, invalid("temperature", fmt.Sprintf("temperature is %v; it must be between 0 and 2", *t))
		}
		req.Temperature = t
		req.Params = append(req.Params, "temperature")
	}
	prefs, e := decodeProvider(c.Provider)
	if e != nil {
		return req, e
	}
	req.Provider = prefs
	switch c.Route {
	case "", "fallback":
	case "sort": // OpenRouter's old name for sorting across the models
		if req.Provider.Sort.Partition == "" {
			req.Provider.Sort.Partition = "none"
		}
	default:
		return req, invalid("route", fmt.Sprintf(`route is %q; it may be "fallback" or "sort" (both deprecated: use models and provider.sort)`, echo(c.Route)))
	}
	return req, nil
}

// message turns the message at field (messages[i]) into one the upstream
// client sends: string content, or the text of its parts.
func (m chatMessage) message(field string) (provider.Message, *apiError) {
	role := m.Role
	switch role {
	case "system", "user", "assistant":
	case "developer": // OpenAI's newer name for system, which not every upstream knows
		role = "system"
	case "":
		return provider.Message{}, invalid(field+".role", field+` has no role; use "system", "user" or "assistant"`)
	default:
		return provider.Message{}, invalid(field+".role", fmt.Sprintf(`%s.role is %q; Switchboard carries "system", "developer", "user" and "assistant" messages`, field, echo(m.Role)))
	}
	content := bytes.TrimSpace(m.Content)
	if len(content) == 0 || string(content) == "null" {
		if role == "assistant" {
			return provider.Message{Role: role}, nil
		}
		return provider.Message{}, invalid(field+".content", field+" has no content")
	}
	if content[0] == '"' {
		var s string
		if err := json.Unmarshal(content, &s); err != nil {
			return provider.Message{}, invalid(field+".content", field+".content is not a valid string")
		}
		return provider.Message{Role: role, Content: s}, nil
	}
	var parts []struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(content, &parts); err != nil {
		return provider.Message{}, invalid(field+".content", field+".content must be a string or an array of content parts")
	}
	var text strings.Builder
	for j, p := range parts {
		part := fmt.Sprintf("%s.content[%d]", field, j)
		switch {
		case p.Type != "text":
			return provider.Message{}, invalid(part, fmt.Sprintf("%s is of type %q; Switchboard carries text parts only", part, echo(p.Type)))
		case p.Text == nil:
			return provider.Message{}, invalid(part, part+` is a text part with no "text"`)
		}
		text.WriteString(*p.Text)
	}
	return provider.Message{Role: role, Content: text.String()}, nil
}

func invalid(param, msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: "invalid_request", Param: param, Message: msg}
}

// maxName bounds a model's or a provider's name in a request: the longest
// of OpenRouter's are under a hundred bytes.
const maxName = 256

// checkName refuses a name (of a model or a provider, at param) too long
// to be one, before the router repeats it in its errors and traces.
func checkName(param, name string) *apiError {
	if len(name) <= maxName {
		return nil
	}
	return invalid(param, fmt.Sprintf("%s is %d bytes long, not a name (%q); names are at most %d bytes", param, len(name), echo(name), maxName))
}

// echo is a value the client sent, as an error message repeats it: clipped.
func echo(s string) string { return routing.Clip(s, routing.EchoLimit) }

// member names the member key of the object at parent, as an error's
// param and message do: key is the client's, so it is clipped.
func member(parent, key string) string { return parent + "." + echo(key) }

// badJSON says where the body stops being valid JSON, or which field has
// the wrong type.
func badJSON(body []byte, err error) *apiError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(body, syn.Offset-1) // Offset counts the offending byte
		return invalid("", fmt.Sprintf("the request body is not valid JSON at line %d, column %d: %v", line, col, syn))
	case errors.As(err, &typ):
		line, col := position(body, typ.Offset)
		field := typ.Field
		if field == "" {
			return invalid("", fmt.Sprintf("the request body must be a JSON object, not %s", echo(typ.Value)))
		}
		return invalid(field, fmt.Sprintf("%s must be %s, not %s (line %d, column %d)", field, jsonKind(typ.Type.String()), echo(typ.Value), line, col))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("", "the request body ends before its JSON does")
	}
	// A field's own check (such as provider.sort's) says what is wrong.
	return invalid("", "the request body is not a valid chat request: "+echo(err.Error()))
}

// position is the 1-based line and column of byte offset off in body.
func position(body []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(body)))
	before := body[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// jsonKind names a Go type as the JSON a client should send.
func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.Contains(goType, "int"):
		return "a whole number"
	case strings.Contains(goType, "float"):
		return "a number"
	case strings.Contains(goType, "string"):
		return "a string"
	case strings.Contains(goType, "bool"):
		return "true or false"
	}
	return "an object"
}
