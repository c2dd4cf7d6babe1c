package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// openAIRequest is the body of POST /chat/completions. We always stream, and
// ask for the usage chunk so that token counts come from the upstream.
type openAIRequest struct {
	Model         string              `json:"model"`
	Messages      []Message           `json:"messages"`
	Stream        bool                `json:"stream"`
	StreamOptions openAIStreamOptions `json:"stream_options"`
	MaxTokens     int                 `json:"max_tokens,omitempty"`
	Temperature   *float64            `json:"temperature,omitempty"`
	User          string              `json:"user,omitempty"`
}

// ownKeys are the request body's keys that the client sets itself; Extra
// may not replace them. The end user goes in Request.User, which each
// protocol sends in its own field.
var ownKeys = map[string]bool{"model": true, "messages": true, "stream": true, "stream_options": true,
	"max_tokens": true, "temperature": true, "user": true}

// withExtra adds extra's parameters to a marshalled request object, in the
// order of their keys.
func withExtra(body []byte, extra map[string]json.RawMessage) ([]byte, error) {
	if len(extra) == 0 {
		return body, nil
	}
	out := body[:len(body)-1] // without the closing brace
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		if ownKeys[k] {
			return nil, fmt.Errorf("parameter %q is set by the client, not passed through", k)
		}
		v := extra[k]
		if !json.Valid(v) {
			return nil, fmt.Errorf("parameter %q is not valid JSON", k)
		}
		key, _ := json.Marshal(k)
		out = append(append(append(append(out, ','), key...), ':'), v...)
	}
	return append(out, '}'), nil
}

type openAIStreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// openAIChunk is one chat.completion.chunk. Error is OpenRouter's in-band
// error, sent after tokens were streamed, when the status is already 200.
type openAIChunk struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content string `json:"content"`
			// A reasoning model's thinking: OpenRouter sends it as
			// reasoning, DeepSeek and vLLM as reasoning_content.
			Reasoning        string           `json:"reasoning"`
			ReasoningContent string           `json:"reasoning_content"`
			ToolCalls        []openAIToolCall `json:"tool_calls"`
		} `json:"delta"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *openAIUsage    `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// openAICompletion is a whole chat.completion: the answer of a server that
// ignored "stream": true.
type openAICompletion struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Content          string           `json:"content"`
			Reasoning        string           `json:"reasoning"`
			ReasoningContent string           `json:"reasoning_content"`
			ToolCalls        []openAIToolCall `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *openAIUsage    `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// decodeChunk turns one event's data into a Chunk. Only the first choice
// (index 0) is kept: we never ask for more. An in-band error object becomes
// its classified *Error; data that is not a chunk is ClassMalformed.
func decodeChunk(data []byte, key string) (Chunk, error) {
	var w openAIChunk
	if err := json.Unmarshal(data, &w); err != nil {
		return Chunk{}, malformed("stream chunk", data, err, key)
	}
	if e, ok := inBandError(w.Error, key); ok {
		return Chunk{}, e
	}
	c := Chunk{ID: w.ID, Model: w.Model, Usage: w.Usage.usage()}
	for _, ch := range w.Choices {
		if ch.Index != 0 {
			continue
		}
		c.Content += ch.Delta.Content
		c.Reasoning += ch.Delta.Reasoning + ch.Delta.ReasoningContent
		for _, tc := range ch.Delta.ToolCalls {
			c.ToolCalls = append(c.ToolCalls, tc.call(tc.Index))
		}
		if ch.FinishReason != "" {
			c.FinishReason = ch.FinishReason
		}
	}
	return c, nil
}

// decodeCompletion turns a whole chat.completion into the one Chunk a stream
// would have ended with.
func decodeCompletion(data []byte, key string) (Chunk, error) {
	var w openAICompletion
	if err := json.Unmarshal(data, &w); err != nil {
		return Chunk{}, malformed("completion", data, err, key)
	}
	if e, ok := inBandError(w.Error, key); ok {
		return Chunk{}, e
	}
	if len(w.Choices) == 0 {
		return Chunk{}, malformed("completion", data, errors.New("no choices"), key)
	}
	c := Chunk{ID: w.ID, Model: w.Model, Usage: w.Usage.usage()}
	for _, ch := range w.Choices {
		if ch.Index == 0 {
			c.Content += ch.Message.Content
			c.Reasoning += ch.Message.Reasoning + ch.Message.ReasoningContent
			for i, tc := range ch.Message.ToolCalls { // whole: one piece a call, in order
				c.ToolCalls = append(c.ToolCalls, tc.call(i))
			}
			if ch.FinishReason != "" {
				c.FinishReason = ch.FinishReason
			}
		}
	}
	return c, nil
}

// inBandError classifies an error object found in a 2xx answer. ok is false
// when raw holds no error (absent, null, or not an error object).
func inBandError(raw json.RawMessage, key string) (*Error, bool) {
	e, ok := parseAPIError(raw, key)
	if !ok {
		return nil, false
	}
	return streamError(e), true
}

// streamError builds the *Error of an error the upstream reported inside a
// 2xx answer.
func streamError(e apiError) *Error {
	msg := "error in stream: " + e.Message
	if e.Code != "" {
		msg = fmt.Sprintf("error %s in stream: %s", e.Code, e.Message)
	}
	return &Error{Class: classifyInBand(e), Message: msg}
}

// malformed reports an answer that does not parse, quoting its start so that
// whoever reads the error can see what came instead.
func malformed(what string, data []byte, err error, key string) *Error {
	return &Error{
		Class:   ClassMalformed,
		Message: fmt.Sprintf("%s is not valid: %q", what, scrubTo(string(data), key, maxQuote)),
		Err:     safeWrap("decoding "+what, err, key),
	}
}

// openAIToolCall is a tool call as OpenAI's API words it, whole (in a
// message) or a piece of one (in a delta, with its index).
type openAIToolCall struct {
	Index    int    `json:"index"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

func (tc openAIToolCall) call(index int) ToolCall {
	return ToolCall{Index: index, ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments}
}

// openAIUsage is Usage as OpenAI's API words it.
type openAIUsage struct {
	Usage
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

// usage returns u as a Usage, nil for nil.
func (u *openAIUsage) usage() *Usage {
	if u == nil {
		return nil
	}
	out := u.Usage
	out.CachedTokens = u.PromptTokensDetails.CachedTokens
	return &out
}
