package provider

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// errClosed is the cause of a stream's end when its owner closed it early.
var errClosed = fmt.Errorf("stream closed by its owner: %w", context.Canceled)

// wireDecoder reads one protocol's answer: its server-sent events, or the
// whole JSON document of a server that did not stream. A stream has a
// decoder of its own, which may keep state from one event to the next.
type wireDecoder interface {
	// event decodes one event. An error is the stream's final result: an
	// error the upstream sent, or ClassMalformed.
	event(ev sseEvent) (Chunk, eventKind, error)
	// whole decodes a whole answer into the one chunk a stream would have
	// ended with.
	whole(data []byte) (Chunk, error)
	// mayHoldText reports whether an event that did not decode may have
	// carried text of the answer (see skippable).
	mayHoldText(ev sseEvent) bool
}

// maxSkippedEvents is how many events that are not chunks an answer may
// have and still go on: one is a glitch (a proxy's or a framework's stray
// line); a second says the upstream is not speaking the protocol, and the
// attempt fails as ClassMalformed, as every such event did before.
const maxSkippedEvents = 1

// skippable reports whether an event that failed to decode as malformed can
// be skipped without the caller missing any text. The rule: the event's
// data holds no "{" at all (it is empty, or a word such as "ping", or a
// stray line of text), so it is neither a chunk nor a part of one in
// either protocol, whose every event is a JSON object; and, where the
// protocol names its events, its name is not one that carries the answer
// (see mayHoldText). An event with a "{" that does not decode (a truncated
// or garbled chunk, a chunk of an unknown shape) may hold text that cannot
// be read: skipping it would silently drop that text, so it ends the
// attempt as ClassMalformed instead, after the text that came before it,
// and the router resumes from the text already delivered.
func skippable(dec wireDecoder, ev sseEvent, err error) bool {
	return ClassOf(err) == ClassMalformed && !bytes.ContainsRune(ev.Data, '{') && !dec.mayHoldText(ev)
}

// eventKind is what an event means to the stream, beside its chunk.
type eventKind uint8

const (
	// eventData is output of the upstream, even if its chunk is empty; only
	// a chunk with tokens restarts the stall limit (see hasTokens).
	eventData eventKind = iota
	// eventKeepAlive only says that the connection is alive (Anthropic's
	// ping). Like an SSE comment it is not progress: a stream that only
	// keeps alive is stalled.
	eventKeepAlive
	// eventDone is the protocol's end of the stream ([DONE], message_stop).
	eventDone
)

// streamConfig is what an eventStream takes over from the request that
// opened it.
type streamConfig struct {
	parent context.Context         // the caller's context
	ctx    context.Context         // the request's own, canceled by wd and Close
	cancel context.CancelCauseFunc // cancels ctx
	wd     *watchdog               // running since the request started
	resp   *http.Response          // a 2xx answer
	start  time.Time               // when Stream was called
	now    func() time.Time        // the clock for Stats
	// realClock says now is time.Now, whose readings the watchdog's real
	// timers can take; another clock (a test's) is read beside it.
	realClock bool
	key       string        // to redact from upstream text
	where     string        // "POST <url>", for error texts
	body      io.ReadCloser // resp.Body, unless given (fuzzing and benchmarks)
	kind      bodyKind      // from resp's Content-Type, unless body is given
	// maxAnswer is Request.MaxAnswer: <= 0 means DefaultMaxAnswer.
	maxAnswer int
	onWait    func() // Request.OnWait
}

// DefaultMaxAnswer is the answer limit of a Request that sets none: 32 MiB
// of content and reasoning. The longest answers models give (128k output
// tokens of at most a few bytes each) stay under a few MiB, so no real
// answer comes near it, while an upstream that streams without end, or
// sends a gigabyte at once, costs a bounded amount of memory.
const DefaultMaxAnswer = 32 << 20

// wholeBodyLimit is how much of a whole answer's JSON body is read for an
// answer limit of max bytes: twice that, since JSON's escapes may double a
// text (\u escapes of non-ASCII text), and room for the rest of the
// document.
func wholeBodyLimit(max int) int64 {
	return 2*int64(min(max, math.MaxInt32)) + 64<<10
}

