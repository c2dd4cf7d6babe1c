package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
)

// outcome is what became of one request, as the client sees it.
type outcome int

const (
	answered   outcome = iota // a whole answer with a valid finish reason, or a stream that ended with one
	cleanError                // a JSON error of the protocol's shape, or a stream's error event
	hung                      // no end within the deadline
	truncated                 // cut or malformed: no end, no error event, or not the protocol's JSON
	canceled                  // the client canceled it
	lost                      // no answer at all: the connection failed before a status came
	outcomes
)

var outcomeNames = [outcomes]string{"answered", "clean error", "hung", "truncated", "canceled", "lost"}

// result is one request's outcome, and what was seen, for a report.
type result struct {
	outcome outcome
	status  int
	errType string // the error's type, for clean errors
	detail  string // what was wrong, for hung, truncated and lost
}

var (
	errHung         = errors.New("the client's deadline passed")
	errCanceledByUs = errors.New("canceled by the client")
)

// The finish reasons of a whole answer: OpenAI's finish_reason and
// Anthropic's stop_reason.
var (
	openAIFinish    = []string{"stop", "length", "content_filter", "tool_calls"}
	anthropicFinish = []string{"end_turn", "max_tokens", "stop_sequence", "refusal", "tool_use", "pause_turn"}
)

// maxBody bounds what is read of one answer: a whole answer of at most 80
// tokens and its trace are a few KB.
const maxBody = 16 << 20

