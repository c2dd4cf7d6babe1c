package sim

import (
	"fmt"
	"net/http"
	"slices"
	"time"
)

// dialect is one wire protocol a simulated provider speaks. Everything that
// makes an answer succeed or fail (the checks, the fault plan, the time to
// first token, the pacing, the generated text) belongs to the server and is
// the same in every dialect; a dialect only reads requests and words
// answers and errors the way its API does.
type dialect interface {
	// authorize checks the profile's key where this API carries it; nil
	// lets the request go on.
	authorize(r *http.Request, key string) *httpError
	// decode reads and validates a chat request.
	decode(w http.ResponseWriter, r *http.Request) (*chatRequest, *httpError)

	// The refusals the server decides, in this API's words.
	unavailable(name string) *httpError
	modelNotFound(model string) *httpError
	contextLength(limit, prompt, maxTokens int) *httpError
	rateLimited(name string, retryAfter time.Duration) *httpError
	prefillRefused() *httpError
	injected(status int) *httpError
	notFound(path string) *httpError
	methodNotAllowed(method, path, allow string) *httpError

	// idPrefix starts the id of every answer.
	idPrefix() string
	// answer is the body of a whole (non-streamed) answer.
	answer(x *exchange, now time.Time) any
	// keepAlive is the event a stream sends while it waits for its first token.
	keepAlive() string
	// streamer words the events of one streamed answer.
	streamer(x *exchange, now time.Time) streamer
	// models is the body of the model list.
	models(ids []string, created time.Time, owner string) any
}

// dialectOf picks the dialect of a request to a route both APIs share: the
// chat routes are each one API's own, elsewhere an anthropic-version header
// is what marks an Anthropic client.
func dialectOf(r *http.Request) dialect {
	switch {
	case r.URL.Path == "/v1/messages":
		return anthropic{}
	case r.URL.Path == "/v1/chat/completions":
		return openAI{}
	case r.Header.Get("anthropic-version") != "":
		return anthropic{}
	}
	return openAI{}
}

// exchange is one accepted chat request on its way to an answer.
type exchange struct {
	req    *chatRequest
	plan   plan
	answer answer
	id     string
	prompt int // prompt tokens
	cached int // of those, the ones of a prefix this server saw before (its cache)
}

// serveChat answers a chat request in dialect d. Every fault that shows as
// an HTTP status is decided here, before a header is written.
func (s *Server) serveChat(w http.ResponseWriter, r *http.Request, d dialect) {
	s.stats.requests.Add(1)
	if fail := s.refuse(r, d); fail != nil {
		fail.write(w)
		return
	}
	req, fail := d.decode(w, r)
	if fail == nil {
		s.stats.lastUser.Store(&req.user)
	}
	if fail == nil && !slices.Contains(s.profile.Models, req.model) {
		fail = d.modelNotFound(req.model)
	}
	prompt := 0
	if fail == nil {
		prompt = countPromptTokens(req.messages)
		if limit := s.profile.contextLength(req.model); limit > 0 && prompt+req.maxTokens > limit {
			fail = d.contextLength(limit, prompt, req.maxTokens)
		}
	}
	mode := s.Mode()
	if fail == nil && req.prefill() {
		s.stats.prefills.Add(1)
		if s.profile.RefusePrefill || mode == ModeNoPrefill {
			fail = d.prefillRefused()
		}
	}
	if fail != nil {
		s.stats.count(outcomeRejected)
		fail.write(w)
		return
	}
	pl := s.decide(mode, req.prefill())
	if fail := pl.refusal(d, &s.profile); fail != nil {
		if fail.status == http.StatusTooManyRequests {
			s.stats.count(outcomeRateLimited)
		} else {
			s.stats.count(outcomeFailed)
		}
		fail.write(w)
		return
	}
	var out outcome
	switch {
	case pl.silentClose > 0:
		// Read, held, and closed with nothing written.
		out = outcomeSilentClosed
		if !wait(r.Context(), pl.silentClose) {
			out = outcomeCanceled
		}
	default:
		x := &exchange{
			req:    req,
			plan:   pl,
			answer: s.compose(req),
			id:     s.nextID(d.idPrefix()),
			prompt: prompt,
			cached: s.cache.read(req.messages),
		}
		if req.stream {
			out = s.stream(w, r, x, d)
		} else {
			out = s.complete(w, r, x, d)
		}
	}
	s.stats.count(out)
	if s.opts.ended != nil {
		s.opts.ended(out)
	}
	if out != outcomeOK {
		// Drop the connection: returning normally would end the response
		// cleanly (a 200 with an empty body, or a stream's last event) and
		// a client could take a cut, a stall ended by Close, or a cancelled
		// answer for a complete one. Panicking with ErrAbortHandler is
		// net/http's quiet way to do that.
		panic(http.ErrAbortHandler)
	}
}

// compose writes the answer to req: the profile's deterministic answer to
// its conversation or, when req ends with the assistant's text (a
// prefill), the continuation of it (see continuation). As with real
// providers, a continuation's max_tokens counts only what it generates:
// the rest of an answer capped at n tokens, of which k were cut off, is
// given whole by a continuation capped at n-k.
func (s *Server) compose(req *chatRequest) answer {
	p := &s.profile
	msgs := req.messages
	if req.prefill() {
		// Uncapped, the answer has every capped answer as its start.
		whole := compose(p.Seed, promptKey(req.model, msgs[:len(msgs)-1]), 0, p.ReasoningTokens)
		if a, ok := whole.continuation(msgs[len(msgs)-1].text); ok {
			return a.capped(req.maxTokens)
		}
	}
	return compose(p.Seed, promptKey(req.model, msgs), req.maxTokens, p.ReasoningTokens)
}

// complete answers with one JSON body once the first token is due. Cut and
// stall happen before the headers, as a crashed or hung upstream does to a
// non-streaming call.
func (s *Server) complete(w http.ResponseWriter, r *http.Request, x *exchange, d dialect) outcome {
	ctx := r.Context()
	if !wait(ctx, x.plan.ttft) {
		return outcomeCanceled
	}
	if out, ok := x.plan.broken(ctx); ok {
		return out
	}
	writeJSON(w, http.StatusOK, d.answer(x, s.opts.Now()))
	return outcomeOK
}

// nextID makes an answer id after prefix, unique within the server and
// reproducible for a given seed and request order.
func (s *Server) nextID(prefix string) string {
	n := s.seq.Add(1)
	return fmt.Sprintf("%s%016x%08x", prefix, splitmix(uint64(s.profile.Seed)^n), uint32(n))
}

// splitmix scrambles a counter into an id-looking number.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
