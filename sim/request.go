package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// maxBodyBytes caps a request body; past it the answer is 413, as real
// providers answer oversized prompts.
const maxBodyBytes = 4 << 20

// chatRequest is a chat request as the simulator acts on it, whichever API
// it came through.
type chatRequest struct {
	model      string
	stream     bool
	messages   []message // a system prompt, if any, comes first
	maxTokens  int       // the cap on the answer; 0 for none
	user       string    // the end user it names (OpenAI's user, Anthropic's metadata.user_id); "" for none
	tools      []tool    // the tools offered, in order
	toolChoice toolChoice
	// thinks is whether a reasoning profile thinks before this answer:
	// unless OpenAI's reasoning_effort is "none"; on Anthropic's API only
	// when thinking is enabled.
	thinks      bool
	logprobs    bool // OpenAI's logprobs: true
	topLogprobs int  // OpenAI's top_logprobs
	images      []image
	thoughts    []thought // thinking blocks sent back (Anthropic), to check their signatures
}

// thought is a thinking block an assistant message carries back, with
// the refusal to answer if its signature is not the one this server gave.
type thought struct {
	text, signature string
	refusal         *httpError
}

// prefill reports whether the request ends with the assistant's text,
// which it asks the model to go on from.
func (r *chatRequest) prefill() bool {
	return len(r.messages) > 0 && r.messages[len(r.messages)-1].Role == "assistant"
}

// openAIRequest is the part of an OpenAI chat completion request the
// simulator reads. Everything else a client sends (temperature, ...) is
// accepted and ignored, as a lenient provider would.
type openAIRequest struct {
	Model         string          `json:"model"`
	Messages      json.RawMessage `json:"messages"`
	Stream        bool            `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	User                json.RawMessage `json:"user"` // a string; raw to word a wrong type as OpenAI does
	Tools               *[]openAITool   `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"` // a string or an object
	ParallelToolCalls   *bool           `json:"parallel_tool_calls"`
	ReasoningEffort     *string         `json:"reasoning_effort"`
	Logprobs            *bool           `json:"logprobs"`
	TopLogprobs         *int            `json:"top_logprobs"`
}

// openAITool is one of the tools offered.
type openAITool struct {
	Type     string `json:"type"`
	Function *struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
		Strict      *bool           `json:"strict"`
	} `json:"function"`
}

// openAIMessage is one chat message as an OpenAI client sends it.
type openAIMessage struct {
	Role       string           `json:"role"`
	Content    json.RawMessage  `json:"content"`
	ToolCalls  []openAIToolCall `json:"tool_calls"`
	ToolCallID *string          `json:"tool_call_id"`
}

// openAIToolCall is a call an assistant message carries, or (with its
// index) a piece of one in a stream.
type openAIToolCall struct {
	Index    *int   `json:"index,omitempty"` // streams only
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// reasoningEfforts are the values OpenAI's reasoning_effort takes.
var reasoningEfforts = []string{"none", "minimal", "low", "medium", "high", "xhigh"}

// wireMessage is one chat message as sent.
type wireMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// message is one chat message with its text flattened.
type message struct {
	Role    string
	text    string
	calls   []toolCall   // the assistant's tool calls
	results []toolResult // the tool results it carries (a tool message, a user's tool_result blocks)
	images  int
}

// promptText is all of m a model reads, as one text: its words, its
// calls and its results; two messages that differ in any of them are
// different prompts.
func (m message) promptText() string {
	if len(m.calls) == 0 && len(m.results) == 0 {
		return m.text
	}
	var b strings.Builder
	b.WriteString(m.text)
	for _, c := range m.calls {
		fmt.Fprintf(&b, " %s %s %s", c.id, c.name, c.args)
	}
	for _, r := range m.results {
		fmt.Fprintf(&b, " %s %s", r.id, r.text)
	}
	return b.String()
}

var roles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true}

// errTrailingData is a body with more after its JSON value.
var errTrailingData = errors.New("extra data after the JSON object")

