package gateway

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/provider"
	"switchboard/routing"
	"switchboard/wirejson"
)

// counter numbers answers, for their ids.
type counter struct{ n atomic.Uint64 }

func (c *counter) next() uint64 { return c.n.Add(1) }

// seqID is an id of a request or an answer: prefix, the Unix time, "-"
// and a sequence number, in one allocation (fmt.Sprintf took three).
func seqID(prefix string, unix int64, n uint64) string {
	b := make([]byte, 0, 48)
	b = append(b, prefix...)
	b = strconv.AppendInt(b, unix, 10)
	b = append(b, '-')
	return string(strconv.AppendUint(b, n, 10))
}

// completion is a whole chat.completion, with OpenRouter's top-level
// provider and Switchboard's decision trace.
type completion struct {
	ID       string         `json:"id"`
	Object   string         `json:"object"`
	Created  int64          `json:"created"`
	Model    string         `json:"model"`
	Provider string         `json:"provider,omitempty"`
	Choices  []choice       `json:"choices"`
	Usage    *usage         `json:"usage,omitempty"`
	Trace    *routing.Trace `json:"trace,omitempty"`
	Error    *errorBody     `json:"error,omitempty"` // a stream's end after a failure
}

type choice struct {
	Index        int       `json:"index"`
	Message      *message  `json:"message,omitempty"`
	Delta        *message  `json:"delta,omitempty"`
	FinishReason *string   `json:"finish_reason"`
	Logprobs     *logprobs `json:"logprobs"`
}

type message struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
	// Reasoning is a reasoning model's thinking, in OpenRouter's field.
	// A stream hands it on once the answer's first content or tool call
	// commits the request (see routing.OnDelta).
	Reasoning string     `json:"reasoning,omitempty"`
	ToolCalls []toolCall `json:"tool_calls,omitempty"`
}

// toolCall is a tool call in OpenAI's words: whole in a message, or a
// piece of one in a delta (the first piece has its id, type and name).
type toolCall struct {
	Index    *int         `json:"index,omitempty"` // in a delta only
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function toolFunction `json:"function"`
}

type toolFunction struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// toolCalls words calls as OpenAI does; pieces (in a stream) keep their
// index.
func toolCalls(calls []provider.ToolCall, pieces bool) []toolCall {
	if len(calls) == 0 {
		return nil
	}
	out := make([]toolCall, len(calls))
	for i, c := range calls {
		out[i] = toolCall{ID: c.ID, Function: toolFunction{Name: c.Name, Arguments: c.Arguments}}
		if c.ID != "" || !pieces {
			out[i].Type = "function"
		}
		if pieces {
			out[i].Index = &calls[i].Index
		}
	}
	return out
}

// logprobs are a choice's log probabilities, in OpenAI's words.
type logprobs struct {
	Content []tokenLogprob `json:"content"`
}

type tokenLogprob struct {
	Token       string          `json:"token"`
	Logprob     float64         `json:"logprob"`
	Bytes       []int           `json:"bytes"`
	TopLogprobs []topLogprobOut `json:"top_logprobs"`
}

type topLogprobOut struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

// logprobsOf words lps as OpenAI does; nil for none.
func logprobsOf(lps []provider.Logprob) *logprobs {
	if len(lps) == 0 {
		return nil
	}
	out := &logprobs{Content: make([]tokenLogprob, len(lps))}
	for i, lp := range lps {
		t := tokenLogprob{Token: lp.Token, Logprob: lp.Logprob, Bytes: lp.Bytes, TopLogprobs: make([]topLogprobOut, len(lp.Top))}
		for j, top := range lp.Top {
			t.TopLogprobs[j] = topLogprobOut(top)
		}
		out.Content[i] = t
	}
	return out
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
	// Cost is what the answer cost in USD (OpenRouter's field, in its
	// credits of one USD): see costOf.
	Cost float64 `json:"cost"`
	// PromptTokensDetails says how many of the prompt's tokens the upstream
	// read from its cache (OpenAI's and OpenRouter's field).
	PromptTokensDetails promptDetails `json:"prompt_tokens_details"`
}

type promptDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

func usageOf(u provider.Usage, cost float64) *usage {
	return &usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens,
		TotalTokens: cmp.Or(u.TotalTokens, u.PromptTokens+u.CompletionTokens), Cost: cost,
		PromptTokensDetails: promptDetails{CachedTokens: u.CachedTokens}}
}

// costOf is what res cost in USD at the endpoint that served it: the
// tokens its upstream reported times the endpoint's configured prices (USD
// per million prompt and completion tokens), plus its price per request.
// A stream resumed on another endpoint is priced as the endpoint that
// finished it billed its own attempt: the usage is that attempt's (its
// prompt holds the text carried over) at that endpoint's prices. An
// attempt cut off before its end reported no usage, so what it spent is
// not known and not counted. Each of the prompt's images costs the
// endpoint's price per image. A failed request costs 0.
func (s *Server) costOf(res *routing.Result, images int) float64 {
	if res == nil || res.Endpoint == "" {
		return 0
	}
	e, ok := s.opts.Router.Endpoint(res.Endpoint)
	if !ok {
		return 0
	}
	in, out := max(res.Usage.PromptTokens, 0), max(res.Usage.CompletionTokens, 0)
	return (float64(in)*e.PriceIn+float64(out)*e.PriceOut)/1e6 + e.PriceRequest + float64(images)*e.PriceImage
}

// exchange is one chat request on its way through the gateway: what the
// log line and the metrics say of it at the end.
type exchange struct {
	id        string
	start     time.Time
	model     string // asked for
	stream    bool
	served    routing.Endpoint
	status    int
	outcome   string
	ttft      time.Duration
	res       *routing.Result
	cost      float64 // of the answer, in USD: see costOf
	requestID string  // the request's id, as its request-id header says
	streamed  bool    // content went out on the stream
	// noReasoning leaves the thinking out of the answer (OpenRouter's
	// reasoning.exclude): the model still thinks.
	noReasoning bool
	images      int       // in the prompt, for the cost
	why         string    // what went wrong, for the log line: the error the client got
	route       string    // the trace's summary, once the headers had it
	piece       oneChoice // the chunk a chat stream's pieces are written from
	// pieceHead is what a piece of text's event starts with (see
	// textChunk), written for the model and provider in pieceOf.
	pieceHead []byte
	pieceOf   [2]string
}

// oneChoice is a completion with everything its one choice points to, so
// that an answer is one allocation, not five: a whole answer is built in a
// new one, and a stream's pieces are each written from the exchange's in
// turn (each is encoded before the next is built; a fresh chunk for each
// was a third of a streamed request's allocations).
type oneChoice struct {
	c      completion
	choice [1]choice
	msg    message
	text   string // the message's content, when it is a piece's copy
	finish string
	usage  usage
}

// refused records the error answer the client got instead of an answer.
func (x *exchange) refused(e *apiError) {
	x.status, x.outcome, x.why = e.Status, e.Type, e.Message
}

// dialect is what differs between the wire protocols the gateway serves
// chat in (OpenAI's chat completions, Anthropic's messages): reading the
// request, the words of the answer and the shape of an error. The
// exchange, the router call, the stream's commit rule and keep-alives, and
// the log line and metrics are the same for all.
type dialect struct {
	name       string // what the log calls its requests
	idPrefix   string
	parse      func(body []byte) (*chatRequest, routing.Request, *apiError)
	writeError func(http.ResponseWriter, *apiError)
	whole      func(*exchange, *routing.Result) any // a whole answer
	// delta writes a piece of the answer on the stream (x.streamed is
	// false until the first was written) and reports whether it wrote
	// anything: a piece may hold only what the caller does not get.
	delta     func(*sseOut, *exchange, routing.Delta) bool
	keepAlive string // what is written while waiting for the first token
	// end writes an open stream's end: the finish and usage, or e.
	end func(out *sseOut, x *exchange, res *routing.Result, e *apiError)
}

