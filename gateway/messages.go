package gateway

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"

	"switchboard/provider"
	"switchboard/routing"
)

// Anthropic's Messages API (POST /v1/messages) over the same router, so
// that Anthropic's SDKs and Claude Code (ANTHROPIC_BASE_URL) route through
// Switchboard whatever protocol the upstreams speak. Its requests are read
// into a chatRequest and checked as chat requests are; only the words of
// the answer and the shape of errors differ (see dialect).

// anthropicAPI is Anthropic's Messages API as a dialect, for a request
// whose prompt is estimated at prompt tokens (see messages).
func anthropicAPI(prompt *int) *dialect {
	return &dialect{name: "message", idPrefix: "msg_", writeError: writeAnthropicError, whole: wholeMessage,
		parse: func(body []byte) (*chatRequest, routing.Request, *apiError) {
			c, req, e := parseMessages(body)
			*prompt = routing.PromptTokens(req.Messages)
			return c, req, e
		},
		delta: func(out *sseOut, x *exchange, d routing.Delta) bool {
			if d.Content == "" {
				return false
			}
			messageDelta(out, x, d.Content, *prompt)
			return true
		},
		keepAlive: sseEvent("ping", map[string]string{"type": "ping"}),
		end: func(out *sseOut, x *exchange, res *routing.Result, e *apiError) {
			endMessage(out, x, res, e, *prompt)
		}}
}

// messages serves POST /v1/messages. A stream's message_start says the
// prompt's input tokens before the upstream has reported them (it reports
// them at the end): the router's estimate of the prompt (routing.PromptTokens,
// as count_tokens has it); message_delta at the end has the upstream's
// figure, or the estimate if it gave none.
func (s *Server) messages(w http.ResponseWriter, r *http.Request) {
	var prompt int
	s.serve(w, r, anthropicAPI(&prompt))
}

// messagesFields are the members of a Messages request the gateway takes:
// Anthropic's, OpenRouter's provider and models, and OpenRouter's fields
// for the gateway (gatewayFields) but user, whose place here is Anthropic's
// metadata.user_id, and metadata, which is Anthropic's here. Every other
// member (tools, thinking, ...) is refused rather than dropped.
var messagesFields = []string{"model", "models", "provider", "messages", "system", "stream", "max_tokens",
	"temperature", "top_p", "top_k", "stop_sequences", "metadata"}

// messagesExtras are the members of a Messages request that chatRequest
// does not have.
type messagesExtras struct {
	System        json.RawMessage `json:"system"`
	StopSequences []string        `json:"stop_sequences"`
	Metadata      json.RawMessage `json:"metadata"`
}

// parseMessages reads and checks a Messages request and turns it into the
// router's terms, as parseChat does for a chat request.
func parseMessages(body []byte) (*chatRequest, routing.Request, *apiError) {
	var none routing.Request
	fields, e := object(body)
	if e != nil {
		return nil, none, e
	}
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		switch {
		case string(fields[k]) == "null", slices.Contains(messagesFields, k), gatewayFields[k] != nil && k != "user":
		case k == "user":
			return nil, none, invalid(k, "user is OpenAI's field; in a Messages request the end user's id goes in metadata.user_id")
		default:
			return nil, none, invalid(echo(k), fmt.Sprintf("%s is not supported: Switchboard's /v1/messages carries text messages only; leave it out", echo(k)))
		}
	}
	var c chatRequest
	var x messagesExtras
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, none, badJSON(body, err)
	}
	if err := json.Unmarshal(body, &x); err != nil {
		return nil, none, badJSON(body, err)
	}
	if c.MaxTokens == nil {
		return &c, none, invalid("max_tokens", "max_tokens is missing: the Messages API requires it, e.g. \"max_tokens\": 1024")
	}
	for i, m := range c.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			field := fmt.Sprintf("messages[%d].role", i)
			return &c, none, invalid(field, fmt.Sprintf(`%s is %q; it must be "user" or "assistant" (a system prompt goes in system)`, field, echo(m.Role)))
		}
	}
	user, e := anthropicUser(x.Metadata)
	if e != nil {
		return &c, none, e
	}
	// The members chat's checks read, in OpenAI's words: top_p and top_k go
	// upstream as they are, stop_sequences as stop; OpenRouter's fields for
	// the gateway are read as on chat.
	chat := map[string]json.RawMessage{}
	for k, v := range fields {
		if k == "top_p" || k == "top_k" || gatewayFields[k] != nil && k != "metadata" {
			chat[k] = v
		}
	}
	if len(x.StopSequences) > 0 {
		chat["stop"], _ = json.Marshal(x.StopSequences)
	}
	req, e := c.routing(chat)
	if e != nil {
		return &c, req, e
	}
	req.User = user
	if sys := x.System; len(sys) > 0 && string(sys) != "null" {
		m, e := chatMessage{Role: "system", Content: sys}.message("system")
		if e != nil {
			return &c, req, e
		}
		req.Messages = append([]provider.Message{m}, req.Messages...)
	}
	return &c, req, nil
}