// send sends sc and reads its answer to the end.
func send(client *http.Client, base string, sc *scenario, deadline time.Duration) result {
	ctx, stop := context.WithTimeoutCause(context.Background(), deadline, errHung)
	defer stop()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	path := "/v1/chat/completions"
	if sc.anthropic {
		path = "/v1/messages"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(sc.body))
	if err != nil {
		return result{outcome: lost, detail: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	if sc.anthropic {
		req.Header.Set("anthropic-version", "2023-06-01")
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(context.Cause(ctx), errHung) {
			return result{outcome: hung, detail: fmt.Sprintf("no status within %v", deadline)}
		}
		return result{outcome: lost, detail: err.Error()}
	}
	defer resp.Body.Close()
	var res result
	switch {
	case resp.StatusCode != http.StatusOK:
		res = readError(resp, sc.anthropic)
	case !sc.stream:
		res = readWhole(resp, sc.anthropic)
	default:
		res = readStream(resp, sc, func() { cancel(errCanceledByUs) })
	}
	// A read that failed because the context ended is the context's doing.
	switch cause := context.Cause(ctx); {
	case res.outcome != truncated:
	case errors.Is(cause, errCanceledByUs):
		res = result{outcome: canceled, status: resp.StatusCode}
	case errors.Is(cause, errHung):
		res.outcome, res.detail = hung, fmt.Sprintf("no end within %v: %s", deadline, res.detail)
	}
	res.status = resp.StatusCode
	return res
}

// readError checks an error answer: JSON in the protocol's shape.
func readError(resp *http.Response, anthropic bool) result {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return result{outcome: truncated, detail: fmt.Sprintf("%s, body cut after %d bytes: %v", resp.Status, len(body), err)}
	}
	if typ, ok := errorShape(body, anthropic, resp.StatusCode); ok {
		return result{outcome: cleanError, errType: typ}
	}
	return result{outcome: truncated, detail: fmt.Sprintf("%s with a body not of the error's shape: %.300q", resp.Status, body)}
}

// errorShape reads an error object: OpenAI's {"error": {"code", "message",
// "type"}} with the status as code (the gateway's own; status 0 skips that
// check, for a stream's error chunk), or Anthropic's {"type": "error",
// "error": {"type", "message"}}. It returns the error's type.
func errorShape(b []byte, anthropic bool, status int) (string, bool) {
	var e struct {
		Type  string `json:"type"`
		Error *struct {
			Code    *int   `json:"code"`
			Message string `json:"message"`
			Type    string `json:"type"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error == nil || e.Error.Message == "" || e.Error.Type == "" {
		return "", false
	}
	if anthropic {
		return e.Error.Type, e.Type == "error"
	}
	return e.Error.Type, e.Error.Code != nil && (status == 0 || *e.Error.Code == status)
}

// chatChoice is a choice of a whole chat completion (with a message) or of
// a chunk (with a delta).
type chatChoice struct {
	Message      *chatContent `json:"message"`
	Delta        *chatContent `json:"delta"`
	FinishReason *string      `json:"finish_reason"`
}

type chatContent struct {
	Content *string `json:"content"`
}

// readWhole checks a whole answer: JSON with content and a valid finish.
func readWhole(resp *http.Response, anthropic bool) result {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return result{outcome: truncated, detail: fmt.Sprintf("body cut after %d bytes: %v", len(body), err)}
	}
	var a struct {
		Object     string            `json:"object"`
		Choices    []chatChoice      `json:"choices"`
		Type       string            `json:"type"`
		Content    []json.RawMessage `json:"content"`
		StopReason *string           `json:"stop_reason"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return result{outcome: truncated, detail: fmt.Sprintf("not JSON (%v): %.300q", err, body)}
	}
	if anthropic {
		if a.Type != "message" || len(a.Content) == 0 || a.StopReason == nil || !slices.Contains(anthropicFinish, *a.StopReason) {
			return result{outcome: truncated, detail: fmt.Sprintf("not a whole message with a valid stop_reason: %.300q", body)}
		}
		return result{outcome: answered}
	}
	if a.Object != "chat.completion" || len(a.Choices) != 1 || a.Choices[0].Message == nil || a.Choices[0].Message.Content == nil ||
		a.Choices[0].FinishReason == nil || !slices.Contains(openAIFinish, *a.Choices[0].FinishReason) {
		return result{outcome: truncated, detail: fmt.Sprintf("not a whole chat.completion with a valid finish_reason: %.300q", body)}
	}
	return result{outcome: answered}
}

// streamState is what a stream said so far.
type streamState struct {
	events  int
	deltas  int    // content events
	finish  string // the finish or stop reason, once one came
	done    bool   // [DONE] or message_stop came
	errType string // an error event came, of this type
	bad     string // what was malformed, if anything
}

// readStream reads server-sent events to the end and checks them; cancel
// is called after sc.cancelAfter content deltas.
func readStream(resp *http.Response, sc *scenario, cancel func()) result {
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != "text/event-stream" {
		return result{outcome: truncated, detail: fmt.Sprintf("a stream answered with Content-Type %q", resp.Header.Get("Content-Type"))}
	}
	st := &streamState{}
	handle := st.openAI
	if sc.anthropic {
		handle = st.anthropic
	}
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	var event string
	var data []string
	var readErr error
	for st.bad == "" {
		line, err := r.ReadString('\n')
		if err != nil {
			readErr = err
			break
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if len(data) > 0 {
				st.events++
				handle(event, strings.Join(data, "\n"))
			}
			event, data = "", nil
			if sc.cancelAfter > 0 && st.deltas >= sc.cancelAfter && !st.done && st.errType == "" {
				cancel()
				// The read below fails with the context's error.
			}
		case strings.HasPrefix(line, ":"): // a keep-alive comment
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		default:
			st.bad = fmt.Sprintf("not a server-sent event line: %.200q", line)
		}
	}
	switch {
	case st.bad != "":
		return result{outcome: truncated, detail: fmt.Sprintf("after %d events: %s", st.events, st.bad)}
	case st.errType != "":
		return result{outcome: cleanError, errType: st.errType}
	case st.done && st.finish != "":
		if !errors.Is(readErr, io.EOF) || len(data) > 0 {
			return result{outcome: truncated, detail: fmt.Sprintf("the stream did not end cleanly after its last event: %v", readErr)}
		}
		return result{outcome: answered}
	case st.done:
		return result{outcome: truncated, detail: fmt.Sprintf("the stream ended after %d events and %d deltas without a valid finish reason", st.events, st.deltas)}
	}
	return result{outcome: truncated, detail: fmt.Sprintf("the stream stopped after %d events and %d deltas without its end or an error event (%v)", st.events, st.deltas, readErr)}
}

// openAI takes one chat.completion.chunk, or [DONE].
func (st *streamState) openAI(_ string, data string) {
	if st.done {
		st.bad = fmt.Sprintf("an event after [DONE]: %.200q", data)
		return
	}
	if data == "[DONE]" {
		st.done = true
		return
	}
	var c struct {
		Object  string          `json:"object"`
		Error   json.RawMessage `json:"error"`
		Choices []chatChoice    `json:"choices"`
	}
	if err := json.Unmarshal([]byte(data), &c); err != nil || c.Object != "chat.completion.chunk" {
		st.bad = fmt.Sprintf("not a chat.completion.chunk: %.200q", data)
		return
	}
	if len(c.Error) > 0 {
		typ, ok := errorShape([]byte(`{"error":`+string(c.Error)+`}`), false, 0)
		if !ok {
			st.bad = fmt.Sprintf("an error chunk not of the error's shape: %.200q", data)
		}
		st.errType = typ
		return
	}
	for _, ch := range c.Choices {
		if ch.Delta != nil && ch.Delta.Content != nil && *ch.Delta.Content != "" {
			st.deltas++
		}
		if ch.FinishReason != nil {
			if !slices.Contains(openAIFinish, *ch.FinishReason) {
				st.bad = fmt.Sprintf("finish_reason %q", *ch.FinishReason)
			}
			st.finish = *ch.FinishReason
		}
	}
}

// anthropic takes one event of a Messages stream.
func (st *streamState) anthropic(event, data string) {
	if st.done {
		st.bad = fmt.Sprintf("an event after message_stop: %.200q", data)
		return
	}
	var e struct {
		Type  string `json:"type"`
		Delta struct {
			Type       string  `json:"type"`
			Text       string  `json:"text"`
			StopReason *string `json:"stop_reason"`
		} `json:"delta"`
	}
	if err := json.Unmarshal([]byte(data), &e); err != nil || e.Type == "" || e.Type != event {
		st.bad = fmt.Sprintf("event %q with data %.200q", event, data)
		return
	}
	switch e.Type {
	case "error":
		typ, ok := errorShape([]byte(data), true, 0)
		if !ok {
			st.bad = fmt.Sprintf("an error event not of the error's shape: %.200q", data)
		}
		st.errType = typ
	case "content_block_delta":
		if e.Delta.Text != "" {
			st.deltas++
		}
	case "message_delta":
		if e.Delta.StopReason == nil || !slices.Contains(anthropicFinish, *e.Delta.StopReason) {
			st.bad = fmt.Sprintf("message_delta without a valid stop_reason: %.200q", data)
			return
		}
		st.finish = *e.Delta.StopReason
	case "message_stop":
		st.done = true
	}
}
