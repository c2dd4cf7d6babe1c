package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
)

// maxBodyBytes caps a request body; past it the answer is 413, as real
// providers answer oversized prompts.
const maxBodyBytes = 4 << 20

// chatRequest is the part of an OpenAI chat completion request the simulator
// reads. Everything else a client sends (temperature, tools, ...) is accepted
// and ignored, as a lenient provider would.
type chatRequest struct {
	Model         string          `json:"model"`
	Messages      json.RawMessage `json:"messages"`
	Stream        bool            `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           *int `json:"max_tokens"`
	MaxCompletionTokens *int `json:"max_completion_tokens"`

	messages  []message // decoded from Messages
	maxTokens int       // the effective cap; 0 for none
}

// wireMessage is one chat message as sent.
type wireMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// message is one chat message with its text flattened.
type message struct {
	Role string
	text string
}

var roles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true}

// decodeChat reads and validates a chat request, answering problems the way
// the OpenAI API does.
func decodeChat(w http.ResponseWriter, r *http.Request) (*chatRequest, *httpError) {
	var req chatRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err := dec.Decode(&req); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, newHTTPError(http.StatusRequestEntityTooLarge, typeInvalidRequest, "", "",
				"Request body is larger than %d bytes.", maxBodyBytes)
		}
		return nil, errBadRequest("", "We could not parse the JSON body of your request: %v. "+
			"The OpenAI API expects a JSON payload.", err)
	}
	if dec.More() {
		return nil, errBadRequest("", "We could not parse the JSON body of your request: "+
			"extra data after the JSON object.")
	}
	if req.Model == "" {
		return nil, errBadRequest("model", "You must provide a model parameter.")
	}
	raw := bytes.TrimSpace(req.Messages)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, errBadRequest("messages", "Missing required parameter: 'messages'.")
	}
	var wire []wireMessage
	if err := json.Unmarshal(raw, &wire); err != nil {
		return nil, errBadRequest("messages", "Invalid 'messages': expected an array of message objects (%v).", err)
	}
	if len(wire) == 0 {
		return nil, errBadRequest("messages", "Invalid 'messages': empty array. "+
			"Expected an array with minimum length 1, but got an empty array instead.")
	}
	for i, m := range wire {
		if !roles[m.Role] {
			return nil, errBadRequest("messages", "Invalid value for 'messages[%d].role': %q. "+
				"Supported values are: 'system', 'developer', 'user', 'assistant' and 'tool'.", i, m.Role)
		}
		text, ok := contentText(m.Content)
		if !ok {
			return nil, errBadRequest("messages", "Invalid 'messages[%d].content': "+
				"expected a string or an array of content parts.", i)
		}
		req.messages = append(req.messages, message{Role: m.Role, text: text})
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
		if req.maxTokens == 0 || *c.v < req.maxTokens {
			req.maxTokens = *c.v
		}
	}
	return &req, nil
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
