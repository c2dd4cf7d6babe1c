package sim

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
)

// minChunkGap is the least time between two content chunks: at high token
// rates several tokens share a chunk, as real providers batch them.
const minChunkGap = 10 * time.Millisecond

// chunk is one chat.completion.chunk event.
type chunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []chunkChoice `json:"choices"`
	Usage   *usage        `json:"usage,omitempty"`
	Error   *streamError  `json:"error,omitempty"` // OpenRouter's mid-stream error
}

// streamError is the error of OpenRouter's mid-stream error chunk.
type streamError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type chunkChoice struct {
	Index        int        `json:"index"`
	Delta        chunkDelta `json:"delta"`
	Logprobs     *logprobs  `json:"logprobs"` // the content's, when asked for
	FinishReason *string    `json:"finish_reason"`
}

type chunkDelta struct {
	Role      string           `json:"role,omitempty"`
	Content   *string          `json:"content,omitempty"`
	Reasoning string           `json:"reasoning,omitempty"`
	ToolCalls []openAIToolCall `json:"tool_calls,omitempty"`
}

// streamer words the events of one streamed answer in its dialect; the
// server decides when each goes out and which tokens it holds.
type streamer interface {
	// begin opens the answer, once its first token is due.
	begin(ev sse) error
	// tokens sends a run of tokens, either all reasoning or all answer
	// (text, or a piece of a call's arguments).
	tokens(ev sse, run []string, reasoning bool) error
	// end closes an answer that ran to its end.
	end(ev sse) error
	// fail ends the answer with an error event (Profile.StreamErrorRate).
	fail(ev sse) error
}

// sse writes Server-Sent Events and flushes each one, so the client sees
// every chunk when it is produced.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (e sse) send(text string) error {
	if _, err := fmt.Fprint(e.w, text); err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	if err := e.rc.Flush(); err != nil {
		return fmt.Errorf("flush event: %w", err)
	}
	return nil
}

// data sends v as an unnamed event, OpenAI's way.
func (e sse) data(v any) error {
	return e.send("data: " + string(mustJSON(v)) + "\n\n")
}

// event sends v as an event named name, Anthropic's way.
func (e sse) event(name string, v any) error {
	return e.send("event: " + name + "\ndata: " + string(mustJSON(v)) + "\n\n")
}

// stream answers with Server-Sent Events: headers at once, keep-alives until
// the first token, then the dialect's opening, the tokens a few at a time at
// the profile's speed (reasoning first), and the dialect's ending — unless
// the plan cuts or stalls the stream first.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, x *exchange, d dialect) outcome {
	ctx := r.Context()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ev := sse{w: w, rc: http.NewResponseController(w)}
	if ev.rc.Flush() != nil {
		return outcomeCanceled
	}
	if s.awaitFirstToken(ctx, ev, x.plan.ttft, d.keepAlive()) != nil {
		return outcomeCanceled
	}
	enc := d.streamer(x, s.opts.Now())
	if enc.begin(ev) != nil {
		return outcomeCanceled
	}

	// Reasoning first, then the answer: one paced run of tokens, each
	// chunk holding tokens of one kind.
	thinking := len(x.answer.reasoning)
	tokens := append(slices.Clip(x.answer.reasoning), x.answer.tokens...)
	if x.plan.brk != breakNone {
		// At least one token of the answer goes out and, unless the answer
		// is a single token, at least one is held back: a break comes
		// mid-answer.
		keep := thinking + 1 + int(x.plan.breakAt*float64(len(x.answer.tokens)-1))
		tokens = tokens[:min(keep, len(tokens))]
	}
	// A garbage event goes after at least one token of the answer and,
	// unless the answer is a single token, before its last.
	garbleAt, garbled := thinking+1+int(x.plan.garbleAt*float64(len(x.answer.tokens)-1)), false
	garble := func(sent int) error {
		if !x.plan.garbled || garbled || sent < garbleAt {
			return nil
		}
		garbled = true
		s.stats.garbled.Add(1)
		return ev.send(garbageEvent)
	}
	per, gap := s.pace()
	start := time.Now()
	for i, sent := 0, 0; sent < len(tokens); i++ {
		// Deadlines from the start, not from the last send, so write time
		// does not slow the stream below its rate.
		if i > 0 && !wait(ctx, time.Until(start.Add(time.Duration(i)*gap))) {
			return outcomeCanceled
		}
		if garble(sent) != nil {
			return outcomeCanceled
		}
		end := min(sent+per, len(tokens))
		reasoning := sent < thinking
		if reasoning {
			end = min(end, thinking)
		}
		if enc.tokens(ev, tokens[sent:end], reasoning) != nil {
			return outcomeCanceled
		}
		sent = end
	}

	if out, ok := x.plan.broken(ctx); ok {
		if out == outcomeErrored && enc.fail(ev) != nil {
			return outcomeCanceled
		}
		return out
	}
	if garble(len(tokens)) != nil || enc.end(ev) != nil {
		return outcomeCanceled
	}
	return outcomeOK
}

