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
	"strconv"
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
	calls   int    // the tool calls of an answer
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
	if res.outcome == answered && sc.tools == "tools" && res.calls == 0 {
		// Every simulated model calls the tool it is offered when the
		// user spoke last: an answer without a call lost the tools.
		res = result{outcome: truncated, detail: "offered a tool with the user's words last, the answer calls none"}
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
	Content   *string        `json:"content"`
	ToolCalls []chatToolCall `json:"tool_calls"`
}

// chatToolCall is a call in a message's tool_calls, or a piece of one in a
// chunk's delta: the first piece of a call has its index, id and name, the
// ones after it its index and more of its arguments.
type chatToolCall struct {
	Index    *int   `json:"index"`
	ID       string `json:"id"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// toolCall is a tool call as an answer gave it, in either API, its pieces
// joined if it was streamed.
type toolCall struct {
	id, name string
	args     string // JSON text
}

// checkCalls says what is wrong with the tool calls of an answer that
// finished with finish, or "" if nothing: a finish that says the model
// called a tool needs a call, and every call an id, a name and arguments
// that are a whole JSON object. OpenAI's finish at the token limit admits
// a cut, so there the arguments may be unfinished; Anthropic's whole
// tool_use blocks have an object for input whatever the stop_reason, and a
// stream's are checked as each stops.
func checkCalls(calls []toolCall, finish string) string {
	if (finish == "tool_calls" || finish == "tool_use") && len(calls) == 0 {
		return fmt.Sprintf("finish %q without a tool call", finish)
	}
	for i, c := range calls {
		switch {
		case c.id == "" || c.name == "":
			return fmt.Sprintf("tool call %d has no id or no name (id %q, name %q)", i, c.id, c.name)
		case finish != "length" && !isObject(c.args):
			return fmt.Sprintf("the arguments of tool call %d (%s) are not a JSON object: %.200q", i, c.name, c.args)
		}
	}
	return ""
}

// isObject says whether s is one whole JSON object.
func isObject(s string) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal([]byte(s), &m) == nil && m != nil
}

// messageBlock is a content block of a whole Anthropic message.
type messageBlock struct {
	Type  string          `json:"type"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// readWhole checks a whole answer: JSON with content (or, for a call, a
// whole tool call) and a valid finish.
func readWhole(resp *http.Response, anthropic bool) result {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return result{outcome: truncated, detail: fmt.Sprintf("body cut after %d bytes: %v", len(body), err)}
	}
	var a struct {
		Object     string         `json:"object"`
		Choices    []chatChoice   `json:"choices"`
		Type       string         `json:"type"`
		Content    []messageBlock `json:"content"`
		StopReason *string        `json:"stop_reason"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return result{outcome: truncated, detail: fmt.Sprintf("not JSON (%v): %.300q", err, body)}
	}
	var calls []toolCall
	var finish string
	if anthropic {
		if a.Type != "message" || len(a.Content) == 0 || a.StopReason == nil || !slices.Contains(anthropicFinish, *a.StopReason) {
			return result{outcome: truncated, detail: fmt.Sprintf("not a whole message with a valid stop_reason: %.300q", body)}
		}
		for _, b := range a.Content {
			if b.Type == "tool_use" {
				calls = append(calls, toolCall{id: b.ID, name: b.Name, args: string(b.Input)})
			}
		}
		finish = *a.StopReason
	} else {
		// A message that only calls tools has no content: null, or absent.
		if a.Object != "chat.completion" || len(a.Choices) != 1 || a.Choices[0].Message == nil ||
			a.Choices[0].Message.Content == nil && len(a.Choices[0].Message.ToolCalls) == 0 ||
			a.Choices[0].FinishReason == nil || !slices.Contains(openAIFinish, *a.Choices[0].FinishReason) {
			return result{outcome: truncated, detail: fmt.Sprintf("not a whole chat.completion with a valid finish_reason: %.300q", body)}
		}
		for _, c := range a.Choices[0].Message.ToolCalls {
			calls = append(calls, toolCall{id: c.ID, name: c.Function.Name, args: c.Function.Arguments})
		}
		finish = *a.Choices[0].FinishReason
	}
	if bad := checkCalls(calls, finish); bad != "" {
		return result{outcome: truncated, detail: fmt.Sprintf("%s: %.300q", bad, body)}
	}
	return result{outcome: answered, calls: len(calls)}
}

// streamState is what a stream said so far.
type streamState struct {
	events  int
	deltas  int    // content events: text, and pieces of tool calls
	finish  string // the finish or stop reason, once one came
	done    bool   // [DONE] or message_stop came
	errType string // an error event came, of this type
	bad     string // what was malformed, if anything

	// calls are the tool calls so far: OpenAI's joined by index, whole or
	// not; Anthropic's once their block stopped.
	calls []toolCall
	// blocks are an Anthropic stream's content blocks, by index.
	blocks map[int]*contentBlock
}

// contentBlock is a content block of an Anthropic stream.
type contentBlock struct {
	typ   string // "text", "thinking", "redacted_thinking" or "tool_use"
	id    string // a tool_use block's
	name  string
	input strings.Builder // the partial_json of its input_json_delta events
	open  bool            // started and not yet stopped
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
		return result{outcome: answered, calls: len(st.calls)}
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
		if ch.Delta != nil {
			if ch.Delta.Content != nil && *ch.Delta.Content != "" {
				st.deltas++
			}
			for _, piece := range ch.Delta.ToolCalls {
				if st.callPiece(piece); st.bad != "" {
					return
				}
			}
		}
		if ch.FinishReason != nil {
			if !slices.Contains(openAIFinish, *ch.FinishReason) {
				st.bad = fmt.Sprintf("finish_reason %q", *ch.FinishReason)
				return
			}
			st.finish = *ch.FinishReason
			if bad := checkCalls(st.calls, st.finish); bad != "" {
				st.bad = fmt.Sprintf("finish_reason %q: %s", st.finish, bad)
			}
		}
	}
}

// callPiece joins a piece of an OpenAI tool call to the calls so far: a
// piece with the next index starts a call, with its id and name; one with
// an index already started adds to its arguments.
func (st *streamState) callPiece(p chatToolCall) {
	switch {
	case p.Index == nil || *p.Index < 0 || *p.Index > len(st.calls):
		st.bad = fmt.Sprintf("a piece of a tool call at index %s, with %d calls started", indexString(p.Index), len(st.calls))
		return
	case *p.Index == len(st.calls):
		if p.ID == "" || p.Function.Name == "" {
			st.bad = fmt.Sprintf("tool call %d starts without an id or a name (id %q, name %q)", *p.Index, p.ID, p.Function.Name)
			return
		}
		st.calls = append(st.calls, toolCall{id: p.ID, name: p.Function.Name})
	}
	st.calls[*p.Index].args += p.Function.Arguments
	st.deltas++
}

// indexString is an index that may be missing, for a report.
func indexString(i *int) string {
	if i == nil {
		return "(none)"
	}
	return strconv.Itoa(*i)
}

// anthropic takes one event of a Messages stream.
func (st *streamState) anthropic(event, data string) {
	if st.done {
		st.bad = fmt.Sprintf("an event after message_stop: %.200q", data)
		return
	}
	var e struct {
		Type         string `json:"type"`
		Index        *int   `json:"index"`
		ContentBlock struct {
			Type string `json:"type"`
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"content_block"`
		Delta struct {
			Type        string  `json:"type"`
			Text        string  `json:"text"`
			PartialJSON string  `json:"partial_json"`
			StopReason  *string `json:"stop_reason"`
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
	case "content_block_start":
		st.startBlock(e.Index, e.ContentBlock.Type, e.ContentBlock.ID, e.ContentBlock.Name, data)
	case "content_block_delta":
		b := st.openBlock(e.Index, data)
		if b == nil {
			return
		}
		switch {
		case e.Delta.Type == "text_delta" && b.typ == "text":
			if e.Delta.Text != "" {
				st.deltas++
			}
		case e.Delta.Type == "input_json_delta" && b.typ == "tool_use":
			b.input.WriteString(e.Delta.PartialJSON)
			if e.Delta.PartialJSON != "" {
				st.deltas++
			}
		case (e.Delta.Type == "thinking_delta" || e.Delta.Type == "signature_delta") && b.typ == "thinking":
		default:
			st.bad = fmt.Sprintf("a %s in a %s block: %.200q", e.Delta.Type, b.typ, data)
		}
	case "content_block_stop":
		if b := st.openBlock(e.Index, data); b != nil {
			b.open = false
			if b.typ == "tool_use" {
				st.stopCall(b)
			}
		}
	case "message_delta":
		if e.Delta.StopReason == nil || !slices.Contains(anthropicFinish, *e.Delta.StopReason) {
			st.bad = fmt.Sprintf("message_delta without a valid stop_reason: %.200q", data)
			return
		}
		st.finish = *e.Delta.StopReason
		// Each call was checked whole as its block stopped.
		if st.finish == "tool_use" && len(st.calls) == 0 {
			st.bad = fmt.Sprintf("stop_reason tool_use without a tool_use block: %.200q", data)
		}
	case "message_stop":
		for i, b := range st.blocks {
			if b.open {
				st.bad = fmt.Sprintf("message_stop with content block %d (%s) not stopped", i, b.typ)
				return
			}
		}
		st.done = true
	}
}

// blockTypes are the content blocks an Anthropic stream may start.
var blockTypes = []string{"text", "thinking", "redacted_thinking", "tool_use"}

// startBlock opens content block index: a new index, of a known type, and
// for a tool_use block with its id and name.
func (st *streamState) startBlock(index *int, typ, id, name, data string) {
	switch {
	case index == nil:
		st.bad = fmt.Sprintf("content_block_start without an index: %.200q", data)
	case st.blocks[*index] != nil:
		st.bad = fmt.Sprintf("content block %d started twice: %.200q", *index, data)
	case !slices.Contains(blockTypes, typ):
		st.bad = fmt.Sprintf("content block %d of type %q: %.200q", *index, typ, data)
	case typ == "tool_use" && (id == "" || name == ""):
		st.bad = fmt.Sprintf("tool_use block %d without an id or a name: %.200q", *index, data)
	default:
		if st.blocks == nil {
			st.blocks = map[int]*contentBlock{}
		}
		st.blocks[*index] = &contentBlock{typ: typ, id: id, name: name, open: true}
	}
}

// openBlock is the open content block an event of data names, or nil,
// with st.bad saying why, if there is none.
func (st *streamState) openBlock(index *int, data string) *contentBlock {
	if index == nil || st.blocks[*index] == nil || !st.blocks[*index].open {
		st.bad = fmt.Sprintf("an event for content block %s, which is not open: %.200q", indexString(index), data)
		return nil
	}
	return st.blocks[*index]
}

// stopCall takes the tool call of a tool_use block as it stops: its input
// joined from its pieces must be a whole object, none at all being the
// empty one.
func (st *streamState) stopCall(b *contentBlock) {
	c := toolCall{id: b.id, name: b.name, args: b.input.String()}
	if c.args == "" {
		c.args = "{}"
	}
	if !isObject(c.args) {
		st.bad = fmt.Sprintf("tool_use block %s (%s) stopped with an input that is not a JSON object: %.200q", c.id, c.name, c.args)
		return
	}
	st.calls = append(st.calls, c)
}
