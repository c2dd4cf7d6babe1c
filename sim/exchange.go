package sim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
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
	// signature is the signature of the answer's thinking, as this
	// server signs it (see Server.sign); "" without thinking.
	signature string
	prompt    int // prompt tokens
	cached    int // of those, the ones of a prefix this server saw before (its cache)
}

// serveChat answers a chat request in dialect d. Every fault that shows as
// an HTTP status is decided here, before a header is written.
func (s *Server) serveChat(w http.ResponseWriter, r *http.Request, d dialect) {
	s.stats.requests.Add(1)
	s.stats.chats.Add(1)
	if fail, down := s.refuse(r, d); fail != nil {
		if down {
			s.stats.down.Add(1)
		}
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
	if fail == nil {
		fail = s.unservable(req)
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
		if len(x.answer.reasoning) > 0 {
			x.signature = s.sign(strings.Join(x.answer.reasoning, ""))
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
	if out != outcomeOK && out != outcomeErrored { // an error event or status ends cleanly
		// Drop the connection: returning normally would end the response
		// cleanly (a 200 with an empty body, or a stream's last event) and
		// a client could take a cut, a stall ended by Close, or a cancelled
		// answer for a complete one. Panicking with ErrAbortHandler is
		// net/http's quiet way to do that.
		panic(http.ErrAbortHandler)
	}
}

// compose writes the answer to req: a call of one of its tools when
// callFor says so; else the profile's deterministic answer to its
// conversation or, when req ends with the assistant's text (a prefill),
// the continuation of it (see continuation). As with real providers, a
// continuation's max_tokens counts only what it generates: the rest of an
// answer capped at n tokens, of which k were cut off, is given whole by a
// continuation capped at n-k. An answer after tool results, or to a
// message with images, starts by saying what it read (see lead). A call
// is never cut by max_tokens: its arguments are a handful of tokens.
func (s *Server) compose(req *chatRequest) answer {
	p := &s.profile
	reasoning := 0
	if req.thinks {
		reasoning = p.ReasoningTokens
	}
	msgs := req.messages
	key := promptKey(req.model, msgs)
	from := sample{provider: p.Name, model: req.model}
	if t, ok := req.callFor(); ok {
		a := callAnswer(t, key, msgs[len(msgs)-1].text)
		if reasoning > 0 {
			a.reasoning = compose(p.Seed, key, 0, reasoning, from).reasoning
		}
		return a
	}
	if req.prefill() {
		// Uncapped, the answer has every capped answer as its start.
		head := msgs[:len(msgs)-1]
		whole := compose(p.Seed, promptKey(req.model, head), 0, reasoning, from).withLead(lead(head))
		if a, ok := whole.continuation(msgs[len(msgs)-1].text); ok {
			return a.capped(req.maxTokens)
		}
		// Another's text: carried on in this provider's own words, without
		// the opening, which would begin the answer again.
		from.carryingOn = true
	}
	if l := lead(msgs); l != "" {
		return compose(p.Seed, key, 0, reasoning, from).withLead(l).capped(req.maxTokens)
	}
	return compose(p.Seed, key, req.maxTokens, reasoning, from)
}

// lead is what an answer to msgs says before its generated words: what
// the tools it called returned, or how many images it was shown in the
// last message; "" for neither.
func lead(msgs []message) string {
	if len(msgs) == 0 {
		return ""
	}
	if results := trailingResults(msgs); len(results) > 0 {
		return resultLead(results)
	}
	if n := msgs[len(msgs)-1].images; n > 0 {
		return imageNote(n)
	}
	return ""
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
		if out == outcomeErrored { // no answer to end mid-way: an error status
			d.injected(http.StatusBadGateway).write(w)
		}
		return out
	}
	writeJSON(w, http.StatusOK, d.answer(x, s.opts.Now()))
	return outcomeOK
}

// unservable is the refusal of a request this server cannot take though
// it is well formed: images for a model that takes none, or thinking
// sent back with a signature this server did not give it.
func (s *Server) unservable(req *chatRequest) *httpError {
	if len(req.images) > 0 && !slices.Contains(s.profile.ImageModels, req.model) {
		return req.images[0].refusal
	}
	for _, t := range req.thoughts {
		if !hmac.Equal([]byte(t.signature), []byte(s.sign(t.text))) {
			return t.refusal
		}
	}
	return nil
}

// sign is this server's signature of a thinking text: base64 of its
// HMAC-SHA256 under a key made from the profile's name and seed. So it is
// the same for the same thinking whenever the profile is served (as a
// provider's signatures outlive its restarts), and another provider's
// signature does not pass, as thinking signed by one provider is refused
// by another.
func (s *Server) sign(thinking string) string {
	key := sha256.Sum256(fmt.Appendf(nil, "sim thinking signature\x00%s\x00%d", s.profile.Name, s.profile.Seed))
	mac := hmac.New(sha256.New, key[:])
	mac.Write([]byte(thinking))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
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