// garbageEvent is the garbage event of Profile.MalformedRate and
// ModeMalformed: a stray line of text where an event should be, as a
// proxy or a server's framework may let slip into a stream. It holds no
// JSON, in neither dialect, so it is no event of the answer nor a part of
// one: a client that skips it loses nothing.
const garbageEvent = "data: upstream hiccup: garbled line\n\n"

// awaitFirstToken waits out the time to first token, sending the dialect's
// keep-alive every KeepAlive so that idle-timeouts along the way do not fire.
func (s *Server) awaitFirstToken(ctx context.Context, ev sse, ttft time.Duration, keepAlive string) error {
	if ttft <= 0 {
		return ctx.Err()
	}
	due := time.NewTimer(ttft)
	defer due.Stop()
	tick := time.NewTicker(s.opts.KeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for first token: %w", errClientGone)
		case <-due.C:
			return nil
		case <-tick.C:
			if err := ev.send(keepAlive); err != nil {
				return fmt.Errorf("keep-alive: %w", err)
			}
		}
	}
}

// pace gives how many tokens go in a chunk and the time between chunks. An
// unpaced profile sends a token per chunk with no wait.
func (s *Server) pace() (per int, gap time.Duration) {
	tps := s.profile.TokensPerSecond
	if tps <= 0 {
		return 1, 0
	}
	per = max(1, int(math.Ceil(tps*minChunkGap.Seconds())))
	return per, time.Duration(float64(per) / tps * float64(time.Second))
}

// openAIStream words a stream as chat.completion.chunk events: the role,
// the tokens, the finish reason, the usage, and [DONE]. A call opens with
// a delta holding its index, id, type, name and empty arguments; its
// arguments follow in pieces.
type openAIStream struct {
	x       *exchange
	created int64
	sent    int  // the answer's tokens sent so far, for their logprobs' positions
	opened  bool // the call's opening delta went out
	index   int  // the call's index: always 0, as an answer makes one call
}

func (o *openAIStream) chunk(choices []chunkChoice) chunk {
	return chunk{ID: o.x.id, Object: "chat.completion.chunk", Created: o.created, Model: o.x.req.model, Choices: choices}
}

func (o *openAIStream) delta(d chunkDelta, finish *string) chunk {
	return o.chunk([]chunkChoice{{Delta: d, FinishReason: finish}})
}

func (o *openAIStream) begin(ev sse) error {
	d := chunkDelta{Role: "assistant"}
	switch c := o.x.answer.call; {
	case c == nil:
		empty := ""
		d.Content = &empty
	case len(o.x.answer.reasoning) == 0:
		// With no thinking first, the call opens with the role, as
		// OpenAI's does.
		d.ToolCalls, o.opened = []openAIToolCall{openAICall(c, &o.index, "")}, true
	}
	return ev.data(o.delta(d, nil))
}

func (o *openAIStream) tokens(ev sse, run []string, reasoning bool) error {
	text := strings.Join(run, "")
	if reasoning {
		return ev.data(o.delta(chunkDelta{Reasoning: text}, nil))
	}
	if c := o.x.answer.call; c != nil {
		if !o.opened {
			o.opened = true
			if err := ev.data(o.delta(chunkDelta{ToolCalls: []openAIToolCall{openAICall(c, &o.index, "")}}, nil)); err != nil {
				return err
			}
		}
		var piece openAIToolCall
		piece.Index, piece.Function.Arguments = &o.index, text
		return ev.data(o.delta(chunkDelta{ToolCalls: []openAIToolCall{piece}}, nil))
	}
	ch := o.delta(chunkDelta{Content: &text}, nil)
	ch.Choices[0].Logprobs = answerLogprobs(o.x, o.sent, run)
	o.sent += len(run)
	return ev.data(ch)
}

func (o *openAIStream) end(ev sse) error {
	finish := o.x.answer.finish
	if err := ev.data(o.delta(chunkDelta{}, &finish)); err != nil {
		return err
	}
	// Usage goes out whether or not stream_options.include_usage was asked
	// for: clients that did not ask ignore a chunk with no choices.
	final := o.chunk([]chunkChoice{})
	u := newUsage(o.x, o.x.answer.completionTokens())
	final.Usage = &u
	if err := ev.data(final); err != nil {
		return err
	}
	return ev.send("data: [DONE]\n\n")
}

// fail sends OpenRouter's mid-stream error chunk: the error beside a choice
// finished with "error"; nothing follows it.
func (o *openAIStream) fail(ev sse) error {
	finish := "error"
	c := o.delta(chunkDelta{}, &finish)
	c.Error = &streamError{Code: http.StatusBadGateway, Message: "Provider returned error mid-stream"}
	return ev.data(c)
}
