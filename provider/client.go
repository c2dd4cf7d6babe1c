package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"switchboard/human"
)

const (
	// maxErrorBody caps how much of an error answer is read: the message is
	// at the start, and a broken proxy may send megabytes of HTML.
	maxErrorBody = 64 << 10
	// maxModelList caps a model list (OpenRouter's is about a megabyte). A
	// whole answer's cap comes from its request's MaxAnswer.
	maxModelList = 16 << 20
)

// apiClient is the HTTP side that the clients of every wire protocol share:
// the two endpoints, the key and the headers, the time limits, and the
// classification of every failure to get an answer. A protocol's client
// adds only how to encode a request and how to read its events, so that the
// router and the monitor cannot tell one protocol from another.
type apiClient struct {
	streamURL, modelsURL   string
	streamShow, modelsShow string // the same without credentials, for error texts
	baseErr                error  // BaseURL did not parse
	key                    string
	client                 *http.Client
	limits                 watchdogLimits
	now                    func() time.Time
	realClock              bool // now is time.Now: its readings serve the watchdog too
	// The headers of a chat request and of a models request: ours, the
	// protocol's own (its key, a version), then the caller's over them.
	// Each request gets a clone: one allocation for all the values, where
	// setting them one by one took one each.
	streamHeader, modelsHeader http.Header
}

// newAPIClient builds the shared side of a client from the options every
// client has, as OpenAIOptions names them; streamPath is appended to the
// base URL for Stream, and own holds the protocol's headers (its key, a
// version), under the caller's. An invalid base URL is kept and reported by
// every call, as ClassConnect.
func newAPIClient(streamPath string, own http.Header, o OpenAIOptions) apiClient {
	c := apiClient{
		key:    o.APIKey,
		client: o.HTTPClient,
		now:    o.Now,
		limits: watchdogLimits{
			connect: limit(o.ConnectTimeout, DefaultConnectTimeout),
			first:   limit(o.FirstTokenTimeout, DefaultFirstTokenTimeout),
			stall:   limit(o.StallTimeout, DefaultStallTimeout),
		},
	}
	c.streamHeader = requestHeader("text/event-stream", true, own, o.Header)
	c.modelsHeader = requestHeader("application/json", false, own, o.Header)
	if c.now == nil {
		c.now, c.realClock = time.Now, true
	}
	if c.client == nil {
		c.client = &http.Client{Transport: newTransport(c.limits.connect)}
	} else {
		hc := *c.client // the caller's client is theirs: change a copy
		c.client = &hc
	}
	// Never follow a redirect: Go keeps Authorization on another port of
	// the same host and X-Api-Key everywhere, a 307 sends the prompt along,
	// and a 301 turns the POST into a GET whose answer is someone else's.
	// The 3xx itself is the answer, and statusError explains it.
	c.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
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
		c.streamURL, c.modelsURL = base+"/"+streamPath, base+"/models"
		c.streamShow = "POST " + displayURL(u.JoinPath(streamPath))
		c.modelsShow = "GET " + displayURL(u.JoinPath("models"))
	}
	return c
}

// maxIdlePerHost is how many idle connections a client keeps to its
// upstream. Go's default is 2: under concurrent load every request beyond
// two dials anew when it starts and closes its connection when it ends,
// which costs a TLS handshake per request against a real provider and
// leaves a TIME_WAIT socket behind each. A client talks to one host, the
// endpoint it was made for, and a gateway sends it as many requests at
// once as its clients make: 256 keeps a connection for each of them at the
// concurrency a gateway on one machine sees (a few hundred streams at
// once), while a burst beyond it still works, only dialing for the excess.
// Idle connections are closed after the transport's IdleConnTimeout (90 s)
// all the same, so a quiet gateway holds none. HTTP/2 upstreams multiplex
// their requests on one connection and are not concerned.
const maxIdlePerHost = 256

// newTransport is the transport of a client given no HTTPClient: Go's
// default one (proxy from the environment, HTTP/2 where the upstream
// offers it over TLS, the idle timeout), dialing within connect (0 for no
// limit) and keeping maxIdlePerHost idle connections.
func newTransport(connect time.Duration) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	dialer := &net.Dialer{Timeout: max(connect, 0), KeepAlive: 30 * time.Second}
	t.DialContext = dialer.DialContext
	t.MaxIdleConnsPerHost = maxIdlePerHost
	t.MaxIdleConns = maxIdlePerHost // one host per client: the same bound in all
	return t
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