// openAI is OpenAI's chat completions, with OpenRouter's extensions.
var openAI = &dialect{name: "chat completion", idPrefix: "gen-", parse: parseChat, writeError: writeError, whole: wholeChat,
	delta: chatDelta, keepAlive: ": SWITCHBOARD PROCESSING\n\n", end: endChat}

// chat serves POST /v1/chat/completions.
func (s *Server) chat(w http.ResponseWriter, r *http.Request) { s.serve(w, r, openAI) }

// serve serves one chat request in d's words.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, d *dialect) {
	x := &exchange{id: seqID(d.idPrefix, s.opts.Now().Unix(), s.seq.next()), start: s.opts.Now()}
	var c *chatRequest
	var req routing.Request
	body, e := readBody(w, r, s.opts.MaxBody, s.opts.BodyTimeout)
	if e == nil {
		c, req, e = d.parse(body)
	}
	if c != nil {
		x.model, _ = routing.ModelSuffix(s.opts.Router.Canonical(req.Model)) // an alias counts as its model
		x.stream, x.noReasoning, x.images = c.Stream, c.noReasoning, images(req.Messages)
		req.Session = cmp.Or(req.Session, r.Header.Get("X-Session-Id"))
	}
	switch {
	case e != nil:
		d.writeError(w, e)
		x.refused(e)
	case c.Stream:
		s.stream(w, r, req, x, d)
	default:
		s.complete(w, r, req, x, d)
	}
	x.requestID = w.Header().Get("Request-Id")
	s.finish(r, x, d.name)
}

// complete answers with the whole answer once the router has it.
func (s *Server) complete(w http.ResponseWriter, r *http.Request, req routing.Request, x *exchange, d *dialect) {
	res, err := s.opts.Router.Send(r.Context(), req, nil)
	x.res = res
	if err != nil {
		e := fromRouting(err, res.Trace)
		d.writeError(w, e)
		x.refused(e)
		return
	}
	x.served, x.cost = endpointOf(res), s.costOf(res, x.images)
	x.route = setRouteHeaders(w, res)
	writeJSON(w, http.StatusOK, d.whole(x, res))
	x.status, x.outcome = http.StatusOK, "ok"
}

func wholeChat(x *exchange, res *routing.Result) any {
	w := &oneChoice{finish: res.FinishReason, usage: *usageOf(res.Usage, x.cost)}
	w.msg = message{Role: "assistant", Content: &res.Content, Reasoning: x.reasoning(res.Reasoning), ToolCalls: toolCalls(res.ToolCalls, false)}
	if res.Content == "" && len(res.ToolCalls) > 0 {
		w.msg.Content = nil // OpenAI's answer of calls alone has no content
	}
	w.choice[0] = choice{Message: &w.msg, FinishReason: &w.finish, Logprobs: logprobsOf(res.Logprobs)}
	w.c = completion{ID: x.id, Object: "chat.completion", Created: x.start.Unix(),
		Model: res.Model, Provider: res.Provider, Usage: &w.usage, Trace: res.Trace, Choices: w.choice[:]}
	return &w.c
}

// reasoning is the thinking the caller gets: none when it asked to leave
// it out (reasoning.exclude).
func (x *exchange) reasoning(r string) string {
	if x.noReasoning {
		return ""
	}
	return r
}

