package provider

import (
	"cmp"
	"context"
	"net/http"
	"time"
)

// DefaultAnthropicVersion is the anthropic-version header sent when
// AnthropicOptions leaves Version empty: the Messages API's only version.
const DefaultAnthropicVersion = "2023-06-01"

// AnthropicOptions configure a client for Anthropic's Messages API. They
// mean what OpenAIOptions' fields of the same names mean, with the same
// defaults.
type AnthropicOptions struct {
	// BaseURL is the API root that /messages and /models are appended to,
	// for example "https://api.anthropic.com/v1".
	BaseURL string
	// APIKey is sent as "x-api-key"; empty sends none. It never appears in
	// an error text: upstream echoes of it are redacted.
	APIKey string
	// Version is sent as "anthropic-version"; empty means
	// DefaultAnthropicVersion.
	Version string
	// HTTPClient sends the requests; nil means a client of our own, whose
	// transport dials with ConnectTimeout.
	HTTPClient *http.Client
	// Header holds extra headers for every request (for example
	// anthropic-beta). They override ours, x-api-key included.
	Header http.Header
	// ConnectTimeout, FirstTokenTimeout and StallTimeout are the limits of
	// every request, as in OpenAIOptions: zero means the default, negative
	// no limit. Thinking counts as tokens for the last two.
	ConnectTimeout    time.Duration
	FirstTokenTimeout time.Duration
	StallTimeout      time.Duration
	// Now is the clock for Stats and for Retry-After dates; nil means
	// time.Now.
	Now func() time.Time
}

// Anthropic is a client for Anthropic's Messages API (and for the servers
// that speak it). It takes the same OpenAI-shaped Request as the OpenAI
// client and gives the same chunks, stats and error classes. It is safe for
// concurrent use.
type Anthropic struct {
	apiClient // ListModels, CloseIdleConnections and all of HTTP
}

var _ Upstream = (*Anthropic)(nil)

// NewAnthropic returns a client for the API at o.BaseURL. An invalid
// BaseURL is reported by every call, as ClassConnect.
func NewAnthropic(o AnthropicOptions) *Anthropic {
	own := http.Header{"Anthropic-Version": {cmp.Or(o.Version, DefaultAnthropicVersion)}}
	if o.APIKey != "" {
		own.Set("X-Api-Key", o.APIKey)
	}
	return &Anthropic{newAPIClient("messages", own, OpenAIOptions{
		BaseURL: o.BaseURL, APIKey: o.APIKey, HTTPClient: o.HTTPClient, Header: o.Header, Now: o.Now,
		ConnectTimeout: o.ConnectTimeout, FirstTokenTimeout: o.FirstTokenTimeout, StallTimeout: o.StallTimeout,
	})}
}

// Stream sends a streaming Messages request and returns the open stream
// once the upstream answered 2xx. Any other answer, and any failure to get
// one, is an *Error.
//
// The request is mapped from OpenAI's shape: system messages become the
// system prompt; MaxTokens 0 becomes 4096, since Anthropic requires one; a
// temperature above Anthropic's maximum of 1 becomes 1; of Extra, only what
// has a counterpart is sent (see AnthropicDropped). A last message from the
// assistant is a prefill, which Anthropic continues. Tool calls become
// tool_use blocks and tool messages tool_result blocks, a turn's results in
// one user message; Reasoning becomes thinking with a budget of tokens (see
// anthropicBudget), with which temperature, top_k and a top_p under 0.95
// are left out, as Anthropic refuses them. A request Anthropic cannot take
// (an image type it does not know, arguments that are not a JSON object)
// fails here as ClassBadRequest, before anything is sent.
func (c *Anthropic) Stream(ctx context.Context, req Request) (Stream, error) {
	return c.stream(ctx, req, encodeAnthropic, &anthropicDecoder{key: c.key})
}
