package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"time"
)

// The default limits of an OpenAI client, used where OpenAIOptions leaves a
// limit at zero.
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

const (
	// maxErrorBody caps how much of an error answer is read: the message is
	// at the start, and a broken proxy may send megabytes of HTML.
	maxErrorBody = 64 << 10
	// maxJSONBody caps a whole answer read at once (a non-streamed
	// completion, a model list; OpenRouter's list is about a megabyte).
	maxJSONBody = 16 << 20
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
	chatURL, modelsURL   string
	chatShow, modelsShow string // the same without credentials, for error texts
	baseErr              error  // BaseURL did not parse
	key                  string
	client               *http.Client
	limits               watchdogLimits
	now                  func() time.Time
	header               http.Header
}

var _ Upstream = (*OpenAI)(nil)

// NewOpenAI returns a client for the API at o.BaseURL. An invalid BaseURL
// is reported by every call, as ClassConnect.
func NewOpenAI(o OpenAIOptions) *OpenAI {
	c := &OpenAI{
		key:    o.APIKey,
		client: o.HTTPClient,
		now:    o.Now,
		header: o.Header.Clone(),
		limits: watchdogLimits{
			connect: limit(o.ConnectTimeout, DefaultConnectTimeout),
			first:   limit(o.FirstTokenTimeout, DefaultFirstTokenTimeout),
			stall:   limit(o.StallTimeout, DefaultStallTimeout),
		},
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		dialer := &net.Dialer{Timeout: max(c.limits.connect, 0), KeepAlive: 30 * time.Second}
		t.DialContext = dialer.DialContext
		c.client = &http.Client{Transport: t}
	}
	base := strings.TrimRight(o.BaseURL, "/")
	u, err := url.Parse(base)
	switch {
	case err != nil:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // ue.URL would repeat the URL, and a key in it
		}
		c.baseErr = fmt.Errorf("invalid base URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		c.baseErr = fmt.Errorf("invalid base URL %q: want http(s)://host/path", displayURL(u))
	default:
		c.chatURL, c.modelsURL = base+"/chat/completions", base+"/models"
		c.chatShow = "POST " + displayURL(u.JoinPath("chat/completions"))
		c.modelsShow = "GET " + displayURL(u.JoinPath("models"))
	}
	return c
}

// limit applies the zero-means-default, negative-means-none rule.
func limit(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// CloseIdleConnections closes the client's idle keep-alive connections; for
// shutdown and tests.
func (c *OpenAI) CloseIdleConnections() { c.client.CloseIdleConnections() }

// Stream sends a streaming chat completion request and returns the open
// stream once the upstream answered 2xx. Any other answer, and any failure
// to get one, is an *Error. The first-token limit starts here and goes on
// into the stream's first Next calls.
func (c *OpenAI) Stream(ctx context.Context, req Request) (Stream, error) {
	start := c.now()
	if c.baseErr != nil {
		return nil, &Error{Class: ClassConnect, Err: c.baseErr}
	}
	body, err := json.Marshal(openAIRequest{
		Model:         req.Model,
		Messages:      req.Messages,
		Stream:        true,
		StreamOptions: openAIStreamOptions{IncludeUsage: true},
		MaxTokens:     req.MaxTokens,
		Temperature:   req.Temperature,
	})
	if err == nil {
		body, err = withExtra(body, req.Extra)
	}
	if err != nil {
		return nil, &Error{Class: ClassBadRequest, Err: fmt.Errorf("%s: encoding the request: %w", c.chatShow, err)}
	}
	rctx, cancel := context.WithCancelCause(ctx)
	l := c.limits
	l.firstWhat = "no first token"
	if req.ConnectTimeout > 0 {
		l.connect = req.ConnectTimeout
	}
	if req.FirstTokenTimeout > 0 {
		l.first = req.FirstTokenTimeout
	}
	if req.StallTimeout > 0 {
		l.stall = req.StallTimeout
	}
	wd := startWatchdog(cancel, l)
	resp, err := c.send(rctx, wd, http.MethodPost, c.chatURL, body, "text/event-stream")
	if err != nil {
		e := c.sendError(ctx, rctx, c.chatShow, err) // before cancel, which would hide why
		wd.stop()
		cancel(errRequestOver)
		return nil, e
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := c.statusError(resp)
		wd.stop()
		cancel(errRequestOver)
		return nil, e
	}
	return newOpenAIStream(streamConfig{
		parent: ctx, ctx: rctx, cancel: cancel, wd: wd, resp: resp,
		start: start, now: c.now, key: c.key, where: c.chatShow,
	}), nil
}

// ListModels returns the ids of the models the upstream serves, from
// GET /models. The whole answer must come within FirstTokenTimeout.
func (c *OpenAI) ListModels(ctx context.Context) ([]string, error) {
	if c.baseErr != nil {
		return nil, &Error{Class: ClassConnect, Err: c.baseErr}
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(errRequestOver)
	l := c.limits
	l.stall, l.firstWhat = 0, "no answer"
	wd := startWatchdog(cancel, l)
	defer wd.stop()
	resp, err := c.send(rctx, wd, http.MethodGet, c.modelsURL, nil, "application/json")
	if err != nil {
		return nil, c.sendError(ctx, rctx, c.modelsShow, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.statusError(resp)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJSONBody+1))
	if err != nil {
		if rctx.Err() != nil {
			return nil, canceledError(ctx, rctx, c.modelsShow)
		}
		return nil, &Error{Class: ClassStreamCut, Status: resp.StatusCode, Err: fmt.Errorf("%s: reading the model list: %w", c.modelsShow, err)}
	}
	return parseModels(data, c.key)
}

// parseModels reads a model list: OpenAI's {"data": [{"id": ...}]}, or a
// bare list of the same objects, as some servers send.
func parseModels(data []byte, key string) ([]string, error) {
	if len(data) > maxJSONBody {
		return nil, &Error{Class: ClassMalformed, Message: fmt.Sprintf("model list longer than %d bytes", maxJSONBody)}
	}
	var m openAIModels
	trimmed := bytes.TrimSpace(data)
	var err error
	if len(trimmed) > 0 && trimmed[0] == '[' {
		err = json.Unmarshal(trimmed, &m.Data)
	} else {
		err = json.Unmarshal(trimmed, &m)
	}
	if err == nil && m.Data == nil {
		err = errors.New(`no "data" list`)
	}
	if err != nil {
		return nil, malformed("model list", data, err, key)
	}
	ids := make([]string, 0, len(m.Data))
	for _, d := range m.Data {
		if d.ID != "" {
			ids = append(ids, d.ID)
		}
	}
	return ids, nil
}

// send builds and sends one request under ctx, telling the watchdog when a
// connection is ready.
func (c *OpenAI) send(ctx context.Context, wd *watchdog, method, u string, body []byte, accept string) (*http.Response, error) {
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { wd.connected() },
	})
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", "switchboard")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	for k, vs := range c.header {
		req.Header.Del(k)
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return c.client.Do(req)
}

