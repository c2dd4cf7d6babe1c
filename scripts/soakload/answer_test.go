package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	okChat    = `{"id":"gen-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}`
	okMessage = `{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn"}`
	chunk     = `data: {"object":"chat.completion.chunk","choices":[{"delta":{"content":"hi"},"finish_reason":null}]}` + "\n\n"
	chatEnd   = `data: {"object":"chat.completion.chunk","choices":[{"delta":{},"finish_reason":"stop"}]}` + "\n\n" +
		`data: {"object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":1}}` + "\n\n" + "data: [DONE]\n\n"
	msgStart = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n"
	msgEnd = "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"}}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"

	// A call of get_weather, whole and streamed in both APIs.
	callChat = `{"id":"gen-2","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null,` +
		`"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]},"finish_reason":"tool_calls"}]}`
	callMessage = `{"id":"msg_2","type":"message","role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather",` +
		`"input":{"city":"Oslo"}}],"stop_reason":"tool_use"}`
	callChunks = `data: {"object":"chat.completion.chunk","choices":[{"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,` +
		`"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}` + "\n\n" +
		`data: {"object":"chat.completion.chunk","choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}` + "\n\n" +
		`data: {"object":"chat.completion.chunk","choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Oslo\"}"}}]},"finish_reason":null}]}` + "\n\n"
	callChatEnd = `data: {"object":"chat.completion.chunk","choices":[{"delta":{},"finish_reason":"tool_calls"}]}` + "\n\n" + "data: [DONE]\n\n"
	callEvents  = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{}}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\":\"}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"Oslo\\\"}\"}}\n\n"
	callEventsEnd = "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"}}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
)

// cutFrom and cutTo cut the arguments of the calls above mid-JSON, in
// every one of their shapes.
const cutFrom, cutTo = `\"Oslo\"}`, `\"Os`

// answer is a canned answer: a status, a content type and a body.
type answer struct {
	status int
	ctype  string
	body   string
}

func (a answer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", a.ctype)
	w.WriteHeader(a.status)
	w.Write([]byte(a.body))
}

