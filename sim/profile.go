// Package sim runs simulated LLM providers: real HTTP servers on 127.0.0.1
// that speak both OpenAI's chat completions API and Anthropic's Messages API
// (JSON and SSE) and fail the way real providers do, following a fault
// profile that applies the same in both. It is the other side of the
// wire from package provider and deliberately imports nothing of Switchboard's,
// so that a bug in the client cannot be cancelled out by the same bug here.
package sim

import "time"

// Profile describes one simulated provider: what it serves, how fast, and how
// it fails. The zero value of each fault field means "never".
type Profile struct {
	Name   string   // provider slug, e.g. "groq"; used in ids and the control API
	Seed   int64    // seeds every random choice, so a run can be replayed
	Models []string // model ids served; a request for any other model is a 404
	// ContextLengths holds, by served model id, the most tokens a prompt
	// plus its max_tokens may take; a longer request is refused with a 400
	// (OpenAI's context_length_exceeded, Anthropic's invalid_request_error).
	// It is per model because one provider serves models of different
	// contexts.
	ContextLengths map[string]int
	// ImageModels are the served models that take images. A request with
	// an image (OpenAI's image_url part, Anthropic's image block) for any
	// other model is refused with a 400, in each API's words, as a
	// text-only model's provider refuses it. Each image counts imageTokens
	// prompt tokens.
	ImageModels []string
	// ContextLength, if set, is the limit of the models ContextLengths does
	// not list; zero leaves them unlimited.
	ContextLength int
	// APIKey, if set, is required of every /v1 request, else 401: as
	// "Authorization: Bearer <APIKey>" from OpenAI clients, as "x-api-key"
	// from Anthropic ones.
	APIKey string

	TTFT            Latency // time to first token (for JSON answers: to the headers)
	TokensPerSecond float64 // generation speed once the first token is out; 0 means unpaced
	// ReasoningTokens makes a reasoning model: this many tokens of thinking
	// stream before the answer, at the same speed, as delta.reasoning
	// (OpenRouter's field) or as Anthropic's thinking block, and count in
	// completion_tokens (output_tokens). max_tokens caps only the answer.
	// On OpenAI's API the model thinks unless reasoning_effort is "none";
	// on Anthropic's only when the request enables thinking, and then the
	// block is signed (see Server.sign).
	ReasoningTokens int

	ErrorRate     float64 // fraction of requests that fail before the first token
	ErrorStatuses []int   // statuses for those failures, picked uniformly; default 500, 502, 503

	RateLimitRate float64       // fraction of requests answered 429
	RetryAfter    time.Duration // Retry-After sent with a 429 (whole seconds on the wire)

	Outages []Outage // scripted outages: every request fails while one lasts (503; Anthropic's 529)

	CutRate   float64 // fraction of streams cut mid-answer (connection closed, no finish)
	StallRate float64 // fraction of streams that go silent mid-answer until the client gives up
	// StreamErrorRate is the fraction of streams ended mid-answer by an
	// error event inside the stream, the status already 200: OpenRouter's
	// error chunk (finish_reason "error"), Anthropic's "event: error"
	// (overloaded_error), as a provider that fails after its first tokens
	// does. The connection ends cleanly after it.
	StreamErrorRate float64

	// SlowStartRate is the fraction of requests whose first token comes far
	// past the profile's normal, after SlowStart instead of a TTFT draw:
	// the endpoint's history stays normal, only this request is late.
	SlowStartRate float64
	// SlowStart is that late first token's wait; zero means slowStartOf(TTFT).
	SlowStart time.Duration
	// SilentCloseRate is the fraction of requests that are read and then
	// left unanswered: after SilentClose the connection is closed with
	// nothing written, as an upstream (or a proxy in front of it) that
	// gives up on a request does.
	SilentCloseRate float64
	// SilentClose is how long such a request is held; zero means
	// defaultSilentClose.
	SilentClose time.Duration
	// MalformedRate is the fraction of streams with one garbage event (a
	// line of text that is no event of the protocol) mid-answer, beside
	// the answer's own events: nothing of the answer is lost with it.
	MalformedRate float64
	// RefusePrefill makes the provider refuse a request whose last message
	// is the assistant's (a prefill) with a 400, as providers without
	// prefill support do. Otherwise a prefill is continued: the answer is
	// the rest of the one the conversation without it gets, when the
	// prefill is a start of that one (see continuation).
	RefusePrefill bool
	// Mode is the mode the server starts in, as if set by SetMode; the zero
	// value is ModeNormal.
	Mode Mode
}

// contextLength is the limit of model, or 0 for none.
func (p *Profile) contextLength(model string) int {
	if n, ok := p.ContextLengths[model]; ok {
		return n
	}
	return p.ContextLength
}

// Latency is a log-normal distribution given by its median and 95th percentile.
type Latency struct {
	P50 time.Duration
	P95 time.Duration
}

// Outage is a scripted periodic outage: starting Offset after the server
// starts, it lasts For, and repeats Every. An Every of zero means it happens
// once. Time is read from Options.Now, so tests can script it with a fake clock.
type Outage struct {
	Every  time.Duration
	For    time.Duration
	Offset time.Duration
}

// Mode is a fault forced at run time through the control API; it overrides the
// profile until set back to ModeNormal.
type Mode uint8

// The forced modes.
const (
	ModeNormal      Mode = iota // follow the profile
	ModeDown                    // every request fails with 503 (529 overloaded_error on the Anthropic API)
	ModeSlow                    // first token 10x slower than the profile
	ModeRateLimited             // every request is answered 429 with Retry-After
	ModeStall                   // every stream stalls after its first tokens
	// ModeSlowStart makes every first token late: after the profile's
	// SlowStart, far past its normal but under the usual first-token caps.
	ModeSlowStart
	// ModeRateLimitedShort answers 429 with a short Retry-After
	// (shortRetryAfter), then lets the first request after it through,
	// then answers 429 again: every fresh request is limited once, and a
	// client that waits it out is answered. A request inside the wait gets
	// 429 again, with what is left of it, as a real limiter does.
	ModeRateLimitedShort
	// ModeSilentClose reads every request, holds it for the profile's
	// SilentClose, then closes the connection with no answer.
	ModeSilentClose
	// ModeCut cuts every stream mid-answer, except a continuation (a
	// request that ends with the assistant's text), which runs to its
	// end: a cut that resuming on the same endpoint survives.
	ModeCut
	// ModeMalformed puts one garbage event mid-answer in every stream.
	ModeMalformed
	// ModeNoPrefill refuses every request that ends with an assistant
	// message, with a 400, as RefusePrefill does.
	ModeNoPrefill
	// ModeStreamError ends every stream mid-answer with an error event
	// (see Profile.StreamErrorRate), except a continuation, as ModeCut.
	ModeStreamError

	numModes
)