// eventStream reads one streamed answer, whatever its protocol: the
// protocol's decoder turns events into chunks, and the stream does the rest
// (time limits, stats, the end, the connection). Next is for one goroutine;
// Stats and Close may be called from any.
type eventStream struct {
	cfg streamConfig
	dec wireDecoder
	// br and sse read the body; only Next uses them, and once the stream
	// ended br goes back to readerPool and both are nil (see giveBack).
	br   *bufio.Reader
	sse  *sseReader
	kind bodyKind
	// finished is set once a finish reason came: the answer is whole, and
	// losing the connection after it loses nothing.
	finished bool
	// answered is set once content came: the end marker then ends an
	// answer, even without a finish reason.
	answered bool
	// sniffed is set once the body's start was looked at (see sniff).
	sniffed bool
	// answerBytes counts the content and reasoning accepted so far.
	answerBytes int
	// jsonDone is set once a whole (non-streamed) answer was returned.
	jsonDone bool
	// skipped counts the events skipped as not chunks (see skippable); it
	// goes out in Stats.SkippedEvents.
	skipped int

	// mu guards what Stats and Close share with Next.
	mu         sync.Mutex
	stats      Stats
	sawContent bool
	chunks     int       // chunks with tokens, of the answer or of reasoning
	lastToken  time.Time // when the last chunk with tokens came, for Stats.MaxGap
	// heldAt is when the caller got the last chunk, until it asks for the
	// next; held sums the time it held chunks since the last token, which
	// is no gap of the upstream's.
	heldAt time.Time
	held   time.Duration
	// tokenAt is when accept took the chunk Next is about to return, if it
	// had tokens: the time it is handed to the caller, read once.
	tokenAt     time.Time
	usageTokens int   // usage.completion_tokens, 0 until sent
	err         error // the final result: io.EOF or an *Error
	closed      bool
	reading     bool // a Next is running: it, not Close, gives back br

	release sync.Once
}

// newEventStream starts reading cfg's body with dec; the watchdog keeps
// running.
func newEventStream(cfg streamConfig, dec wireDecoder) *eventStream {
	if cfg.body == nil {
		cfg.body = cfg.resp.Body
		cfg.kind = bodyKindOf(cfg.resp.Header.Get("Content-Type"))
	}
	if cfg.maxAnswer <= 0 {
		cfg.maxAnswer = DefaultMaxAnswer
	}
	s := &eventStream{cfg: cfg, dec: dec, kind: cfg.kind, stats: Stats{Start: cfg.start}}
	s.br = readerPool.Get().(*bufio.Reader)
	if cfg.onWait != nil {
		s.br.Reset(waitReader{cfg.body, cfg.onWait})
	} else {
		s.br.Reset(cfg.body)
	}
	s.sse = newSSEReaderFrom(s.br)
	return s
}

// waitReader calls onWait before each read from r: the read buffer in
// front of it reads only once it has handed out all it had.
type waitReader struct {
	r      io.Reader
	onWait func()
}

func (w waitReader) Read(p []byte) (int, error) {
	w.onWait()
	return w.r.Read(p)
}

// readerPool keeps the read buffers of streams that ended for the streams
// to come: at sseReadSize each, allocating one per attempt was half of all
// the bytes a request allocated.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, sseReadSize) }}

// giveBack returns the stream's read buffer to readerPool once nothing can
// read into it any more: the stream has ended and no Next is running (a
// Next blocked in a read when Close comes still writes into the buffer
// until its read is aborted, so Close leaves the buffer to it). Called
// with s.mu held; the buffer goes back once at most.
func (s *eventStream) giveBack() {
	if s.err == nil || s.reading || s.br == nil {
		return
	}
	s.br.Reset(nil) // keep no body alive from the pool
	readerPool.Put(s.br)
	s.br, s.sse = nil, nil
}