// Each shape of answer is counted as what it is, through a real loopback
// server.
func TestSendClassifies(t *testing.T) {
	const js, sse = "application/json", "text/event-stream"
	tests := []struct {
		name      string
		anthropic bool
		stream    bool
		h         http.Handler
		want      outcome
		errType   string
	}{
		{"whole chat", false, false, answer{200, js, okChat}, answered, ""},
		{"whole chat without finish", false, false, answer{200, js, strings.Replace(okChat, `"stop"`, `""`, 1)}, truncated, ""},
		{"whole chat cut", false, false, answer{200, js, okChat[:40]}, truncated, ""},
		{"whole message", true, false, answer{200, js, okMessage}, answered, ""},
		{"whole message, no stop reason", true, false, answer{200, js, strings.Replace(okMessage, `"end_turn"`, `null`, 1)}, truncated, ""},
		{"chat error", false, false, answer{502, js, `{"error":{"code":502,"message":"all failed","type":"provider_unavailable","param":null}}`}, cleanError, "provider_unavailable"},
		{"chat error, code not the status", false, true, answer{502, js, `{"error":{"code":500,"message":"x","type":"server"}}`}, truncated, ""},
		{"chat error in plain text", false, false, answer{431, "text/plain", "431 Request Header Fields Too Large"}, truncated, ""},
		{"message error", true, true, answer{503, js, `{"type":"error","error":{"type":"api_error","message":"none left"}}`}, cleanError, "api_error"},
		{"message error in chat's shape", true, false, answer{400, js, `{"error":{"code":400,"message":"x","type":"invalid_request"}}`}, truncated, ""},
		{"chat stream", false, true, answer{200, sse, ": keep-alive\n\n" + chunk + chunk + chatEnd}, answered, ""},
		{"chat stream with an error chunk", false, true, answer{200, sse, chunk +
			`data: {"object":"chat.completion.chunk","choices":[{"delta":{},"finish_reason":"error"}],"error":{"code":502,"message":"cut","type":"provider_unavailable"}}` + "\n\n" +
			"data: [DONE]\n\n"}, cleanError, "provider_unavailable"},
		{"chat stream cut", false, true, answer{200, sse, chunk + chunk}, truncated, ""},
		{"chat stream [DONE] without a finish", false, true, answer{200, sse, chunk + "data: [DONE]\n\n"}, truncated, ""},
		{"chat stream with an empty finish", false, true, answer{200, sse, strings.Replace(chatEnd, `"stop"`, `""`, 1)}, truncated, ""},
		{"chat stream with a broken chunk", false, true, answer{200, sse, chunk + "data: {\"object\n\n" + chatEnd}, truncated, ""},
		{"chat stream as JSON", false, true, answer{200, js, okChat}, truncated, ""},
		{"message stream", true, true, answer{200, sse, msgStart + "event: ping\ndata: {\"type\":\"ping\"}\n\n" + msgEnd}, answered, ""},
		{"message stream with an error event", true, true, answer{200, sse, msgStart +
			"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"cut\"}}\n\n"}, cleanError, "api_error"},
		{"message stream cut", true, true, answer{200, sse, msgStart}, truncated, ""},
		{"message stream, event name and type differ", true, true, answer{200, sse, strings.Replace(msgStart, "event: message_start", "event: ping", 1) + msgEnd}, truncated, ""},
		{"whole tool call", false, false, answer{200, js, callChat}, answered, ""},
		{"whole tool call, content absent", false, false, answer{200, js, strings.Replace(callChat, `"content":null,`, "", 1)}, answered, ""},
		{"whole tool call, arguments cut", false, false, answer{200, js, strings.Replace(callChat, cutFrom, cutTo, 1)}, truncated, ""},
		{"whole tool call without an id", false, false, answer{200, js, strings.Replace(callChat, `"id":"call_1",`, "", 1)}, truncated, ""},
		{"whole chat finishing tool_calls without one", false, false, answer{200, js, strings.Replace(okChat, `"stop"`, `"tool_calls"`, 1)}, truncated, ""},
		{"whole chat, content null without a call", false, false, answer{200, js, strings.Replace(okChat, `"hi"`, `null`, 1)}, truncated, ""},
		{"whole tool_use", true, false, answer{200, js, callMessage}, answered, ""},
		{"whole tool_use, input cut to a string", true, false, answer{200, js, strings.Replace(callMessage, `{"city":"Oslo"}`, `"{\"city\":\"Os"`, 1)}, truncated, ""},
		{"whole tool_use without an input", true, false, answer{200, js, strings.Replace(callMessage, `,"input":{"city":"Oslo"}`, "", 1)}, truncated, ""},
		{"whole message stopping tool_use without one", true, false, answer{200, js, strings.Replace(okMessage, `"end_turn"`, `"tool_use"`, 1)}, truncated, ""},
		{"streamed tool call", false, true, answer{200, sse, callChunks + callChatEnd}, answered, ""},
		{"streamed tool call, arguments cut", false, true, answer{200, sse, strings.Replace(callChunks, cutFrom, cutTo, 1) + callChatEnd}, truncated, ""},
		{"streamed tool call, a piece of an unstarted call", false, true, answer{200, sse, callChunks +
			`data: {"object":"chat.completion.chunk","choices":[{"delta":{"tool_calls":[{"index":2,"id":"call_2","function":{"name":"get_weather","arguments":"{}"}}]},"finish_reason":null}]}` + "\n\n" +
			callChatEnd}, truncated, ""},
		{"streamed tool call starting without a name", false, true, answer{200, sse, strings.Replace(callChunks, `"name":"get_weather",`, "", 1) + callChatEnd}, truncated, ""},
		{"chat stream finishing tool_calls without one", false, true, answer{200, sse, chunk + strings.Replace(chatEnd, `"stop"`, `"tool_calls"`, 1)}, truncated, ""},
		{"streamed tool_use", true, true, answer{200, sse, callEvents + callEventsEnd}, answered, ""},
		{"streamed tool_use without input deltas", true, true, answer{200, sse, callEvents[:strings.Index(callEvents, "event: content_block_delta")] + callEventsEnd}, answered, ""},
		{"streamed tool_use, input cut", true, true, answer{200, sse, strings.Replace(callEvents, cutFrom, cutTo, 1) + callEventsEnd}, truncated, ""},
		{"streamed tool_use, input cut, at max_tokens", true, true, answer{200, sse, strings.Replace(callEvents, cutFrom, cutTo, 1) +
			strings.Replace(callEventsEnd, `"tool_use"`, `"max_tokens"`, 1)}, truncated, ""},
		{"whole tool call, arguments cut at the length limit", false, false, answer{200, js,
			strings.Replace(strings.Replace(callChat, cutFrom, cutTo, 1), `"tool_calls"}`, `"length"}`, 1)}, answered, ""},
		{"streamed tool_use, a delta for an unstarted block", true, true, answer{200, sse, callEvents +
			"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n" +
			callEventsEnd}, truncated, ""},
		{"message stream stopping tool_use without one", true, true, answer{200, sse, msgStart + strings.Replace(msgEnd, `max_tokens`, `tool_use`, 1)}, truncated, ""},
		{"message stream with a block not stopped", true, true, answer{200, sse, msgStart + msgEnd[strings.Index(msgEnd, "event: message_delta"):]}, truncated, ""},
		{"no answer at all", false, false, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
		}), lost, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.h)
			defer srv.Close()
			res := send(srv.Client(), srv.URL, &scenario{anthropic: tt.anthropic, stream: tt.stream, body: []byte(`{}`)}, time.Minute)
			if res.outcome != tt.want || res.errType != tt.errType {
				t.Errorf("got %s %q (%s), want %s %q", outcomeNames[res.outcome], res.errType, res.detail, outcomeNames[tt.want], tt.errType)
			}
		})
	}
}