// stream answers with server-sent events. The status waits for the first
// content, so a request that fails before it gets its own HTTP status;
// only after KeepAlive with no token does the stream open early, with
// keep-alives, and a later failure ends it with an error event (status
// 200, as OpenRouter and Anthropic do).
//
// The router hands each piece on from the goroutine reading the upstream,
// and it is written there and then, into the response's buffer; the
// buffer goes to the client whenever the stream is about to wait on its
// upstream (routing.Request.OnWait): once per burst of the upstream's, as
// a proxy flushes what it read. A client that reads slowly holds the
// upstream's reading back, which the provider's time limits leave out.
// Keep-alives come from a timer until the first piece. One lock keeps the
// writers (a hedged race's two readers, the timer) to one at a time.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, req routing.Request, x *exchange, d *dialect) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	out := &sseOut{w: w, rc: http.NewResponseController(w), cancel: cancel}
	var mu sync.Mutex // out, and x while the router runs
	ended := false    // the handler is done with w: nothing may write
	var keepAlive *time.Timer
	keepAlive = time.AfterFunc(s.opts.KeepAlive, func() {
		mu.Lock()
		defer mu.Unlock()
		if ended || x.streamed {
			return
		}
		out.start("")
		out.write(d.keepAlive)
		out.flush()
		keepAlive.Reset(s.opts.KeepAlive)
	})
	defer keepAlive.Stop()
	req.OnCommit = func(e routing.Endpoint) {
		mu.Lock()
		x.served = e
		mu.Unlock()
	}
	req.OnWait = func() {
		mu.Lock()
		defer mu.Unlock()
		if !ended { // a hedge that lost may read on after Send returned
			out.flush()
		}
	}
	res, err := s.opts.Router.Send(ctx, req, func(p routing.Delta) {
		mu.Lock()
		defer mu.Unlock()
		out.start(x.served.Provider)
		if d.delta(out, x, p) && !x.streamed {
			x.ttft = s.opts.Now().Sub(x.start)
			keepAlive.Stop()
			x.streamed = true
		}
	})
	mu.Lock()
	defer mu.Unlock()
	ended = true
	defer out.flush()
	x.res, x.cost = res, s.costOf(res, x.images)
	var e *apiError
	if err != nil {
		e = fromRouting(err, res.Trace)
	}
	if e != nil && !out.open { // nothing sent yet: an ordinary error answer
		d.writeError(w, e)
		x.refused(e)
		return
	}
	x.status, x.outcome = http.StatusOK, "ok"
	if e != nil {
		x.outcome, x.why, e.Trace = e.Type, e.Message, nil
		if e.Kind == routing.KindInterrupted {
			// The error type says what the provider did; the
			// metrics keep saying the answer broke off.
			x.outcome = "stream_interrupted"
		}
	}
	d.end(out, x, res, e)
}

// sseOut writes a stream's events: into the response's buffer, sent to
// the client at each flush. It keeps the first write error: the client is
// gone, so it writes nothing more and stops the router.
type sseOut struct {
	w      http.ResponseWriter
	rc     *http.ResponseController
	cancel context.CancelFunc
	open   bool // the status and headers went out
	err    error
	enc    *wirejson.Encoder // into the response, through Write
	line   []byte            // an event written by hand, reused
}

// start sends the status and headers, once.
func (o *sseOut) start(provider string) {
	if o.open {
		return
	}
	o.open = true
	h := o.w.Header()
	h["Content-Type"], h["Cache-Control"], h["X-Accel-Buffering"] = eventStreamType, noCache, no
	if provider != "" {
		h.Set("X-Switchboard-Provider", provider)
	}
	o.w.WriteHeader(http.StatusOK)
}

// write adds text to what the next flush sends.
func (o *sseOut) write(text string) {
	if o.err != nil {
		return
	}
	if _, o.err = io.WriteString(o.w, text); o.err != nil {
		o.cancel()
	}
}

// Write is write for the encoder.
func (o *sseOut) Write(b []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	n, err := o.w.Write(b)
	if err != nil {
		o.err = err
		o.cancel()
	}
	return n, err
}

// raw adds an event written by hand to what the next flush sends.
func (o *sseOut) raw(b []byte) { _, _ = o.Write(b) }