// Next returns the next chunk with content, reasoning, a finish reason or
// usage; events with none of these (a role, the start of a block) are
// skipped. It returns io.EOF after a clean end and an *Error otherwise, then
// the same again forever.
//
// The time between one Next returning a chunk and the next call is the
// caller's, not the upstream's: the time limits and the gaps between
// tokens leave it out (see watchdog.hold).
func (s *eventStream) Next() (Chunk, error) {
	s.cfg.wd.release()
	s.mu.Lock()
	if err := s.err; err != nil {
		s.mu.Unlock()
		return Chunk{}, err
	}
	if !s.heldAt.IsZero() {
		s.held += s.cfg.now().Sub(s.heldAt)
		s.heldAt = time.Time{}
	}
	s.reading = true
	s.mu.Unlock()
	c, err := s.next()
	s.mu.Lock()
	s.reading = false
	s.giveBack()
	if err == nil {
		if s.heldAt = s.tokenAt; s.heldAt.IsZero() {
			s.heldAt = s.cfg.now()
		}
	}
	s.mu.Unlock()
	if err == nil {
		s.cfg.wd.hold()
	}
	return c, err
}

// next is Next while the stream is open, with the read buffer its own.
func (s *eventStream) next() (Chunk, error) {
	if !s.sniffed {
		s.sniffed = true
		if err := s.sniff(); err != nil {
			return Chunk{}, s.end(err)
		}
	}
	if s.kind == bodyJSON {
		return s.nextWhole()
	}
	for {
		ev, err := s.sse.Next()
		if err != nil {
			return Chunk{}, s.end(s.readError(err))
		}
		var c Chunk
		kind := eventData
		if ev.Type == "error" {
			// OpenAI-compatible servers and Anthropic alike name an error
			// event "error", and its data is an error body.
			err = streamError(parseErrorBody(ev.Data, s.cfg.key))
		} else {
			c, kind, err = s.dec.event(ev)
		}
		if err != nil && skippable(s.dec, ev, err) {
			if s.skipped >= maxSkippedEvents {
				e := AsError(err)
				return Chunk{}, s.end(&Error{Class: ClassMalformed, Err: e.Err, Message: fmt.Sprintf(
					"more than %d event in this answer that is not a chunk: %s", maxSkippedEvents, e.Message)})
			}
			s.skipped++
			s.mu.Lock()
			s.stats.SkippedEvents = s.skipped
			s.mu.Unlock()
			continue
		}
		switch {
		case err != nil:
			return Chunk{}, s.end(err)
		case kind == eventKeepAlive:
			continue
		case kind == eventDone:
			at := s.cfg.now() // the answer's end, whatever the drain takes
			s.drain()
			if !s.finished && !s.answered {
				return Chunk{}, s.endAt(&Error{Class: ClassStreamCut, Err: fmt.Errorf(
					"%s: the stream's end marker came with neither content nor a finish reason before it", s.cfg.where)}, at)
			}
			return Chunk{}, s.endAt(io.EOF, at)
		}
		if c, err = s.accept(c); err != nil {
			return Chunk{}, s.end(err)
		}
		if hasTokens(c) || c.FinishReason != "" || c.Usage != nil || len(c.Logprobs) > 0 {
			return c, nil
		}
	}
}

// gzipMagic starts every gzip stream.
var gzipMagic = []byte{0x1f, 0x8b}

// sniff settles how to read the body from its first bytes past white
// space. An HTML page (a proxy's or a captive portal's) and gzip-compressed
// bytes (a server that compresses without saying so in Content-Encoding)
// are never an answer, whatever the Content-Type says; read as an event
// stream they would only look cut. Without a Content-Type, "{" starts a
// whole JSON answer and anything else an event stream.
func (s *eventStream) sniff() error {
	html := func() error {
		return &Error{Class: ClassMalformed, Message: "the upstream answered with an HTML page, not an event stream or JSON"}
	}
	if s.kind == bodyHTML {
		return html()
	}
	b := s.start()
	switch {
	case len(b) > 0 && b[0] == '<':
		return html()
	case bytes.HasPrefix(b, gzipMagic):
		return &Error{Class: ClassMalformed,
			Message: "the upstream answered with gzip-compressed bytes that no Content-Encoding announced"}
	case s.kind == bodyUnknown && len(b) > 0 && b[0] == '{':
		s.kind = bodyJSON
	case s.kind == bodyUnknown:
		s.kind = bodySSE
	}
	return nil
}