// A stream the client cancels is canceled, not truncated, the pieces of a
// tool call counting as deltas as text does; one that never
// ends is hung at the deadline. Both servers wait for the client to go,
// which they see once they have read the request's body.
func TestSendCancelsAndTimesOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte(chunk + chunk))
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	res := send(srv.Client(), srv.URL, &scenario{stream: true, cancelAfter: 2, body: []byte(`{}`)}, time.Minute)
	if res.outcome != canceled {
		t.Errorf("canceled after 2 deltas: got %s (%s)", outcomeNames[res.outcome], res.detail)
	}
	res = send(srv.Client(), srv.URL, &scenario{stream: true, body: []byte(`{}`)}, 200*time.Millisecond)
	if res.outcome != hung || !strings.Contains(res.detail, "no end within 200ms") {
		t.Errorf("a stream without end: got %s (%s)", outcomeNames[res.outcome], res.detail)
	}
	calling := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		// Three pieces of a call in OpenAI's words, two in Anthropic's.
		body := callChunks
		if r.URL.Path == "/v1/messages" {
			body = callEvents
		}
		w.Write([]byte(body))
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	}))
	defer calling.Close()
	for _, sc := range []*scenario{{stream: true, cancelAfter: 3}, {anthropic: true, stream: true, cancelAfter: 2}} {
		sc.body = []byte(`{}`)
		res = send(calling.Client(), calling.URL, sc, time.Minute)
		if res.outcome != canceled {
			t.Errorf("anthropic %v, canceled after %d pieces of a tool call: got %s (%s)", sc.anthropic, sc.cancelAfter, outcomeNames[res.outcome], res.detail)
		}
	}
	silent := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer silent.Close()
	res = send(silent.Client(), silent.URL, &scenario{body: []byte(`{}`)}, 200*time.Millisecond)
	if res.outcome != hung || !strings.Contains(res.detail, "no status within 200ms") {
		t.Errorf("no answer: got %s (%s)", outcomeNames[res.outcome], res.detail)
	}
}

// A first turn that offers a tool is answered only with a call: every
// simulated model calls the tool it is offered, so text alone means the
// tools were lost on the way.
func TestOfferedToolMustBeCalled(t *testing.T) {
	srv := httptest.NewServer(answer{200, "application/json", okChat})
	defer srv.Close()
	res := send(srv.Client(), srv.URL, &scenario{tools: "tools", body: []byte(`{}`)}, time.Minute)
	if res.outcome != truncated || !strings.Contains(res.detail, "calls none") {
		t.Errorf("text for a tool offered: got %s (%s), want truncated", outcomeNames[res.outcome], res.detail)
	}
	res = send(srv.Client(), srv.URL, &scenario{tools: "tool result", body: []byte(`{}`)}, time.Minute)
	if res.outcome != answered {
		t.Errorf("text after a tool's result: got %s (%s), want answered", outcomeNames[res.outcome], res.detail)
	}
}
