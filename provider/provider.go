// Package provider holds the upstream clients (one file per wire protocol), the
// streaming chunk type every client produces, and the error taxonomy that the
// monitor and the router reason with.
package provider

import (
	"context"
	"encoding/json"
	"time"
)

// Message is one chat message as sent upstream, in OpenAI's terms; each
// client words it in its own protocol (see the wire files), so it has no
// JSON form of its own.
type Message struct {
	Role string // "system", "user", "assistant" or "tool"
	// Content is the message's text. A message with images has Parts
	// instead, and Content is "".
	Content string
	// Parts is the content as parts, in order (text and images), for a
	// message that has an image; nil for text only.
	Parts []Part
	// ToolCalls are an assistant's calls of the request's tools, whole,
	// each with its ID, Name and Arguments (Index is its place).
	ToolCalls []ToolCall
	// ToolCallID is, on a "tool" message, the ID of the call whose result
	// it holds.
	ToolCallID string
	// ToolError marks a tool message whose result is the tool's failure
	// (Anthropic's is_error; OpenAI has no word for it).
	ToolError bool
	// Reasoning is an assistant's thinking as its answer had it, and
	// ReasoningSignature the upstream's seal over it (Anthropic's thinking
	// signature, without which Anthropic does not take thinking back).
	// Only a client whose protocol has thinking in messages sends it.
	Reasoning          string
	ReasoningSignature string
}

// Text is the message's text: Content, or its text parts joined.
func (m *Message) Text() string {
	if m.Parts == nil {
		return m.Content
	}
	var n int
	for _, p := range m.Parts {
		n += len(p.Text)
	}
	b := make([]byte, 0, n)
	for _, p := range m.Parts {
		b = append(b, p.Text...)
	}
	return string(b)
}

// HasImage reports whether any part of the message is an image.
func (m *Message) HasImage() bool {
	for _, p := range m.Parts {
		if p.Type == PartImage {
			return true
		}
	}
	return false
}

// The types of a message's parts.
const (
	PartText  = "text"
	PartImage = "image"
)

// Part is one part of a message's content: text or an image.
type Part struct {
	Type string // PartText or PartImage
	Text string // a text part's text
	// ImageURL is an image part's image: an https URL, or a data URL
	// ("data:image/png;base64,...") holding the image itself.
	ImageURL string
	// Detail is OpenAI's detail of an image ("auto", "low", "high"); ""
	// leaves it to the upstream.
	Detail string
}

// Tool is a function the model may call, as a request offers it.
type Tool struct {
	Name        string
	Description string
	// Parameters is the JSON schema of the function's arguments (an
	// object's schema); nil for a function without arguments.
	Parameters json.RawMessage
	// Strict asks OpenAI's upstreams to follow the schema exactly; nil
	// leaves it out.
	Strict *bool
}

// The modes of a ToolChoice.
const (
	ToolAuto     = "auto"     // the model decides whether to call a tool
	ToolNone     = "none"     // it calls none
	ToolRequired = "required" // it calls at least one (Anthropic's "any")
	ToolNamed    = "tool"     // it calls the one named
)

// ToolChoice says whether and which tool the model must call. The zero
// value leaves it to the upstream's default.
type ToolChoice struct {
	Mode string // "" or one of ToolAuto, ToolNone, ToolRequired, ToolNamed
	Name string // the tool's name, for ToolNamed
}

// Reasoning asks a reasoning model to think before it answers: OpenRouter's
// reasoning object, as each client maps it to its protocol (OpenAI's
// reasoning_effort, Anthropic's thinking with a budget).
type Reasoning struct {
	// Effort is "xhigh", "high", "medium", "low", "minimal", or "none"
	// (no thinking); "" when MaxTokens says how much instead.
	Effort string
	// MaxTokens is the most tokens of thinking (Anthropic's
	// budget_tokens); 0 when Effort says how much instead.
	MaxTokens int
}

