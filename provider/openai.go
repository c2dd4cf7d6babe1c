package provider

import (
	"context"
	"errors"
	"net/http"
	"time"

	"switchboard/wirejson"
)

// The default limits of a client, used where its options leave a limit at
// zero.
const (
	// DefaultConnectTimeout bounds getting a connection (dial and TLS).
	DefaultConnectTimeout = 5 * time.Second
	// DefaultFirstTokenTimeout bounds the time from sending a request to its
	// first content: long enough for a big prompt's prefill, short enough to
	// fall back while the user still waits.
	DefaultFirstTokenTimeout = 30 * time.Second
	// DefaultStallTimeout bounds the silence between two chunks once content
	// has started.
	DefaultStallTimeout = 30 * time.Second
)

// OpenAIOptions configure an OpenAI-compatible client.
type OpenAIOptions struct {
	// BaseURL is the API root that /chat/completions and /models are
	// appended to, for example "https://api.groq.com/openai/v1" or
	// "http://127.0.0.1:8081/v1".
	BaseURL string
	// APIKey is sent as "Authorization: Bearer"; empty sends none. It never
	// appears in an error text: upstream echoes of it are redacted.
	APIKey string
	// HTTPClient sends the requests. Nil means a client of our own, whose
	// transport dials with ConnectTimeout. A client with a Timeout also
	// bounds whole streams, which is rarely wanted.
	HTTPClient *http.Client
	// ConnectTimeout bounds getting a connection, TLS included; a failure
	// to connect in time is ClassConnect. Zero means
	// DefaultConnectTimeout; negative means no limit.
	ConnectTimeout time.Duration
	// FirstTokenTimeout bounds the time from the start of Stream to the first
	// content chunk (or, for ListModels, to the whole answer); exceeding it
	// is ClassTimeout. Zero means DefaultFirstTokenTimeout; negative means
	// no limit.
	FirstTokenTimeout time.Duration
	// StallTimeout bounds the silence between two chunks after the first
	// content; exceeding it is ClassStall. SSE comments (keep-alives) do not
	// count as chunks: a stream that only keeps alive is stalled. Zero means
	// DefaultStallTimeout; negative means no limit.
	StallTimeout time.Duration
	// Now is the clock for Stats and for Retry-After dates; nil means
	// time.Now. The limits above run on real timers.
	Now func() time.Time
	// Header holds extra headers for every request (for example
	// OpenRouter's HTTP-Referer). They override ours, Authorization included.
	Header http.Header
}

// OpenAI is a client for an OpenAI-compatible chat completions API (OpenAI,
// OpenRouter, Groq, Together, DeepInfra, vLLM, ...). It is safe for
// concurrent use.
type OpenAI struct {
	apiClient // ListModels, CloseIdleConnections and all of HTTP
}

var _ Upstream = (*OpenAI)(nil)

// NewOpenAI returns a client for the API at o.BaseURL. An invalid BaseURL
// is reported by every call, as ClassConnect.
func NewOpenAI(o OpenAIOptions) *OpenAI {
	own := http.Header{}
	if o.APIKey != "" {
		own.Set("Authorization", "Bearer "+o.APIKey)
	}
	return &OpenAI{newAPIClient("chat/completions", own, o)}
}

// Stream sends a streaming chat completion request and returns the open
// stream once the upstream answered 2xx. Any other answer, and any failure
// to get one, is an *Error. The first-token limit starts here and goes on
// into the stream's first Next calls.
func (c *OpenAI) Stream(ctx context.Context, req Request) (Stream, error) {
	return c.stream(ctx, req, encodeOpenAI, &openAIDecoder{key: c.key})
}

// encodeOpenAI builds the body of POST /chat/completions.
func encodeOpenAI(req Request) ([]byte, error) { return encodeOpenAIWith(wirejson.Marshal, req) }

// marshaller encodes a request's body: wirejson.Marshal, whose output is
// encoding/json's in half the time (FuzzEncodeRequest holds the encoders
// to json.Marshal's bytes through it).
type marshaller func(any) ([]byte, error)

// encodeOpenAIWith is encodeOpenAI with marshal.
func encodeOpenAIWith(marshal marshaller, req Request) ([]byte, error) {
	r := openAIRequest{
		Model:             req.Model,
		Stream:            true,
		StreamOptions:     openAIStreamOptions{IncludeUsage: true},
		MaxTokens:         req.MaxTokens,
		Temperature:       req.Temperature,
		User:              req.User,
		ParallelToolCalls: req.ParallelToolCalls,
	}
	var errs [4]error
	r.Messages, errs[0] = openAIMessages(req.Messages)
	r.Tools, errs[1] = openAITools(req.Tools)
	r.ToolChoice, errs[2] = openAIToolChoice(req.ToolChoice)
	r.ReasoningEffort, errs[3] = openAIEffort(req.Reasoning, req.MaxTokens)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	body, err := marshal(r)
	if err != nil {
		return nil, err
	}
	return withExtra(body, req.Extra)
}