// stream sends the streaming request that encode makes of req and returns
// the open stream, read with dec, once the upstream answered 2xx. Any other
// answer, and any failure to get one, is an *Error. The first-token limit
// starts here and goes on into the stream's first Next calls.
func (c *apiClient) stream(ctx context.Context, req Request, encode func(Request) ([]byte, error), dec wireDecoder) (Stream, error) {
	start := c.now()
	if c.baseErr != nil {
		return nil, &Error{Class: ClassConnect, Err: c.baseErr}
	}
	body, err := encode(req)
	if err != nil {
		return nil, &Error{Class: ClassBadRequest, Err: fmt.Errorf("%s: encoding the request: %w", c.streamShow, err)}
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
	var conn connTime
	resp, err := c.send(rctx, wd, &conn, http.MethodPost, c.streamURL, body, c.streamHeader)
	if err != nil {
		e := c.sendError(ctx, rctx, c.streamShow, err, conn.silent(c.now()), l.silentClose()) // before cancel, which would hide why
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
	return newEventStream(streamConfig{
		parent: ctx, ctx: rctx, cancel: cancel, wd: wd, resp: resp,
		start: start, now: c.now, realClock: c.realClock, key: c.key, where: c.streamShow, maxAnswer: req.MaxAnswer, onWait: req.OnWait,
	}, dec), nil
}

// CloseIdleConnections closes the client's idle keep-alive connections; for
// shutdown and tests.
func (c *apiClient) CloseIdleConnections() { c.client.CloseIdleConnections() }

// ListModels returns the ids of the models the upstream serves, from
// GET /models (for Anthropic, its first page: enough for a probe). The
// whole answer must come within FirstTokenTimeout.
func (c *apiClient) ListModels(ctx context.Context) ([]string, error) {
	if c.baseErr != nil {
		return nil, &Error{Class: ClassConnect, Err: c.baseErr}
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(errRequestOver)
	l := c.limits
	l.stall, l.firstWhat = 0, "no answer"
	wd := startWatchdog(cancel, l)
	defer wd.stop()
	var conn connTime
	resp, err := c.send(rctx, wd, &conn, http.MethodGet, c.modelsURL, nil, c.modelsHeader)
	if err != nil {
		return nil, c.sendError(ctx, rctx, c.modelsShow, err, conn.silent(c.now()), l.silentClose())
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.statusError(resp)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxModelList+1))
	if err != nil {
		if rctx.Err() != nil {
			return nil, canceledError(ctx, rctx, c.modelsShow)
		}
		return nil, &Error{Class: ClassStreamCut, Status: resp.StatusCode, Err: safeWrap(c.modelsShow+": reading the model list", err, c.key)}
	}
	return parseModels(data, c.key)
}

// modelList is the answer of GET /models, the same in OpenAI's API and
// Anthropic's: {"data": [{"id": ...}, ...]}.
type modelList struct {
	Data []struct {
		ID string `json:"id"`
	} `json:"data"`
}

// parseModels reads a model list, or a bare list of the same objects, as
// some servers send.
func parseModels(data []byte, key string) ([]string, error) {
	if len(data) > maxModelList {
		return nil, &Error{Class: ClassMalformed, Message: fmt.Sprintf("model list longer than %d bytes", maxModelList)}
	}
	var m modelList
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
		if id := scrubTo(d.ID, key, maxName); id != "" {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// send builds and sends one request under ctx, telling the watchdog when a
// connection is ready and noting in conn when that was.
func (c *apiClient) send(ctx context.Context, wd *watchdog, conn *connTime, method, u string, body []byte, header http.Header) (*http.Response, error) {
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) {
			conn.set(c.now())
			wd.connected()
		},
	})
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header = header.Clone()
	return c.client.Do(req)
}

// requestHeader is the header of a request that accepts accept, with a JSON
// body or none: ours, then the protocol's own, then the caller's, each over
// the one before.
func requestHeader(accept string, body bool, own, caller http.Header) http.Header {
	h := http.Header{"Accept": {accept}, "User-Agent": {"switchboard"}}
	if body {
		h.Set("Content-Type", "application/json")
	}
	for _, over := range []http.Header{own, caller} {
		for k, vs := range over {
			h.Del(k)
			for _, v := range vs {
				h.Add(k, v)
			}
		}
	}
	return h
}

// errRequestOver is the cause a request's context is canceled with once we
// are done with it; it classifies nothing, since nothing reads after it.
var errRequestOver = errors.New("request over")

// silentCloseAfter is how long a connection must have been open, with the
// request sent and nothing back, for its close (or reset) to count as a
// timeout rather than a connection failure. A close that comes at once is
// a stale keep-alive connection or a server restarting: it takes
// milliseconds, and trying the same endpoint again is cheap and usually
// works, so it stays ClassConnect, a blip. A close after seconds of
// silence is the upstream, or a proxy in front of it, giving up on a
// request it took: the same endpoint would likely keep the next try as
// long, which is what a first-token timeout says (ClassTimeout, no retry
// on the same endpoint). Three seconds is a thousand times a reset and a
// tenth of the default first-token limit; a first-token limit under twice
// it lowers it to half that limit (see watchdogLimits.silentClose).
const silentCloseAfter = 3 * time.Second

// silentClose is the silence after which a close with no answer is a
// timeout: silentCloseAfter, or half the first-token limit if that is less,
// so that a close that took most of the limit is not tried again.
func (l watchdogLimits) silentClose() time.Duration {
	if l.first > 0 {
		return min(silentCloseAfter, l.first/2)
	}
	return silentCloseAfter
}

// connTime is when a request got its connection, by the client's clock;
// the transport may set it from another goroutine.
type connTime struct{ ns atomic.Int64 }

func (t *connTime) set(now time.Time) { t.ns.Store(now.UnixNano()) }

// silent is how long the connection has been had at now: 0 if there was
// none.
func (t *connTime) silent(now time.Time) time.Duration {
	ns := t.ns.Load()
	if ns == 0 {
		return 0
	}
	return max(now.Sub(time.Unix(0, ns)), 0)
}

// sendError classifies a failure to get an answer at all. silent is how
// long the connection was open before the failure (0 if there was none);
// a close after silentLimit or more of it is a timeout (see
// silentCloseAfter).
func (c *apiClient) sendError(parent, rctx context.Context, where string, err error, silent, silentLimit time.Duration) *Error {
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
	case silent > 0 && silent >= silentLimit:
		return &Error{Class: ClassTimeout, Err: safeWrap(fmt.Sprintf(
			"%s: the connection closed with no answer after %s of silence", where, human.Duration(silent)), err, c.key)}
	}
	return &Error{Class: class, Err: safeWrap(where, err, c.key)}
}