// start returns the buffered start of the body past white space (and a
// byte order mark): at least two bytes, unless the body ends or fails
// sooner or its white space fills the buffer. It waits for no more bytes
// than that; a failure to read is left for the reading that follows.
func (s *eventStream) start() []byte {
	need := 1
	for {
		_, err := s.br.Peek(need)
		b, _ := s.br.Peek(s.br.Buffered())
		rest := bytes.TrimLeft(bytes.TrimPrefix(b, utf8BOM), " \t\r\n")
		if len(rest) >= 2 || err != nil || len(b) == s.br.Size() {
			return rest
		}
		need = len(b) - len(rest) + 2
	}
}

// After its end marker a stream reads what is left of its body, normally
// just the chunked encoding's last bytes, so that its connection can serve
// the next request: to a real provider a new one costs a TLS handshake. A
// server that keeps the body open gets drainWait, then the connection is
// dropped.
const (
	drainWait = 100 * time.Millisecond
	maxDrain  = 4 << 10
)

func (s *eventStream) drain() {
	// The watchdog's idle timer, done with, bounds the drain: a timer of
	// its own was two allocations a request.
	if !s.cfg.wd.drainFor(drainWait) {
		t := time.AfterFunc(drainWait, func() { s.cfg.cancel(errRequestOver) })
		defer t.Stop()
	}
	s.br.Discard(maxDrain)
}

// nextWhole returns the whole answer of a server that did not stream, as
// one chunk, then io.EOF.
func (s *eventStream) nextWhole() (Chunk, error) {
	if s.jsonDone {
		return Chunk{}, s.end(io.EOF)
	}
	limit := wholeBodyLimit(s.cfg.maxAnswer)
	data, err := io.ReadAll(io.LimitReader(s.br, limit+1))
	if err != nil {
		return Chunk{}, s.end(s.readError(err))
	}
	if int64(len(data)) > limit {
		return Chunk{}, s.end(&Error{Class: ClassMalformed, Message: fmt.Sprintf(
			"whole answer's body longer than %d bytes (an answer may have %d)", limit, s.cfg.maxAnswer)})
	}
	c, err := s.dec.whole(data)
	if err == nil && c.Content == "" && len(c.ToolCalls) == 0 && c.FinishReason == "" {
		// As an end marker with nothing before it: no answer at all. (Tool
		// calls alone are an answer, as in a stream.)
		err = malformed("whole answer", data, errors.New("neither content nor a finish reason"), s.cfg.key)
	}
	if err == nil {
		c, err = s.accept(c)
	}
	if err != nil {
		return Chunk{}, s.end(err)
	}
	s.jsonDone = true
	return c, nil
}

// accept takes a decoded chunk into the timers and the stats, and returns
// it scrubbed (see scrubChunk). A chunk that finishes with reason "error"
// is a failure even without an error object: OpenRouter counts such answers
// against the provider.
//
// Reasoning is a token like any other: a model that thinks for a minute
// before answering is producing, not silent, for the first-token and stall
// limits, and its first token starts its TTFT.
func (s *eventStream) accept(c Chunk) (Chunk, error) {
	c = scrubChunk(c, s.cfg.key)
	if s.answerBytes += len(c.Content) + len(c.Reasoning) + toolBytes(c.ToolCalls) + len(c.Signature) + logprobBytes(c.Logprobs); s.answerBytes > s.cfg.maxAnswer {
		return c, &Error{Class: ClassMalformed, Message: fmt.Sprintf(
			"answer longer than %d bytes: the upstream does not stop, or the limit is too low", s.cfg.maxAnswer)}
	}
	token := hasTokens(c)
	var now time.Time
	if token {
		now = s.cfg.now()
		if s.cfg.realClock {
			s.cfg.wd.progress(now)
		} else {
			s.cfg.wd.progress(time.Now())
		}
	}
	s.mu.Lock()
	s.tokenAt = now
	if token {
		if !s.sawContent {
			s.sawContent = true
			s.stats.TTFT = now.Sub(s.stats.Start)
		} else {
			s.stats.MaxGap = max(s.stats.MaxGap, now.Sub(s.lastToken)-s.held)
		}
		s.lastToken, s.held = now, 0
		s.chunks++
	}
	if c.Usage != nil && c.Usage.CompletionTokens > 0 {
		s.usageTokens = c.Usage.CompletionTokens
	}
	s.mu.Unlock()
	s.answered = s.answered || c.Content != "" || len(c.ToolCalls) > 0
	switch c.FinishReason {
	case "":
	case "error":
		return c, &Error{Class: ClassServer, Message: `the upstream ended the stream with finish_reason "error"`}
	default:
		s.finished = true
	}
	return c, nil
}

