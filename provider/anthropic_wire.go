package provider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// anthropicRequest is the body of POST /messages. We always stream.
type anthropicRequest struct {
	Model string `json:"model"`
	// System is the system messages, joined; Messages are the others.
	System    string    `json:"system,omitempty"`
	Messages  []Message `json:"messages"`
	MaxTokens int       `json:"max_tokens"` // required
	// Temperature is at most 1.
	Temperature *float64 `json:"temperature,omitempty"`
	// The rest come from Request.Extra (see anthropicParams).
	TopP          json.RawMessage    `json:"top_p,omitempty"`
	TopK          json.RawMessage    `json:"top_k,omitempty"`
	StopSequences []string           `json:"stop_sequences,omitempty"`
	Metadata      *anthropicMetadata `json:"metadata,omitempty"`
	Stream        bool               `json:"stream"`
}

type anthropicMetadata struct {
	UserID string `json:"user_id"`
}

// defaultAnthropicMaxTokens is max_tokens when the request leaves it open:
// Anthropic requires one, and every current model can give this many.
const defaultAnthropicMaxTokens = 4096

// anthropicParams are the parameters of Request.Extra, named as OpenAI
// names them, that the Messages API has a counterpart for, with the name
// each is sent under. Every other key of Extra is dropped, not sent:
// Anthropic answers an unknown field with a 400, and most OpenAI parameters
// (seed, response_format, frequency_penalty, logprobs, n, ...) have no
// counterpart. AnthropicDropped tells a caller which of its parameters go.
var anthropicParams = map[string]string{
	"top_p": "top_p",
	"top_k": "top_k", // not OpenAI's, but OpenRouter's and vLLM's, and Anthropic's own
	"stop":  "stop_sequences",
}

// AnthropicDropped returns, sorted, the keys of extra (OpenAI-named request
// parameters, as in Request.Extra) that the Anthropic client leaves out of
// its request because the Messages API has nothing they map to: a caller
// can tell its user that they had no effect. It is empty when everything
// maps.
func AnthropicDropped(extra map[string]json.RawMessage) []string {
	_, dropped, _ := anthropicExtra(extra)
	return dropped
}

// anthropicExtra maps extra onto an Anthropic request (only the fields of
// anthropicParams are set in the result) and lists the keys it dropped.
// Keys the client sets itself, and values that are not valid JSON or not of
// a usable shape, are errors, as they are for the OpenAI client.
func anthropicExtra(extra map[string]json.RawMessage) (anthropicRequest, []string, error) {
	var r anthropicRequest
	var dropped []string
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		v := bytes.TrimSpace(extra[k])
		switch {
		case ownKeys[k]:
			errs = append(errs, fmt.Errorf("parameter %q is set by the client, not passed through", k))
			continue
		case !json.Valid(v):
			errs = append(errs, fmt.Errorf("parameter %q is not valid JSON", k))
			continue
		case anthropicParams[k] == "":
			dropped = append(dropped, k)
			continue
		case string(v) == "null":
			continue // as if it were not there
		}
		switch k {
		case "top_p":
			r.TopP = v
		case "top_k":
			r.TopK = v
		case "stop":
			stops, err := stopSequences(v)
			if err != nil {
				errs = append(errs, err)
			}
			r.StopSequences = stops
		}
	}
	return r, dropped, errors.Join(errs...)
}

// stopSequences reads OpenAI's stop, a string or a list of strings, as
// Anthropic's stop_sequences, which is always a list.
func stopSequences(v json.RawMessage) ([]string, error) {
	var one string
	if json.Unmarshal(v, &one) == nil {
		return []string{one}, nil
	}
	var list []string
	if json.Unmarshal(v, &list) == nil {
		return list, nil
	}
	return nil, errors.New(`parameter "stop" must be a string or a list of strings`)
}