// flush sends what was written, once the stream is open.
func (o *sseOut) flush() {
	if o.err != nil || !o.open {
		return
	}
	if o.err = o.rc.Flush(); o.err != nil {
		o.cancel()
	}
}

// data writes v as one event's data, as json.Marshal words it.
func (o *sseOut) data(v any) { o.event("", v) }

// event writes v as the data of one event named name (unnamed if "").
func (o *sseOut) event(name string, v any) {
	if o.enc == nil {
		o.enc = wirejson.NewEncoder(o)
	}
	if name != "" {
		o.write("event: ")
		o.write(name)
		o.write("\n")
	}
	o.write("data: ")
	_ = o.enc.Encode(v) // our own types; it ends the line
	o.write("\n")
}

// chunk is one chat.completion.chunk of the exchange's stream.
func (x *exchange) chunk(d *message, finish *string) completion {
	var c completion
	x.fill(&c, []choice{{Delta: d, FinishReason: finish}})
	return c
}

// fill makes c a chat.completion.chunk of the exchange's stream with
// choices.
func (x *exchange) fill(c *completion, choices []choice) {
	*c = completion{ID: x.id, Object: "chat.completion.chunk", Created: x.start.Unix(),
		Model: cmp.Or(x.served.Model, x.model), Provider: x.served.Provider, Choices: choices}
}

func chatDelta(out *sseOut, x *exchange, d routing.Delta) bool {
	reasoning := x.reasoning(d.Reasoning)
	if d.Content == "" && reasoning == "" && len(d.ToolCalls) == 0 && len(d.Logprobs) == 0 {
		return false // only what the caller asked to leave out, or a seal OpenAI has no word for
	}
	role := ""
	if !x.streamed {
		role = "assistant"
	}
	if reasoning == "" && len(d.ToolCalls) == 0 && len(d.Logprobs) == 0 {
		out.line = x.textChunk(out.line[:0], role, d.Content)
		out.raw(out.line)
		return true
	}
	p := &x.piece
	p.msg = message{Role: role, Reasoning: reasoning, ToolCalls: toolCalls(d.ToolCalls, true)}
	if d.Content != "" {
		p.text = d.Content
		p.msg.Content = &p.text
	}
	p.choice[0] = choice{Delta: &p.msg, Logprobs: logprobsOf(d.Logprobs)}
	x.fill(&p.c, p.choice[:])
	out.data(&p.c)
	return true
}

// textChunk appends the event of a piece of text alone (with role, if
// not ""), the stream's usual piece, as data(x.chunk(...)) words it,
// written by hand: encoding each piece was a tenth of a stream's CPU.
// FuzzMarshal holds the two to the same bytes.
func (x *exchange) textChunk(b []byte, role, text string) []byte {
	// What comes before the delta is the same for every piece from the
	// same endpoint: written once (a third of the piece's words).
	if of := [2]string{cmp.Or(x.served.Model, x.model), x.served.Provider}; x.pieceHead == nil || of != x.pieceOf {
		h := append(x.pieceHead[:0], `data: {"id":`...)
		h = wirejson.AppendString(h, x.id)
		h = append(h, `,"object":"chat.completion.chunk","created":`...)
		h = strconv.AppendInt(h, x.start.Unix(), 10)
		h = append(h, `,"model":`...)
		h = wirejson.AppendString(h, of[0])
		if of[1] != "" {
			h = append(h, `,"provider":`...)
			h = wirejson.AppendString(h, of[1])
		}
		x.pieceHead, x.pieceOf = append(h, `,"choices":[{"index":0,"delta":{`...), of
	}
	b = append(b, x.pieceHead...)
	if role != "" {
		b = append(b, `"role":`...)
		b = wirejson.AppendString(b, role)
		b = append(b, ',')
	}
	b = append(b, `"content":`...)
	b = wirejson.AppendString(b, text)
	return append(b, "},\"finish_reason\":null,\"logprobs\":null}]}\n\n"...)
}