// errRequestOver is the cause a request's context is canceled with once we
// are done with it; it classifies nothing, since nothing reads after it.
var errRequestOver = errors.New("request over")

// sendError classifies a failure to get an answer at all.
func (c *OpenAI) sendError(parent, rctx context.Context, where string, err error) *Error {
	if rctx.Err() != nil {
		return canceledError(parent, rctx, where)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // ue.URL is the full URL; where has it without secrets
	}
	class := ClassConnect // refused, reset, DNS, TLS: no answer came
	var op *net.OpError
	var ne net.Error
	switch {
	case errors.As(err, &op) && op.Op == "dial":
	case errors.As(err, &ne) && ne.Timeout():
		class = ClassTimeout
	case strings.Contains(err.Error(), "malformed HTTP"):
		class = ClassMalformed
	}
	return &Error{Class: class, Err: safeWrap(where, err, c.key)}
}

// statusError classifies a non-2xx answer from its status, headers and the
// start of its body, and releases the body.
func (c *OpenAI) statusError(resp *http.Response) *Error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	e := parseErrorBody(data)
	msg := scrub(e.Message, c.key)
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return &Error{
		Class:      classifyHTTP(resp.StatusCode, e),
		Status:     resp.StatusCode,
		RetryAfter: retryAfter(resp.Header, c.now()),
		Message:    msg,
	}
}

// canceledError classifies a request whose context ended: by one of our
// limits, by Close, or by the caller's context.
func canceledError(parent, rctx context.Context, where string) *Error {
	cause := context.Cause(rctx)
	var dc *deadlineCause
	switch {
	case errors.As(cause, &dc):
		return &Error{Class: dc.class, Err: fmt.Errorf("%s: %w", where, dc)}
	case errors.Is(cause, errClosed):
		return &Error{Class: ClassCanceled, Err: fmt.Errorf("%s: %w", where, errClosed)}
	case errors.Is(parent.Err(), context.DeadlineExceeded):
		return &Error{Class: ClassTimeout, Err: fmt.Errorf("%s: caller's deadline: %w", where, cause)}
	}
	return &Error{Class: ClassCanceled, Err: fmt.Errorf("%s: canceled by the caller: %w", where, cause)}
}

// safeWrap wraps err with where, unless err's text holds the key, in which
// case the text is kept redacted and the chain given up.
func safeWrap(where string, err error, key string) error {
	if key != "" && strings.Contains(err.Error(), key) {
		return fmt.Errorf("%s: %s", where, strings.ReplaceAll(err.Error(), key, redacted))
	}
	return fmt.Errorf("%s: %w", where, err)
}

// bodyKind tells how to read a 2xx answer from its Content-Type.
type bodyKind uint8

const (
	bodyUnknown bodyKind = iota // look at the first byte
	bodySSE
	bodyJSON // a server that ignored "stream": true
	bodyHTML // a proxy's or a captive portal's page: never an answer
)

func bodyKindOf(contentType string) bodyKind {
	mt, _, err := mime.ParseMediaType(contentType)
	switch {
	case err != nil:
		return bodyUnknown
	case mt == "text/event-stream":
		return bodySSE
	case mt == "application/json", strings.HasSuffix(mt, "+json"):
		return bodyJSON
	case mt == "text/html":
		return bodyHTML
	}
	return bodyUnknown
}
