package sim

import (
	"context"
	"encoding/json"
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
}

type chunkChoice struct {
	Index        int        `json:"index"`
	Delta        chunkDelta `json:"delta"`
	Logprobs     *struct{}  `json:"logprobs"`
	FinishReason *string    `json:"finish_reason"`
}

type chunkDelta struct {
	Role      string  `json:"role,omitempty"`
	Content   *string `json:"content,omitempty"`
	Reasoning string  `json:"reasoning,omitempty"`
}

// sse writes Server-Sent Events and flushes each one, so the client sees
// every chunk when it is produced.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (e sse) send(line string) error {
	if _, err := fmt.Fprint(e.w, line); err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	if err := e.rc.Flush(); err != nil {
		return fmt.Errorf("flush event: %w", err)
	}
	return nil
}

func (e sse) data(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("sim: encode %T: %v", v, err)) // plain structs only: a bug in sim
	}
	return e.send("data: " + string(b) + "\n\n")
}

// stream answers with Server-Sent Events: headers at once, keep-alives until
// the first token, the role, the content a few tokens at a time at the
// profile's speed, the finish reason, the usage, and [DONE] — unless the
// plan cuts or stalls the stream first.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, x *exchange) outcome {
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
	if s.awaitFirstToken(ctx, ev, x.plan.ttft) != nil {
		return outcomeCanceled
	}

	created := s.opts.Now().Unix()
	mk := func(delta chunkDelta, finish *string) chunk {
		return chunk{ID: x.id, Object: "chat.completion.chunk", Created: created, Model: x.req.Model,
			Choices: []chunkChoice{{Delta: delta, FinishReason: finish}}}
	}
	empty := ""
	if ev.data(mk(chunkDelta{Role: "assistant", Content: &empty}, nil)) != nil {
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
	per, gap := s.pace()
	start := time.Now()
	for i, sent := 0, 0; sent < len(tokens); i++ {
		// Deadlines from the start, not from the last send, so write time
		// does not slow the stream below its rate.
		if i > 0 && !wait(ctx, time.Until(start.Add(time.Duration(i)*gap))) {
			return outcomeCanceled
		}
		end := min(sent+per, len(tokens))
		var d chunkDelta
		if sent < thinking {
			end = min(end, thinking)
			d.Reasoning = strings.Join(tokens[sent:end], "")
		} else {
			content := strings.Join(tokens[sent:end], "")
			d.Content = &content
		}
		if ev.data(mk(d, nil)) != nil {
			return outcomeCanceled
		}
		sent = end
	}

	switch x.plan.brk {
	case breakCut:
		return outcomeCut
	case breakStall:
		<-ctx.Done()
		return outcomeStalled
	}
	finish := x.answer.finish
	if ev.data(mk(chunkDelta{}, &finish)) != nil {
		return outcomeCanceled
	}
	// Usage goes out whether or not stream_options.include_usage was asked
	// for: clients that did not ask ignore a chunk with no choices.
	u := newUsage(x.prompt, x.answer.completionTokens())
	final := chunk{ID: x.id, Object: "chat.completion.chunk", Created: created, Model: x.req.Model,
		Choices: []chunkChoice{}, Usage: &u}
	if ev.data(final) != nil || ev.send("data: [DONE]\n\n") != nil {
		return outcomeCanceled
	}
	return outcomeOK
}

// awaitFirstToken waits out the time to first token, sending an SSE comment
// every KeepAlive so that idle-timeouts along the way do not fire.
func (s *Server) awaitFirstToken(ctx context.Context, ev sse, ttft time.Duration) error {
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
			if err := ev.send(": keep-alive\n\n"); err != nil {
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