// Logprob is the log probability of one token of the answer, with the
// likeliest tokens in its place when the request asked for them
// (OpenAI's logprobs.content).
type Logprob struct {
	Token   string
	Logprob float64
	Bytes   []int
	Top     []TopLogprob
}

// TopLogprob is one of the likeliest tokens in a place of the answer.
type TopLogprob struct {
	Token   string
	Logprob float64
	Bytes   []int
}

// Request is a chat completion request addressed to one upstream model.
type Request struct {
	// Model is the upstream's own model id (for example "llama-3.3-70b-versatile").
	Model       string
	Messages    []Message
	MaxTokens   int      // 0 leaves it to the upstream
	Temperature *float64 // nil leaves it to the upstream
	// User identifies the end user to the provider for abuse monitoring:
	// OpenAI's user, Anthropic's metadata.user_id. "" sends none; when set,
	// it wins over a "user" (or, for Anthropic, "metadata") in Extra.
	User string
	// Extra holds further parameters of the OpenAI request body (top_p,
	// stop, seed, response_format, ...): the OpenAI client sends them as
	// they are, the Anthropic client maps those it has a counterpart for
	// and drops the others (see AnthropicDropped). Its keys must not be ones
	// the client sets itself (model, messages, stream, stream_options,
	// max_tokens, temperature, user), nor ones the fields below stand for
	// (tools, tool_choice, parallel_tool_calls, reasoning,
	// reasoning_effort).
	Extra map[string]json.RawMessage
	// Tools are the functions the model may call; ToolChoice and
	// ParallelToolCalls (nil leaves it to the upstream) say how.
	Tools             []Tool
	ToolChoice        ToolChoice
	ParallelToolCalls *bool
	// Reasoning, if set, asks the model to think first.
	Reasoning *Reasoning
	// ConnectTimeout, FirstTokenTimeout and StallTimeout, when positive,
	// replace the client's own limits for this request (a model or a
	// request that needs more, or less, patience).
	ConnectTimeout    time.Duration
	FirstTokenTimeout time.Duration
	StallTimeout      time.Duration
	// MaxAnswer bounds the answer this attempt may deliver, in bytes of
	// content and reasoning together (and of tool calls, signatures and
	// the logprobs' tokens, which the answer carries too): once a stream passes it, it ends as
	// ClassMalformed and its connection is released, and a whole
	// (non-streamed) answer's body is read only up to a bound derived
	// from it. Zero or less means DefaultMaxAnswer; there is no "no
	// limit".
	MaxAnswer int
	// OnWait, if set, is called on the reading goroutine each time the
	// stream is about to read from the upstream, its buffer spent: what
	// came so far is all there is for now. A relay flushes there, once per
	// burst of the upstream's, as a proxy flushes what it read.
	OnWait func()
}

// Usage counts tokens as the upstream reported them.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
	// CachedTokens are the prompt's tokens the upstream read from its cache
	// of a prefix it saw before (OpenAI's prompt_tokens_details.cached_tokens,
	// Anthropic's cache_read_input_tokens); part of PromptTokens.
	CachedTokens int `json:"-"`
}

// Chunk is one streamed event from an upstream, already decoded from its wire
// format. A chunk may carry content, reasoning, a finish reason, usage, or several of these.
type Chunk struct {
	Content      string
	Reasoning    string // a reasoning model's thinking, streamed before its answer
	FinishReason string // "" until the upstream says why it stopped ("tool_calls" after tool calls)
	Usage        *Usage
	// ToolCalls are calls of the request's tools the model makes: in a
	// stream, pieces of them, each naming the call it belongs to by Index.
	ToolCalls []ToolCall
	// Signature is (a piece of) the upstream's seal over the reasoning
	// (Anthropic's thinking signature), to be sent back with it.
	Signature string
	// Logprobs are the log probabilities of the content's tokens, when
	// the request asked for them (logprobs in Extra).
	Logprobs []Logprob
}

