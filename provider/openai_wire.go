package provider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"switchboard/wirejson"
)

// openAIRequest is the body of POST /chat/completions. We always stream, and
// ask for the usage chunk so that token counts come from the upstream.
type openAIRequest struct {
	Model         string              `json:"model"`
	Messages      []openAIMessage     `json:"messages"`
	Stream        bool                `json:"stream"`
	StreamOptions openAIStreamOptions `json:"stream_options"`
	MaxTokens     int                 `json:"max_tokens,omitempty"`
	Temperature   *float64            `json:"temperature,omitempty"`
	User          string              `json:"user,omitempty"`
	Tools         []openAITool        `json:"tools,omitempty"`
	// ToolChoice is a mode's word or an openAINamedChoice; nil sends none.
	ToolChoice        any    `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool  `json:"parallel_tool_calls,omitempty"`
	ReasoningEffort   string `json:"reasoning_effort,omitempty"`
}

// ownKeys are the request body's keys that the client sets itself; Extra
// may not replace them. The end user goes in Request.User, which each
// protocol sends in its own field; tools and reasoning go in the Request's
// fields of their own, which each protocol words in its own way
// ("reasoning" is OpenRouter's object, which Request.Reasoning stands for).
var ownKeys = map[string]bool{"model": true, "messages": true, "stream": true, "stream_options": true,
	"max_tokens": true, "temperature": true, "user": true,
	"tools": true, "tool_choice": true, "parallel_tool_calls": true, "reasoning": true, "reasoning_effort": true}

// openAIMessage is a Message as OpenAI's API words it. Content is the
// text as a string, the parts as a list of openAIPart, or nil (null) for
// an assistant's message that only calls tools.
type openAIMessage struct {
	Role       string                `json:"role"`
	Content    any                   `json:"content"`
	ToolCalls  []openAIToolCallParam `json:"tool_calls,omitempty"`
	ToolCallID string                `json:"tool_call_id,omitempty"`
}

// openAIPart is one part of a message's content: {"type":"text","text"} or
// {"type":"image_url","image_url":{"url","detail"}}.
type openAIPart struct {
	Type     string          `json:"type"`
	Text     *string         `json:"text,omitempty"`
	ImageURL *openAIImageURL `json:"image_url,omitempty"`
}

type openAIImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// openAIToolCallParam is a whole tool call in an assistant's message, as
// a request sends it back (without the index of a stream's pieces).
type openAIToolCallParam struct {
	ID       string             `json:"id"`
	Type     string             `json:"type"` // "function"
	Function openAIFunctionCall `json:"function"`
}

type openAIFunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// openAITool is a tool the model may call: {"type":"function","function":{...}}.
type openAITool struct {
	Type     string         `json:"type"` // "function"
	Function openAIFunction `json:"function"`
}

type openAIFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// openAINamedChoice is the tool_choice that names the one tool to call.
type openAINamedChoice struct {
	Type     string `json:"type"` // "function"
	Function struct {
		Name string `json:"name"`
	} `json:"function"`
}

// openAIMessages words req's messages for OpenAI. Reasoning and its
// signature stay out: OpenAI's messages have no field for them, and a
// model reads its own earlier thinking from nowhere else.
func openAIMessages(msgs []Message) ([]openAIMessage, error) {
	out := make([]openAIMessage, len(msgs))
	for i, m := range msgs {
		o := openAIMessage{Role: m.Role, Content: m.Content, ToolCallID: m.ToolCallID}
		if m.Parts != nil {
			parts, err := openAIParts(m.Parts)
			if err != nil {
				return nil, fmt.Errorf("message %d: %w", i, err)
			}
			o.Content = parts
		}
		for _, tc := range m.ToolCalls {
			o.ToolCalls = append(o.ToolCalls, openAIToolCallParam{ID: tc.ID, Type: "function",
				Function: openAIFunctionCall{Name: tc.Name, Arguments: tc.Arguments}})
		}
		if len(m.ToolCalls) > 0 && m.Text() == "" {
			o.Content = nil // OpenAI's word for an assistant's message that only calls tools
		}
		out[i] = o
	}
	return out, nil
}

// openAIParts words a message's parts for OpenAI.
func openAIParts(parts []Part) ([]openAIPart, error) {
	out := make([]openAIPart, len(parts))
	for j, p := range parts {
		switch p.Type {
		case PartText:
			out[j] = openAIPart{Type: "text", Text: &p.Text}
		case PartImage:
			out[j] = openAIPart{Type: "image_url", ImageURL: &openAIImageURL{URL: p.ImageURL, Detail: p.Detail}}
		default:
			return nil, fmt.Errorf("part %d is of type %q, not %q or %q", j, p.Type, PartText, PartImage)
		}
	}
	return out, nil
}

// openAITools words the request's tools for OpenAI.
func openAITools(tools []Tool) ([]openAITool, error) {
	out := make([]openAITool, len(tools))
	for i, t := range tools {
		if err := checkTool(i, t); err != nil {
			return nil, err
		}
		out[i] = openAITool{Type: "function", Function: openAIFunction(t)}
	}
	return out, nil
}

// checkTool reports what makes the i-th tool unfit to send, in either
// protocol: it has no name, or its parameters are not a JSON object.
func checkTool(i int, t Tool) error {
	if t.Name == "" {
		return fmt.Errorf("tool %d has no name", i)
	}
	if t.Parameters != nil && !isJSONObject(t.Parameters) {
		return fmt.Errorf("tool %d (%q): parameters are not a JSON object (a JSON schema)", i, t.Name)
	}
	return nil
}

// isJSONObject reports whether v is valid JSON whose value is an object.
func isJSONObject(v []byte) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && v[0] == '{' && json.Valid(v)
}

// checkChoice reports a tool choice that is not one: a mode of no known
// name, or a named choice without a name.
func checkChoice(c ToolChoice) error {
	switch c.Mode {
	case "", ToolAuto, ToolNone, ToolRequired:
		return nil
	case ToolNamed:
		if c.Name == "" {
			return errors.New("tool choice names no tool")
		}
		return nil
	}
	return fmt.Errorf("tool choice %q is not one of %q, %q, %q, %q", c.Mode, ToolAuto, ToolNone, ToolRequired, ToolNamed)
}

// openAIToolChoice words c as tool_choice: nil for the upstream's default.
func openAIToolChoice(c ToolChoice) (any, error) {
	if err := checkChoice(c); err != nil {
		return nil, err
	}
	switch c.Mode {
	case "":
		return nil, nil
	case ToolNamed:
		var n openAINamedChoice
		n.Type, n.Function.Name = "function", c.Name
		return n, nil
	}
	return c.Mode, nil
}

// efforts are the reasoning efforts of OpenRouter's reasoning object, from
// the most thinking to none, with the share of max_tokens each gives to
// thinking where a protocol wants a budget (OpenRouter's ratios).
var efforts = map[string]float64{"xhigh": 0.95, "high": 0.8, "medium": 0.5, "low": 0.2, "minimal": 0.1, "none": 0}

// checkReasoning reports an effort that is not one of efforts, and a
// negative budget.
func checkReasoning(r *Reasoning) error {
	if _, ok := efforts[r.Effort]; !ok && r.Effort != "" {
		return fmt.Errorf("reasoning effort %q is not one of xhigh, high, medium, low, minimal, none", r.Effort)
	}
	if r.MaxTokens < 0 {
		return fmt.Errorf("reasoning max_tokens %d is negative", r.MaxTokens)
	}
	return nil
}

// openAIEffort words r as reasoning_effort: "" sends none. An effort goes
// as it is. A budget of thinking tokens (what Anthropic takes) becomes the
// effort whose share of max_tokens it is nearest, as OpenRouter maps
// max_tokens to effort for models that take only an effort: at least 65%
// of maxTokens is "high", at least 35% "medium", less "low". Without
// maxTokens to compare with, the budget alone decides: up to 1024 tokens
// (Anthropic's least) is "low", up to 8192 "medium", more "high". Only
// these three are derived: every server that takes reasoning_effort
// knows them, while "minimal" and "xhigh" are newer and not everywhere.
func openAIEffort(r *Reasoning, maxTokens int) (string, error) {
	if r == nil {
		return "", nil
	}
	if err := checkReasoning(r); err != nil {
		return "", err
	}
	switch {
	case r.Effort != "":
		return r.Effort, nil
	case r.MaxTokens == 0:
		return "", nil // reasoning on, at the upstream's default effort
	case maxTokens > 0:
		share := float64(r.MaxTokens) / float64(maxTokens)
		switch {
		case share >= 0.65:
			return "high", nil
		case share >= 0.35:
			return "medium", nil
		}
		return "low", nil
	case r.MaxTokens <= 1024:
		return "low", nil
	case r.MaxTokens <= 8192:
		return "medium", nil
	}
	return "high", nil
}

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
// Its id and model, the same in every chunk and of no use to the router
// (the answer is labelled with the endpoint's model), are left undecoded:
// two strings a chunk, a sixth of a request's allocations.
type openAIChunk struct {
	Choices []openAIChoice  `json:"choices"`
	Usage   *openAIUsage    `json:"usage"`
	Error   json.RawMessage `json:"error"`
}

// openAIChoice is one of a chunk's choices.
type openAIChoice struct {
	Index        int             `json:"index"`
	Delta        openAIAnswer    `json:"delta"`
	Logprobs     *openAILogprobs `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

// openAIAnswer is what a chunk's delta, or a whole answer's message, holds
// of the answer.
type openAIAnswer struct {
	Content string `json:"content"`
	// A reasoning model's thinking: OpenRouter sends it as reasoning,
	// DeepSeek and vLLM as reasoning_content.
	Reasoning        string           `json:"reasoning"`
	ReasoningContent string           `json:"reasoning_content"`
	ToolCalls        []openAIToolCall `json:"tool_calls"`
}

// openAICompletion is a whole chat.completion: the answer of a server that
// ignored "stream": true.
type openAICompletion struct {
	Choices []struct {
		Index        int             `json:"index"`
		Message      openAIAnswer    `json:"message"`
		Logprobs     *openAILogprobs `json:"logprobs"`
		FinishReason string          `json:"finish_reason"`
	} `json:"choices"`
	Usage *openAIUsage    `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// read decodes data into a chunk, which is valid until the next read.
// What it accepts and what it rejects, with which error, are
// json.Unmarshal's (see unmarshal): the usual chunk read by hand (fast),
// anything else by wirejson.
func (r *chunkReader) read(data []byte) (*openAIChunk, error) {
	r.reset()
	if r.fast(data) {
		return &r.w, nil
	}
	r.reset()
	if err := wirejson.Unmarshal(data, &r.w); err != nil {
		return nil, err
	}
	return &r.w, nil
}

// reset makes the chunk a zero value, as a fresh variable is: the list of
// choices keeps only its memory, and nothing of the choices.
func (r *chunkReader) reset() {
	choices := r.w.Choices[:cap(r.w.Choices)]
	clear(choices)
	r.w = openAIChunk{Choices: choices[:0]}
}

// decodeChunk turns one event's data into a Chunk, read with r. Only the
// first choice (index 0) is kept: we never ask for more. An in-band error
// object becomes its classified *Error; data that is not a chunk is
// ClassMalformed.
func decodeChunk(r *chunkReader, data []byte, key string) (Chunk, error) {
	w, err := r.read(data)
	if err != nil {
		return Chunk{}, malformed("stream chunk", data, err, key)
	}
	if e, ok := inBandError(w.Error, key); ok {
		return Chunk{}, e
	}
	c := Chunk{Usage: w.Usage.usage()}
	for _, ch := range w.Choices {
		if ch.Index != 0 {
			continue
		}
		c.Content += ch.Delta.Content
		c.Reasoning += ch.Delta.Reasoning + ch.Delta.ReasoningContent
		for _, tc := range ch.Delta.ToolCalls {
			if tc.Index < 0 {
				// A call's place: whoever puts the pieces together
				// indexes with it.
				return Chunk{}, malformed("stream chunk", data, fmt.Errorf("tool call index %d", tc.Index), key)
			}
			c.ToolCalls = append(c.ToolCalls, tc.call(tc.Index))
		}
		c.Logprobs = append(c.Logprobs, ch.Logprobs.logprobs()...)
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
	if err := wirejson.Unmarshal(data, &w); err != nil {
		return Chunk{}, malformed("completion", data, err, key)
	}
	if e, ok := inBandError(w.Error, key); ok {
		return Chunk{}, e
	}
	if len(w.Choices) == 0 {
		return Chunk{}, malformed("completion", data, errors.New("no choices"), key)
	}
	c := Chunk{Usage: w.Usage.usage()}
	for _, ch := range w.Choices {
		if ch.Index == 0 {
			c.Content += ch.Message.Content
			c.Reasoning += ch.Message.Reasoning + ch.Message.ReasoningContent
			for i, tc := range ch.Message.ToolCalls { // whole: one piece a call, in order
				c.ToolCalls = append(c.ToolCalls, tc.call(i))
			}
			c.Logprobs = append(c.Logprobs, ch.Logprobs.logprobs()...)
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

// openAILogprobs is a choice's logprobs: those of its content's tokens
// (refusal's, the other list, are not content).
type openAILogprobs struct {
	Content []struct {
		openAITopLogprob
		TopLogprobs []openAITopLogprob `json:"top_logprobs"`
	} `json:"content"`
}

type openAITopLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

// logprobs returns l's content as Logprobs; nil for nil (logprobs null, or
// not asked for).
func (l *openAILogprobs) logprobs() []Logprob {
	if l == nil || len(l.Content) == 0 {
		return nil
	}
	out := make([]Logprob, len(l.Content))
	for i, lp := range l.Content {
		out[i] = Logprob{Token: lp.Token, Logprob: lp.Logprob, Bytes: lp.Bytes}
		for _, top := range lp.TopLogprobs {
			out[i].Top = append(out[i].Top, TopLogprob(top))
		}
	}
	return out
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