// endChat writes a chat stream's end: the finish and usage, or the error
// chunk, then [DONE].
func endChat(out *sseOut, x *exchange, res *routing.Result, e *apiError) {
	if e != nil {
		body := e.body()
		end := "error"
		c := x.chunk(&message{}, &end)
		c.Error = &body
		out.data(c)
	} else {
		if !out.open { // an empty answer: no content ever came
			out.start(res.Provider)
			out.data(x.chunk(&message{Role: "assistant"}, nil))
		}
		finish := res.FinishReason
		out.data(x.chunk(&message{}, &finish))
	}
	last := x.chunk(nil, nil)
	last.Choices, last.Usage, last.Trace = []choice{}, usageOf(res.Usage, x.cost), res.Trace
	out.data(last)
	out.write("data: [DONE]\n\n")
}

// setRouteHeaders says who served and why, for clients that read headers,
// and returns the why (the trace's summary), for the log line.
func setRouteHeaders(w http.ResponseWriter, res *routing.Result) (route string) {
	h := w.Header()
	h.Set("X-Switchboard-Provider", res.Provider)
	if res.Trace != nil {
		route = res.Trace.Summary()
		h.Set("X-Switchboard-Route", route)
		h.Set("X-Switchboard-Attempts", strconv.Itoa(len(res.Trace.Attempts)))
	}
	return route
}

func endpointOf(res *routing.Result) routing.Endpoint {
	return routing.Endpoint{ID: res.Endpoint, Provider: res.Provider, Model: res.Model}
}

// finish logs the exchange and counts it.
func (s *Server) finish(r *http.Request, x *exchange, what string) {
	took := s.opts.Now().Sub(x.start)
	m := requestMetric{Model: x.model, Provider: x.served.Provider, Status: x.status, Outcome: x.outcome,
		Stream: x.stream, Duration: took, TTFT: x.ttft}
	var trace *routing.Trace
	if res := x.res; res != nil {
		m.Provider = cmp.Or(res.Provider, m.Provider)
		m.PromptTokens, m.CompletionTokens, m.Cost = res.Usage.PromptTokens, res.Usage.CompletionTokens, x.cost
		if trace = res.Trace; trace != nil {
			m.Attempts = len(trace.Attempts)
			m.Fallback = res.Endpoint != "" && len(trace.Attempts) > 0 && trace.Attempts[0].Endpoint != res.Endpoint
			for _, a := range trace.Attempts {
				m.Skipped += a.Skipped
			}
			m.Hedges = trace.Hedges()
		}
	}
	s.metrics.request(m)
	if trace != nil {
		if s.opts.Routed != nil {
			s.opts.Routed(trace)
		}
		s.traces.publish(trace)
	}
	level := slog.LevelInfo
	if x.status >= 500 {
		level = slog.LevelWarn
	}
	if !s.opts.Log.Enabled(r.Context(), level) { // the dashboard discards it: skip the trace's summary
		return
	}
	attrs := []slog.Attr{slog.String("id", x.id), slog.String("request_id", x.requestID), slog.String("model", x.model), slog.Bool("stream", x.stream),
		slog.Int("status", x.status), slog.String("outcome", x.outcome), slog.Duration("took", took)}
	if trace != nil {
		attrs = append(attrs, slog.Int("attempts", m.Attempts), slog.String("route", cmp.Or(x.route, trace.Summary())))
	}
	if m.Provider != "" {
		attrs = append(attrs, slog.String("provider", m.Provider))
	}
	if x.why != "" {
		attrs = append(attrs, slog.String("error", x.why))
	}
	s.opts.Log.LogAttrs(r.Context(), level, what, attrs...)
}

// images counts the images in msgs.
func images(msgs []provider.Message) int {
	n := 0
	for _, m := range msgs {
		for _, p := range m.Parts {
			if p.Type == provider.PartImage {
				n++
			}
		}
	}
	return n
}