// statusError classifies a non-2xx answer from its status, headers and the
// start of its body, and releases the body.
func (c *apiClient) statusError(resp *http.Response) *Error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		// A server error, not a connection failure: it is no blip worth
		// trying again at once, and it counts against the endpoint, so
		// that its breaker opens. Not ClassNotFound or ClassAuth either,
		// whose advice (the model's name, the key) would mislead.
		return &Error{Class: ClassServer, Status: resp.StatusCode, Message: redirected(resp, c.key)}
	}
	e := parseErrorBody(data, c.key)
	msg := e.Message
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

// redirected explains a 3xx answer, which is not followed: where it
// pointed, without credentials or query, and what to check. It is mostly
// a base URL that is not quite right: http for https, a path that moved.
func redirected(resp *http.Response, key string) string {
	to := "without a Location"
	if loc, err := resp.Location(); err == nil {
		to = "to " + scrubTo(displayURL(loc), key, maxName)
	} else if resp.Header.Get("Location") != "" {
		to = "to a Location that is not a URL"
	}
	return fmt.Sprintf("the upstream redirected %s; Switchboard does not follow redirects "+
		"(the key and the prompt would go along): check base_url (http or https? the path?)", to)
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

// safeWrap wraps err with where, unless err's text is not fit to show as
// it is (it holds the key, control characters, or too much: Go's errors
// quote what the peer sent, a JSON error a number of any length), in which
// case the text is kept scrubbed and the chain given up.
func safeWrap(where string, err error, key string) error {
	if text := err.Error(); scrub(text, key) != text {
		return fmt.Errorf("%s: %s", where, scrub(text, key))
	}
	return fmt.Errorf("%s: %w", where, err)
}