// anthropicUser reads Anthropic's metadata, whose one field is user_id:
// the end user's id, which goes to routing.Request.User.
func anthropicUser(metadata json.RawMessage) (string, *apiError) {
	metadata = bytes.TrimSpace(metadata)
	if len(metadata) == 0 || string(metadata) == "null" {
		return "", nil
	}
	var m map[string]json.RawMessage
	if metadata[0] != '{' || json.Unmarshal(metadata, &m) != nil {
		return "", invalid("metadata", fmt.Sprintf(`metadata must be an object such as {"user_id": "..."}, not %s`, describe(metadata)))
	}
	var user string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := bytes.TrimSpace(m[k])
		switch {
		case k != "user_id":
			return "", invalid(member("metadata", k), member("metadata", k)+" is not a field of metadata; its one field is user_id")
		case string(v) == "null":
		default:
			if e := decodeString("metadata.user_id", v, &user); e != nil {
				return "", e
			}
		}
	}
	return user, nil
}

// anthropicMessage is a Messages answer: whole, or (empty) in
// message_start; with Switchboard's provider and trace.
type anthropicMessage struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"` // always "message"
	Role         string         `json:"role"`
	Model        string         `json:"model"`
	Content      []contentBlock `json:"content"`
	StopReason   *string        `json:"stop_reason"`
	StopSequence *string        `json:"stop_sequence"`
	Usage        anthropicUsage `json:"usage"`
	Provider     string         `json:"provider,omitempty"`
	Trace        *routing.Trace `json:"trace,omitempty"`
}

type anthropicUsage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

// contentBlock is a text block, or a thinking block (with its signature,
// empty: the thinking did not come from Anthropic).
type contentBlock struct {
	Type      string  `json:"type"`
	Text      *string `json:"text,omitempty"`
	Thinking  *string `json:"thinking,omitempty"`
	Signature *string `json:"signature,omitempty"`
}

func textBlock(s string) contentBlock { return contentBlock{Type: "text", Text: &s} }

// stopReason words a finish reason as Anthropic's stop_reason.
func stopReason(finish string) *string {
	r := "end_turn"
	switch finish {
	case "length":
		r = "max_tokens"
	case "content_filter":
		r = "refusal"
	}
	return &r
}

func usageOfMessage(u provider.Usage) anthropicUsage {
	return anthropicUsage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens}
}

func wholeMessage(x *exchange, res *routing.Result) any {
	m := anthropicMessage{ID: x.id, Type: "message", Role: "assistant", Model: res.Model,
		StopReason: stopReason(res.FinishReason), Usage: usageOfMessage(res.Usage), Provider: res.Provider, Trace: res.Trace}
	if res.Reasoning != "" {
		thinking, signature := res.Reasoning, ""
		m.Content = append(m.Content, contentBlock{Type: "thinking", Thinking: &thinking, Signature: &signature})
	}
	m.Content = append(m.Content, textBlock(res.Content))
	return m
}

// sseEvent is one of Anthropic's named events.
func sseEvent(name string, v any) string {
	b, _ := json.Marshal(v) // our own types
	return "event: " + name + "\ndata: " + string(b) + "\n\n"
}

// blockEvent is content_block_start, content_block_delta or
// content_block_stop.
type blockEvent struct {
	Type         string        `json:"type"`
	Index        int           `json:"index"`
	ContentBlock *contentBlock `json:"content_block,omitempty"`
	Delta        *textDelta    `json:"delta,omitempty"`
}

type textDelta struct {
	Type string `json:"type"` // "text_delta"
	Text string `json:"text"`
}

// begin opens a Messages stream's message, with the prompt's estimated
// input tokens, and its one text block.
func begin(out *sseOut, x *exchange, prompt int) {
	start := anthropicMessage{ID: x.id, Type: "message", Role: "assistant", Model: cmp.Or(x.served.Model, x.model),
		Content: []contentBlock{}, Provider: x.served.Provider, Usage: anthropicUsage{InputTokens: prompt}}
	out.write(sseEvent("message_start", struct {
		Type    string           `json:"type"`
		Message anthropicMessage `json:"message"`
	}{"message_start", start}))
	empty := textBlock("")
	out.write(sseEvent("content_block_start", blockEvent{Type: "content_block_start", ContentBlock: &empty}))
}

func messageDelta(out *sseOut, x *exchange, text string, prompt int) {
	if !x.streamed {
		begin(out, x, prompt)
	}
	out.write(sseEvent("content_block_delta", blockEvent{Type: "content_block_delta", Delta: &textDelta{"text_delta", text}}))
}

// messageDeltaEvent carries the stop reason and the usage, and
// Switchboard's trace.
type messageDeltaEvent struct {
	Type  string `json:"type"`
	Delta struct {
		StopReason   *string `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	} `json:"delta"`
	Usage anthropicUsage `json:"usage"`
	Trace *routing.Trace `json:"trace,omitempty"`
}

// endMessage ends a Messages stream: the block, the stop reason and usage,
// message_stop; or an error event, after which nothing more comes.
func endMessage(out *sseOut, x *exchange, res *routing.Result, e *apiError, prompt int) {
	if e != nil {
		out.write(sseEvent("error", e.anthropic()))
		return
	}
	if !out.open { // an empty answer: no content ever came
		out.start(res.Provider)
	}
	if !x.streamed {
		begin(out, x, prompt)
	}
	out.write(sseEvent("content_block_stop", blockEvent{Type: "content_block_stop"}))
	d := messageDeltaEvent{Type: "message_delta", Usage: usageOfMessage(res.Usage), Trace: res.Trace}
	d.Usage.InputTokens = cmp.Or(d.Usage.InputTokens, prompt)
	d.Delta.StopReason = stopReason(res.FinishReason)
	out.write(sseEvent("message_delta", d))
	out.write(sseEvent("message_stop", map[string]string{"type": "message_stop"}))
}
