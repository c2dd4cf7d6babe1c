package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard/provider"
	"switchboard/routing"
	"switchboard/wirejson"
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
	Tools               json.RawMessage `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls"`
	Reasoning           json.RawMessage `json:"reasoning"`
	ReasoningEffort     *string         `json:"reasoning_effort"`
	IncludeReasoning    *bool           `json:"include_reasoning"`

	// noReasoning leaves the model's thinking out of the answer
	// (reasoning.exclude, include_reasoning false).
	noReasoning bool
}

// chatMessage is a message whose content is a string or an array of
// parts; an assistant's may carry tool calls (and OpenRouter's reasoning),
// a tool's names the call it answers.
type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCalls  json.RawMessage `json:"tool_calls"`
	ToolCallID *string         `json:"tool_call_id"`
	Reasoning  *string         `json:"reasoning"`
}

// read are the body's keys the gateway reads itself, besides
// gatewayFields; the rest go upstream.
var read = []string{"model", "models", "messages", "stream", "stream_options", "max_tokens",
	"max_completion_tokens", "temperature", "provider", "route", "n",
	"tools", "tool_choice", "parallel_tool_calls", "reasoning", "reasoning_effort", "include_reasoning"}

// unsupported are parameters whose answers the gateway cannot carry back
// (audio) or that would change the request in ways it does not do: refused
// with a clear error rather than dropped. OpenAI's functions and
// function_call, which tools replaced, are refused with that hint.
var unsupported = map[string]string{
	"functions":     `it is OpenAI's old form of tools: send each function as a tool, {"type": "function", "function": {...}}`,
	"function_call": `it is OpenAI's old form of tool_choice: send tool_choice instead`,
	"audio":         "Switchboard cannot carry audio output back; leave it out",
	"modalities":    "Switchboard carries text output only; leave it out",
	"prediction":    "Switchboard does not carry predicted outputs; leave it out",
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
	if err := wirejson.Unmarshal(body, &c); err != nil {
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
	if err := wirejson.Unmarshal(body, &fields); err != nil {
		return nil, badJSON(body, err)
	}
	if fields == nil {
		return nil, invalid("", "the request body must be a JSON object, not null")
	}
	return fields, nil
}

// routing checks a chat request and builds the router's request from it:
// what every API's request has (common), then the messages, tools and
// reasoning in OpenAI's words.
func (c *chatRequest) routing(fields map[string]json.RawMessage) (routing.Request, *apiError) {
	req, e := c.common(fields)
	if e != nil {
		return req, e
	}
	if len(c.Messages) == 0 {
		return req, invalid("messages", "messages is missing or empty: send at least one message")
	}
	for i, m := range c.Messages {
		msg, e := m.message("messages[" + strconv.Itoa(i) + "]")
		if e != nil {
			return req, e
		}
		req.Messages = append(req.Messages, msg)
	}
	var asked reasoningAsked
	if e := c.agentFields(&req, &asked); e != nil {
		return req, e
	}
	c.noReasoning = asked.exclude
	return req, nil
}

// common checks and reads the members every API's request has, in
// OpenAI's words (Anthropic's are put in them first: see parseMessages):
// the model and fallback models, max_tokens, temperature, OpenRouter's
// provider and route, its fields for the gateway, and the parameters
// that go upstream as they are.
func (c *chatRequest) common(fields map[string]json.RawMessage) (routing.Request, *apiError) {
	var req routing.Request
	for _, k := range sortedKeys(fields) {
		v := bytes.TrimSpace(fields[k])
		if string(v) == "null" {
			continue // as if it were not there
		}
		if why, ok := unsupported[k]; ok {
			return req, invalid(k, fmt.Sprintf("%s is not supported: %s", k, why))
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
// client sends: its text, or its parts when it has an image; an
// assistant's tool calls, a tool's result.
func (m chatMessage) message(field string) (provider.Message, *apiError) {
	role := m.Role
	switch role {
	case "system", "user", "assistant", "tool":
	case "developer": // OpenAI's newer name for system, which not every upstream knows
		role = "system"
	case "":
		return provider.Message{}, invalid(field+".role", field+` has no role; use "system", "user", "assistant" or "tool"`)
	case "function":
		return provider.Message{}, invalid(field+".role", field+`.role is "function", OpenAI's old form of a tool result: send "role": "tool" with the call's tool_call_id`)
	default:
		return provider.Message{}, invalid(field+".role", fmt.Sprintf(`%s.role is %q; Switchboard carries "system", "developer", "user", "assistant" and "tool" messages`, field, echo(m.Role)))
	}
	msg := provider.Message{Role: role}
	switch {
	case role == "assistant":
		calls, e := readToolCalls(field+".tool_calls", present(m.ToolCalls))
		if e != nil {
			return msg, e
		}
		msg.ToolCalls = calls
		if m.Reasoning != nil {
			msg.Reasoning = *m.Reasoning
		}
	case present(m.ToolCalls) != nil:
		return msg, invalid(field+".tool_calls", fmt.Sprintf("%s is a %s message; only an assistant's has tool_calls", field, role))
	}
	switch {
	case role == "tool" && (m.ToolCallID == nil || *m.ToolCallID == ""):
		return msg, invalid(field+".tool_call_id", field+" is a tool message without tool_call_id: name the call whose result it holds")
	case role == "tool":
		msg.ToolCallID = *m.ToolCallID
	case m.ToolCallID != nil:
		return msg, invalid(field+".tool_call_id", fmt.Sprintf("%s is a %s message; only a tool's has tool_call_id", field, role))
	}
	content := present(m.Content)
	if content == nil {
		if role == "assistant" {
			return msg, nil
		}
		return msg, invalid(field+".content", field+" has no content")
	}
	if content[0] == '"' {
		if err := wirejson.Unmarshal(content, &msg.Content); err != nil {
			return msg, invalid(field+".content", field+".content is not a valid string")
		}
		return msg, nil
	}
	var parts []struct {
		Type     string          `json:"type"`
		Text     *string         `json:"text"`
		ImageURL json.RawMessage `json:"image_url"`
	}
	if err := json.Unmarshal(content, &parts); err != nil {
		return msg, invalid(field+".content", field+".content must be a string or an array of content parts")
	}
	out := make([]provider.Part, 0, len(parts))
	images := false
	for j, p := range parts {
		part := fmt.Sprintf("%s.content[%d]", field, j)
		switch {
		case p.Type == "text" && p.Text == nil:
			return msg, invalid(part, part+` is a text part with no "text"`)
		case p.Type == "text":
			out = append(out, provider.Part{Type: provider.PartText, Text: *p.Text})
		case p.Type == "image_url" && role != "user":
			return msg, invalid(part, fmt.Sprintf("%s is an image in a %s message; images go in user messages", part, role))
		case p.Type == "image_url":
			img, e := readImageURL(part+".image_url", p.ImageURL)
			if e != nil {
				return msg, e
			}
			out, images = append(out, img), true
		default:
			return msg, invalid(part, fmt.Sprintf(`%s is of type %q; Switchboard carries "text" and "image_url" parts`, part, echo(p.Type)))
		}
	}
	if images {
		msg.Parts = out
		return msg, nil
	}
	for _, p := range out {
		msg.Content += p.Text
	}
	return msg, nil
}

// readToolCalls reads an assistant message's tool_calls: each with its id,
// "type": "function", and the function's name and arguments (a string of
// JSON, as the model wrote it).
func readToolCalls(field string, v json.RawMessage) ([]provider.ToolCall, *apiError) {
	if v == nil {
		return nil, nil
	}
	var calls []toolCall
	if v[0] != '[' || json.Unmarshal(v, &calls) != nil {
		return nil, invalid(field, fmt.Sprintf(`%s must be an array of {"id": ..., "type": "function", "function": {"name": ..., "arguments": "..."}}, not %s`, field, describe(v)))
	}
	out := make([]provider.ToolCall, len(calls))
	for i, c := range calls {
		at := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case c.ID == "":
			return nil, invalid(at+".id", at+" has no id; a tool message answers the call by it")
		case c.Type != "function":
			return nil, invalid(at+".type", fmt.Sprintf(`%s.type is %q; it must be "function"`, at, echo(c.Type)))
		}
		if e := checkToolName(at+".function.name", c.Function.Name); e != nil {
			return nil, e
		}
		out[i] = provider.ToolCall{Index: i, ID: c.ID, Name: c.Function.Name, Arguments: c.Function.Arguments}
	}
	return out, nil
}

// readImageURL reads an image_url part's image: {"url": ..., "detail": ...},
// or the URL alone. The URL is an http(s) URL the upstream fetches, or a
// data URL holding the image.
func readImageURL(field string, v json.RawMessage) (provider.Part, *apiError) {
	var img struct {
		URL    string `json:"url"`
		Detail string `json:"detail"`
	}
	v = present(v)
	switch {
	case v == nil:
		return provider.Part{}, invalid(field, field+` is missing: {"url": "https://..." or "data:image/png;base64,..."}`)
	case v[0] == '"':
		if json.Unmarshal(v, &img.URL) != nil {
			return provider.Part{}, invalid(field, field+" is not a valid string")
		}
	case v[0] != '{' || json.Unmarshal(v, &img) != nil:
		return provider.Part{}, invalid(field, fmt.Sprintf(`%s must be {"url": ..., "detail": ...}, not %s`, field, describe(v)))
	}
	switch img.Detail {
	case "", "auto", "low", "high":
	default:
		return provider.Part{}, invalid(field+".detail", fmt.Sprintf(`%s.detail is %q; it may be "auto", "low" or "high"`, field, echo(img.Detail)))
	}
	if e := checkImageURL(field+".url", img.URL); e != nil {
		return provider.Part{}, e
	}
	return provider.Part{Type: provider.PartImage, ImageURL: img.URL, Detail: img.Detail}, nil
}

// imageTypes are the media types of images every upstream protocol takes.
var imageTypes = []string{"image/jpeg", "image/png", "image/gif", "image/webp"}

// checkImageURL refuses an image's URL at field that no upstream could
// read: neither http(s) nor a base64 data URL of an image type they take.
func checkImageURL(field, url string) *apiError {
	if strings.HasPrefix(url, "https://") || strings.HasPrefix(url, "http://") {
		return nil
	}
	media, data, ok := strings.Cut(strings.TrimPrefix(url, "data:"), ";base64,")
	switch {
	case !strings.HasPrefix(url, "data:"):
		return invalid(field, fmt.Sprintf(`%s is %q; an image is an https URL or a data URL ("data:image/png;base64,...")`, field, echo(url)))
	case !ok:
		return invalid(field, field+` is a data URL that is not base64; write "data:image/png;base64,..."`)
	case !slices.Contains(imageTypes, media):
		return invalid(field, fmt.Sprintf("%s is a data URL of %q; images may be %s", field, echo(media), strings.Join(imageTypes, ", ")))
	case len(data) == 0:
		return invalid(field, field+" is a data URL with no data")
	}
	return nil
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
	goType = strings.TrimLeft(goType, "*")
	switch {
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "struct"):
		return "an object"
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

// sortedKeys are m's keys in order, in one allocation (slices.Sorted grows
// its slice from nothing: a request's members took five).
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