// encodeAnthropic builds the body of POST /messages from an OpenAI-shaped
// request.
func encodeAnthropic(req Request) ([]byte, error) {
	r, _, err := anthropicExtra(req.Extra)
	if err != nil {
		return nil, err
	}
	if req.User != "" {
		r.Metadata = &anthropicMetadata{UserID: req.User} // Anthropic's place for the end user
	}
	r.Model, r.Stream = req.Model, true
	r.MaxTokens = req.MaxTokens
	if r.MaxTokens == 0 {
		r.MaxTokens = defaultAnthropicMaxTokens
	}
	if t := req.Temperature; t != nil {
		// OpenAI's temperature goes to 2, Anthropic's to 1, and a 400 for a
		// value its range does not have would fail a request that any
		// other provider serves: the hottest it can do is close enough.
		v := min(*t, 1)
		r.Temperature = &v
	}
	// Anthropic has no system role: the system prompt is a field of its
	// own. OpenAI's newer name for the role, "developer", means the same.
	var system []string
	r.Messages = make([]Message, 0, len(req.Messages))
	for _, m := range req.Messages {
		if m.Role == "system" || m.Role == "developer" {
			system = append(system, m.Content)
			continue
		}
		r.Messages = append(r.Messages, m)
	}
	r.System = strings.Join(system, "\n\n")
	return json.Marshal(r)
}