// toolBytes is what tool calls weigh against an answer's bound.
func toolBytes(calls []ToolCall) int {
	n := 0
	for _, tc := range calls {
		n += len(tc.ID) + len(tc.Name) + len(tc.Arguments)
	}
	return n
}

// logprobBytes is what logprobs weigh against an answer's bound: the text
// of their tokens, the likeliest ones' included. They describe content
// already counted, but an upstream decides how many come, and whoever
// keeps the answer keeps them too.
func logprobBytes(lps []Logprob) int {
	n := 0
	for _, lp := range lps {
		n += len(lp.Token)
		for _, t := range lp.Top {
			n += len(t.Token)
		}
	}
	return n
}

// hasTokens reports whether c carries output of the model: content,
// reasoning (its signature included), or pieces of tool calls. Only such
// chunks are progress for the time limits (see watchdog.progress), count
// as tokens and start TTFT.
func hasTokens(c Chunk) bool {
	return c.Content != "" || c.Reasoning != "" || len(c.ToolCalls) > 0 || c.Signature != ""
}

// readError classifies a failure to read the body.
func (s *eventStream) readError(err error) error {
	if s.finished {
		return io.EOF
	}
	if s.cfg.ctx.Err() != nil {
		return canceledError(s.cfg.parent, s.cfg.ctx, s.cfg.where)
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if err == io.EOF {
		return &Error{Class: ClassStreamCut, Err: fmt.Errorf("%s: the stream ended before a finish reason", s.cfg.where)}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Class: ClassTimeout, Err: safeWrap(s.cfg.where, err, s.cfg.key)}
	}
	return &Error{Class: ClassStreamCut, Err: safeWrap(s.cfg.where+": stream broken", err, s.cfg.key)}
}

// end records the stream's final result (the first one wins: a concurrent
// Close may have come first), releases everything and returns the result.
func (s *eventStream) end(err error) error { return s.endAt(err, s.cfg.now()) }

func (s *eventStream) endAt(err error, at time.Time) error {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
		s.stats.Duration = at.Sub(s.stats.Start)
	}
	err = s.err
	s.mu.Unlock()
	s.releaseAll()
	return err
}

// releaseAll stops the timers and frees the connection, once.
func (s *eventStream) releaseAll() {
	s.release.Do(func() {
		s.cfg.wd.stop()
		// Closing before canceling lets a fully read connection go back to
		// the pool.
		s.cfg.body.Close()
		s.cfg.cancel(errRequestOver)
	})
}

// Stats returns the measurements so far; Duration is set once the stream
// ended.
func (s *eventStream) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.OutputTokens = s.chunks
	if s.usageTokens > 0 {
		st.OutputTokens = s.usageTokens
	}
	return st
}

// Close ends the stream; a Next blocked in another goroutine returns
// ClassCanceled. It is safe to call at any time, more than once.
func (s *eventStream) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.err == nil {
		s.err = &Error{Class: ClassCanceled, Err: fmt.Errorf("%s: %w", s.cfg.where, errClosed)}
		s.stats.Duration = s.cfg.now().Sub(s.stats.Start)
	}
	s.giveBack()
	s.mu.Unlock()
	// Cancel first: it aborts a read in progress, which Close of the body
	// would otherwise wait for.
	s.cfg.cancel(errClosed)
	s.releaseAll()
	return nil
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