// ToolCall is a call of one of the request's tools, or in a stream a piece
// of one: the first piece of a call has its ID and Name, and every piece a
// fragment of its arguments' JSON, in order.
type ToolCall struct {
	Index     int    // the call's place among the answer's calls
	ID        string // the upstream's id of the call, on its first piece
	Name      string // the tool's name, on its first piece
	Arguments string // the arguments' JSON, or a fragment of it
}

// Stats are the measurements of one upstream call, taken by the client.
type Stats struct {
	Start        time.Time
	TTFT         time.Duration // time to the first token, of the answer or of reasoning; 0 if none came
	Duration     time.Duration // time to the end of the stream or to the failure
	OutputTokens int           // usage.completion_tokens if sent, else counted chunks
	// MaxGap is the longest time between two chunks with tokens (of the
	// answer or of reasoning): the longest silence the stall limit would
	// have had to allow. 0 with fewer than two such chunks.
	MaxGap time.Duration
	// SkippedEvents counts the stream's events that were not chunks and
	// were skipped, the answer going on without them: each held no text
	// (see the stream's rule in skippable). The router notes them in the
	// trace, the gateway counts them.
	SkippedEvents int
}

// Stream is an open upstream response. Next returns chunks in order, io.EOF
// after a clean end (a finish reason was seen, or the protocol's end marker:
// [DONE], message_stop), or an *Error. Close releases the connection and may
// be called at any time, more than once.
type Stream interface {
	Next() (Chunk, error)
	Stats() Stats
	Close() error
}

// Upstream is one provider's API as the router and the prober use it.
type Upstream interface {
	// Stream opens a streaming chat completion. An error before the first
	// byte of the answer is an *Error.
	Stream(ctx context.Context, req Request) (Stream, error)
	// ListModels lists the upstream's model ids: the cheapest health probe.
	ListModels(ctx context.Context) ([]string, error)
}

// Outcome is what one attempt (a routed request or a probe) tells the monitor.
type Outcome struct {
	Start        time.Time
	TTFT         time.Duration
	Duration     time.Duration
	OutputTokens int
	MaxGap       time.Duration // see Stats.MaxGap
	Class        Class         // ClassOK on success
	Status       int           // HTTP status when there was one
	RetryAfter   time.Duration
	Probe        bool // a health probe rather than a user's request
	// Slow marks a timeout or a stall at a limit shorter than the
	// configured one (the router held the endpoint to its own norm): the
	// endpoint was far slower than usual, not silent, so the breaker does
	// not open at the first one as it does for a timeout at the cap.
	Slow bool
	// Shallow marks a probe that reached only the host (GET /models), not
	// the model. Its success says the provider answers, not that the model
	// does: the monitor counts it neither as an answer nor as the end of an
	// outage or of a run of errors. Its failure (no connection, 5xx, a
	// refused key) is the provider error it is.
	Shallow bool
	// Waiting marks an attempt the router announced to the monitor
	// (Monitor.Sent) that ended still waiting for its first token: not
	// answered (Monitor.Answered) before its end. Recording it ends that
	// wait, with the answer it ended with, if any (an error is one).
	Waiting bool
	// Gen is the circuit-breaker generation the attempt was admitted in
	// (from the monitor's Admit); outcomes of an older generation do not move
	// the breaker. 0 means the caller did not ask, and counts as current.
	Gen uint64
}

// OutcomeOf builds the outcome of a finished call from its stats and final
// error (nil or io.EOF for success).
func OutcomeOf(st Stats, err error) Outcome {
	o := Outcome{Start: st.Start, TTFT: st.TTFT, Duration: st.Duration, OutputTokens: st.OutputTokens, MaxGap: st.MaxGap}
	if e := AsError(err); e != nil {
		o.Class, o.Status, o.RetryAfter = e.Class, e.Status, e.RetryAfter
	}
	return o
}