// anthropicUsage counts tokens as Anthropic does: input_tokens leaves out
// the prompt tokens read from or written to the prompt cache.
type anthropicUsage struct {
	InputTokens              int `json:"input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	OutputTokens             int `json:"output_tokens"`
}

// prompt returns the whole prompt's tokens, cached ones included, as
// OpenAI's prompt_tokens counts them.
func (u anthropicUsage) prompt() int {
	return u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens
}

// anthropicMessage is a whole message: the answer of a server that ignored
// "stream": true, and the empty one that message_start opens a stream with.
type anthropicMessage struct {
	ID         string           `json:"id"`
	Type       string           `json:"type"`
	Model      string           `json:"model"`
	Content    []anthropicBlock `json:"content"`
	StopReason string           `json:"stop_reason"`
	Usage      *anthropicUsage  `json:"usage"`
	Error      json.RawMessage  `json:"error"`
}

// anthropicBlock is a content block (of a message, or in
// content_block_start) or a block's delta (in content_block_delta).
type anthropicBlock struct {
	Type     string `json:"type"` // text, thinking, ...; text_delta, thinking_delta, ...
	Text     string `json:"text"`
	Thinking string `json:"thinking"`
}

// anthropicEvent is the data of one stream event; which fields are set
// depends on its type.
type anthropicEvent struct {
	Type         string            `json:"type"`
	Message      *anthropicMessage `json:"message"`       // message_start
	ContentBlock anthropicBlock    `json:"content_block"` // content_block_start
	// Delta is a block's delta in content_block_delta, and the message's
	// stop reason in message_delta.
	Delta struct {
		anthropicBlock
		StopReason string `json:"stop_reason"`
	} `json:"delta"`
	Usage *anthropicUsage `json:"usage"` // message_delta
	Error json.RawMessage `json:"error"` // error
}

// anthropicFinish maps Anthropic's stop reasons to OpenAI's finish reasons,
// which the rest of Switchboard speaks. A reason not listed here is passed
// on as it is, and still ends the answer.
var anthropicFinish = map[string]string{
	"end_turn":      "stop",
	"stop_sequence": "stop",
	// pause_turn: a server tool's long turn, paused to be continued by
	// another request. What came is whole as far as it goes.
	"pause_turn":                    "stop",
	"max_tokens":                    "length",
	"model_context_window_exceeded": "length",
	"tool_use":                      "tool_calls",
	"refusal":                       "content_filter",
}

func finishOf(stopReason string) string {
	if f, ok := anthropicFinish[stopReason]; ok {
		return f
	}
	return stopReason
}

// anthropicDecoder reads the events of a Messages API stream:
// message_start, then for each content block content_block_start, its
// content_block_delta events and content_block_stop, then message_delta with
// the stop reason and the output's usage, then message_stop; ping events
// anywhere. It keeps what message_start said, since the chunks after it
// need it.
type anthropicDecoder struct {
	key       string // to redact from upstream text
	id, model string
	prompt    int // the prompt's tokens, from message_start
	cached    int // of those, read from the upstream's cache
}

func (d *anthropicDecoder) event(ev sseEvent) (Chunk, eventKind, error) {
	var w anthropicEvent
	if err := json.Unmarshal(ev.Data, &w); err != nil {
		return Chunk{}, eventData, malformed("stream event", ev.Data, err, d.key)
	}
	var c Chunk
	switch w.Type {
	case "ping":
		return Chunk{}, eventKeepAlive, nil
	case "message_stop":
		return Chunk{}, eventDone, nil
	case "error": // an error in the data only, without "event: error"
		return Chunk{}, eventData, streamError(parseErrorBody(ev.Data, d.key))
	case "message_start":
		if m := w.Message; m != nil {
			d.id, d.model = m.ID, m.Model
			if m.Usage != nil {
				d.prompt, d.cached = m.Usage.prompt(), m.Usage.CacheReadInputTokens
			}
		}
	case "content_block_start":
		c.Content, c.Reasoning = w.ContentBlock.Text, w.ContentBlock.Thinking
	case "content_block_delta":
		// signature_delta (a thinking block's seal) and input_json_delta
		// (a tool call's arguments) carry nothing we pass on.
		switch w.Delta.Type {
		case "text_delta":
			c.Content = w.Delta.Text
		case "thinking_delta":
			c.Reasoning = w.Delta.Thinking
		}
	case "message_delta":
		c.FinishReason = finishOf(w.Delta.StopReason)
		if u := w.Usage; u != nil {
			// Newer servers repeat the prompt's count here; it is the
			// final one.
			if p := u.prompt(); p > 0 {
				d.prompt = p
			}
			c.Usage = &Usage{PromptTokens: d.prompt, CompletionTokens: u.OutputTokens, TotalTokens: d.prompt + u.OutputTokens, CachedTokens: d.cached}
		}
	}
	// content_block_stop and event types added after this was written are
	// output with nothing in it for us.
	c.ID, c.Model = d.id, d.model
	return c, eventData, nil
}

// answerEvents are the events of a Messages stream that carry the answer:
// its id and model, its text and thinking, its stop reason and usage. One
// of them that does not decode has lost some of it, whatever its data.
var answerEvents = map[string]bool{
	"message_start": true, "content_block_start": true, "content_block_delta": true, "message_delta": true,
}

func (d *anthropicDecoder) mayHoldText(ev sseEvent) bool { return answerEvents[ev.Type] }

// whole decodes a whole message into the one chunk a stream would have
// ended with: its text, its thinking, its stop reason and its usage.
func (d *anthropicDecoder) whole(data []byte) (Chunk, error) {
	var w anthropicMessage
	if err := json.Unmarshal(data, &w); err != nil {
		return Chunk{}, malformed("message", data, err, d.key)
	}
	if e, ok := inBandError(w.Error, d.key); ok {
		return Chunk{}, e
	}
	if w.Content == nil {
		return Chunk{}, malformed("message", data, errors.New("no content"), d.key)
	}
	c := Chunk{ID: w.ID, Model: w.Model, FinishReason: finishOf(w.StopReason)}
	for _, b := range w.Content {
		c.Content += b.Text
		c.Reasoning += b.Thinking
	}
	if u := w.Usage; u != nil {
		c.Usage = &Usage{PromptTokens: u.prompt(), CompletionTokens: u.OutputTokens, TotalTokens: u.prompt() + u.OutputTokens,
			CachedTokens: u.CacheReadInputTokens}
	}
	return c, nil
}
