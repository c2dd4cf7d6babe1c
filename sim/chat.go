package sim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// usage is the token accounting of an answer.
type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func newUsage(prompt, completion int) usage {
	return usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
}

// completion is a whole (non-streamed) chat completion.
type completion struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"`
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []completionChoice `json:"choices"`
	Usage   usage              `json:"usage"`
}

type completionChoice struct {
	Index        int               `json:"index"`
	Message      completionMessage `json:"message"`
	Logprobs     *struct{}         `json:"logprobs"`
	FinishReason string            `json:"finish_reason"`
}

type completionMessage struct {
	Role      string `json:"role"`
	Content   string `json:"content"`
	Reasoning string `json:"reasoning,omitempty"` // OpenRouter's name for the thinking
}

// exchange is one accepted chat request on its way to an answer.
type exchange struct {
	req    *chatRequest
	plan   plan
	answer answer
	id     string
	prompt int // prompt tokens
}

// handleChat answers POST /v1/chat/completions. Every fault that shows as an
// HTTP status is decided here, before a header is written.
func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	s.stats.requests.Add(1)
	if fail := s.refuse(r); fail != nil {
		fail.write(w)
		return
	}
	req, fail := decodeChat(w, r)
	if fail == nil && !slices.Contains(s.profile.Models, req.Model) {
		fail = errModelNotFound(req.Model)
	}
	if fail == nil && s.profile.ContextLength > 0 {
		if n := countPromptTokens(req.messages) + req.maxTokens; n > s.profile.ContextLength {
			fail = errContextLength(s.profile.ContextLength, n)
		}
	}
	if fail != nil {
		s.stats.count(outcomeRejected)
		fail.write(w)
		return
	}
	pl := s.decide(s.Mode())
	if pl.fail != nil {
		if pl.fail.status == http.StatusTooManyRequests {
			s.stats.count(outcomeRateLimited)
		} else {
			s.stats.count(outcomeFailed)
		}
		pl.fail.write(w)
		return
	}
	x := &exchange{
		req:    req,
		plan:   pl,
		answer: compose(s.profile.Seed, promptKey(req.Model, req.messages), req.maxTokens, s.profile.ReasoningTokens),
		id:     s.nextID(),
		prompt: countPromptTokens(req.messages),
	}
	var out outcome
	if req.Stream {
		out = s.stream(w, r, x)
	} else {
		out = s.complete(w, r, x)
	}
	s.stats.count(out)
	if s.opts.ended != nil {
		s.opts.ended(out)
	}
	if out != outcomeOK {
		// Drop the connection: returning normally would end the response
		// cleanly (a 200 with an empty body, or a stream's terminating chunk)
		// and a client could take a cut, a stall ended by Close, or a
		// cancelled answer for a complete one. Panicking with ErrAbortHandler
		// is net/http's quiet way to do that.
		panic(http.ErrAbortHandler)
	}
}

// complete answers with one JSON completion once the first token is due.
// Cut and stall happen before the headers, as a crashed or hung upstream
// does to a non-streaming call.
func (s *Server) complete(w http.ResponseWriter, r *http.Request, x *exchange) outcome {
	ctx := r.Context()
	if !wait(ctx, x.plan.ttft) {
		return outcomeCanceled
	}
	switch x.plan.brk {
	case breakCut:
		return outcomeCut
	case breakStall:
		<-ctx.Done()
		return outcomeStalled
	}
	writeJSON(w, http.StatusOK, completion{
		ID:      x.id,
		Object:  "chat.completion",
		Created: s.opts.Now().Unix(),
		Model:   x.req.Model,
		Choices: []completionChoice{{
			Message:      completionMessage{Role: "assistant", Content: x.answer.text(), Reasoning: strings.Join(x.answer.reasoning, "")},
			FinishReason: x.answer.finish,
		}},
		Usage: newUsage(x.prompt, x.answer.completionTokens()),
	})
	return outcomeOK
}

// nextID makes an id in the shape OpenAI uses, unique within the server and
// reproducible for a given seed and request order.
func (s *Server) nextID() string {
	n := s.seq.Add(1)
	return fmt.Sprintf("chatcmpl-%016x%08x", splitmix(uint64(s.profile.Seed)^n), uint32(n))
}

// splitmix scrambles a counter into an id-looking number.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