// readBody reads a request body holding one JSON value of at most
// maxBodyBytes; tooLarge tells a body over the cap from a malformed one, as
// every API answers them with different statuses.
func readBody(w http.ResponseWriter, r *http.Request) (raw json.RawMessage, tooLarge bool, err error) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err := dec.Decode(&raw); err != nil {
		_, tooLarge = errors.AsType[*http.MaxBytesError](err)
		return nil, tooLarge, err
	}
	if dec.More() {
		return nil, false, errTrailingData
	}
	return raw, false, nil
}

// decode reads and validates a chat request, answering problems the way the
// OpenAI API does.
func (openAI) decode(w http.ResponseWriter, r *http.Request) (*chatRequest, *httpError) {
	raw, tooLarge, err := readBody(w, r)
	if tooLarge {
		return nil, newHTTPError(http.StatusRequestEntityTooLarge, typeInvalidRequest, "", "",
			"Request body is larger than %d bytes.", maxBodyBytes)
	}
	var req openAIRequest
	if err == nil {
		err = json.Unmarshal(raw, &req)
	}
	if err != nil {
		return nil, errBadRequest("", "We could not parse the JSON body of your request: %v. "+
			"The OpenAI API expects a JSON payload.", err)
	}
	if req.Model == "" {
		return nil, errBadRequest("model", "You must provide a model parameter.")
	}
	msgs := bytes.TrimSpace(req.Messages)
	if len(msgs) == 0 || bytes.Equal(msgs, []byte("null")) {
		return nil, errBadRequest("messages", "Missing required parameter: 'messages'.")
	}
	var wire []openAIMessage
	if err := json.Unmarshal(msgs, &wire); err != nil {
		return nil, errBadRequest("messages", "Invalid 'messages': expected an array of message objects (%v).", err)
	}
	if len(wire) == 0 {
		return nil, errBadRequest("messages", "Invalid 'messages': empty array. "+
			"Expected an array with minimum length 1, but got an empty array instead.")
	}
	chat := &chatRequest{model: req.Model, stream: req.Stream, thinks: true}
	if u := bytes.TrimSpace(req.User); len(u) > 0 && !bytes.Equal(u, []byte("null")) {
		if json.Unmarshal(u, &chat.user) != nil {
			return nil, errBadRequest("user", "Invalid type for 'user': expected a string, but got %s instead.", jsonKind(u))
		}
	}
	for i, m := range wire {
		if !roles[m.Role] {
			return nil, errBadRequest("messages", "Invalid value for 'messages[%d].role': %q. "+
				"Supported values are: 'system', 'developer', 'user', 'assistant' and 'tool'.", i, m.Role)
		}
		msg, fail := openAIMessageOf(i, m, &chat.images)
		if fail != nil {
			return nil, fail
		}
		chat.messages = append(chat.messages, msg)
	}
	if fail := openAIToolTurns(chat.messages); fail != nil {
		return nil, fail
	}
	if fail := openAITools(&req, chat); fail != nil {
		return nil, fail
	}
	if fail := openAISampling(&req, chat); fail != nil {
		return nil, fail
	}
	for _, c := range []struct {
		name string
		v    *int
	}{{"max_tokens", req.MaxTokens}, {"max_completion_tokens", req.MaxCompletionTokens}} {
		if c.v == nil {
			continue
		}
		if *c.v < 1 {
			return nil, errBadRequest(c.name, "Invalid '%s': integer below minimum value. "+
				"Expected a value >= 1, but got %d instead.", c.name, *c.v)
		}
		if chat.maxTokens == 0 || *c.v < chat.maxTokens {
			chat.maxTokens = *c.v
		}
	}
	return chat, nil
}

// jsonKind names the type of a JSON value for a message, without quoting
// it: it may be long.
func jsonKind(v []byte) string {
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case '"':
		return "a string"
	}
	return "a number"
}

// contentText flattens a message's content: a string, null (an assistant
// turn with tool calls), or an array of parts whose text parts count.
func contentText(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, true
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", false
	}
	var b bytes.Buffer
	for _, p := range parts {
		if p.Type == "text" {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(p.Text)
		}
	}
	return b.String(), true
}
